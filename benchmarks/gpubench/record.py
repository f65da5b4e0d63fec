"""The results file, written after every measurement, and the run's time budget.

The file is complete at every moment: a run killed part way (out of time, out of memory,
SIGTERM) leaves everything measured so far, with ``status`` saying how it ended.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import time
from pathlib import Path
from typing import Any


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class Results:
    """A JSON document saved (atomically) whenever something is added."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.data: dict[str, Any] = {
            **header, "status": "running", "started": now(), "finished": None,
            "phases": [], "encode": [], "train": [], "skipped": [], "errors": [],
        }  # fmt: skip
        self.save()

    def add(self, section: str, row: dict[str, Any]) -> None:
        self.data[section].append(row)
        self.save()

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str) + "\n")
        os.replace(tmp, self.path)

    def finish(self, status: str) -> None:
        self.data["status"] = status
        self.data["finished"] = now()
        self.save()


class Clock:
    """Seconds since the start, against a budget the optional phases must fit in."""

    def __init__(self, budget_s: float) -> None:
        self.start = time.perf_counter()
        self.budget_s = budget_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.budget_s - self.elapsed()


def memory(device: Any) -> dict[str, float]:
    """Peak memory since the last :func:`reset_peak`, in GiB.

    CUDA: ``torch.cuda.max_memory_allocated`` (tensors; the caching allocator reserves more).
    CPU: the process's peak resident set since it started (the kernel keeps no resettable
    peak), and its resident set now.
    """
    import torch

    if device.type == "cuda":
        return {
            # One model is resident at a time: this is its weights plus the run's activations.
            "peak_allocated_gib": torch.cuda.max_memory_allocated(device) / 2**30,
            "peak_reserved_gib": torch.cuda.max_memory_reserved(device) / 2**30,
        }
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open("/proc/self/statm") as fh:
        rss_pages = int(fh.read().split()[1])
    return {
        "process_peak_rss_gib": peak_kib / 2**20,
        "process_rss_gib": rss_pages * os.sysconf("SC_PAGE_SIZE") / 2**30,
    }


def reset_peak(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def log(message: str) -> None:
    """One progress line, flushed at once (the device run's output is read as it goes)."""
    print(message, flush=True)
