"""What an ingest run takes (records) and gives back (the report), and its progress display."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: ``on_progress(stage, done, total)``; ``total`` is 0 while unknown. Stages: ``discover``,
#: ``remove``, ``parse``, ``embed``, ``write``.
ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Record:
    """A document given as text (e.g. a BEIR corpus entry) rather than a file.

    Attributes:
        doc_id: Stable id; becomes the chunks' ``doc_id`` and ``source``.
        text: The document's text.
        title: Optional title, kept as chunk metadata.
        metadata: Extra JSON-able fields, stored under the chunk payload's ``metadata`` key.
    """

    doc_id: str
    text: str
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class IngestReport:
    """Counts, failures and timings of one run.

    ``seen`` counts every file or record looked at; ``chunks`` the chunks embedded and written
    in this run; ``total_chunks`` and ``total_documents`` what the index holds afterwards.
    """

    index: str
    location: str
    encoders: list[str] = field(default_factory=list)
    chunking: dict[str, Any] = field(default_factory=dict)
    seen: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    chunks: int = 0
    encoder_added: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    total_documents: int = 0
    total_chunks: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    replicas: dict[str, dict[str, float]] = field(default_factory=dict)

    def fail(self, source: str, reason: str) -> None:
        """Record a file or record that was skipped, with the reason."""
        self.failed += 1
        self.failures.append({"source": source, "reason": reason})

    def add_time(self, stage: str, seconds: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + seconds

    def add_embedded(self, worker: str, chunks: int, seconds: float) -> None:
        """Count one embed call's chunks and encoder time, overall and for the replica."""
        self.add_time("embed", seconds)
        r = self.replicas.setdefault(worker, {"calls": 0, "chunks": 0, "seconds": 0.0})
        r["calls"] += 1
        r["chunks"] += chunks
        r["seconds"] += seconds

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return self.failed == 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-able summary (the CLI's ``--json``)."""
        return {
            "index": self.index,
            "location": self.location,
            "encoders": list(self.encoders),
            "chunking": dict(self.chunking),
            "seen": self.seen,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": self.failed,
            "chunks": self.chunks,
            "encoder_added": dict(self.encoder_added),
            "failures": [dict(f) for f in self.failures],
            "total_documents": self.total_documents,
            "total_chunks": self.total_chunks,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            # Per encoder replica ("local" in this process): chunks embedded (each chunk once
            # per encoder) and chunks per second of encoder time.
            "replicas": {
                w: {
                    "calls": int(r["calls"]),
                    "chunks": int(r["chunks"]),
                    "seconds": round(r["seconds"], 3),
                    "chunks_per_s": round(r["chunks"] / r["seconds"], 2) if r["seconds"] else 0.0,
                }
                for w, r in sorted(self.replicas.items())
            },
        }


class Progress:
    """Fans progress out to the caller's callback and to tqdm bars (only on a terminal)."""

    def __init__(self, callback: ProgressCallback | bool | None, bars: bool | None) -> None:
        self.callback = callback if callable(callback) else None
        self.bars_on = sys.stderr.isatty() if bars is None else bars
        self._bars: dict[str, Any] = {}
        self._done: dict[str, int] = {}
        self._total: dict[str, int] = {}

    def total(self, stage: str, total: int) -> None:
        """Set (or raise) the expected total of a stage."""
        self._total[stage] = total
        self._done.setdefault(stage, 0)
        bar = self._bar(stage)
        if bar is not None:
            bar.total = total
            bar.refresh()
        self._emit(stage)

    def grow(self, stage: str, n: int) -> None:
        """Raise a stage's expected total by ``n`` (work found as the run goes)."""
        self.total(stage, self._total.get(stage, 0) + n)

    def advance(self, stage: str, n: int = 1) -> None:
        self._done[stage] = self._done.get(stage, 0) + n
        bar = self._bar(stage)
        if bar is not None:
            bar.update(n)
        self._emit(stage)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()

    def _emit(self, stage: str) -> None:
        if self.callback is not None:
            self.callback(stage, self._done.get(stage, 0), self._total.get(stage, 0))

    def _bar(self, stage: str) -> Any:
        if not self.bars_on or stage not in ("parse", "file", "embed", "write"):
            return None
        if stage not in self._bars:
            from tqdm import tqdm

            # "file": characters of very large documents cut into pieces so far (ingest.pipeline)
            unit = {"parse": "file", "file": "char", "embed": "chunk", "write": "doc"}.get(
                stage, "item"
            )
            self._bars[stage] = tqdm(
                total=self._total.get(stage) or None, desc=f"{stage:>7}", unit=unit,
                unit_scale=stage == "file",
                position=len(self._bars), leave=True, file=sys.stderr, dynamic_ncols=True,
            )  # fmt: skip
        return self._bars[stage]
