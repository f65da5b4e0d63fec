"""Parsing in worker processes, so that it overlaps with embedding in the main process.

Workers are started with ``spawn`` (the main process may hold torch's threads, which ``fork``
does not survive safely), with ``__main__`` hidden while they start: a worker then never
re-runs the caller's script (no ``if __name__ == "__main__"`` guard needed, no second store
opened), and only importable ``ingest`` code runs in it. A worker that dies (a parser crashing the interpreter) costs only the
file that killed it: the files in flight at that moment are retried one at a time in a fresh
pool, and the one that kills it again is reported as failed. Workers exit when the parent dies,
even by SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import types
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ingest.errors import ParseError
from ingest.load import content_hash
from ingest.parse import parse_file

T = TypeVar("T")
#: (key, path, relpath, sha256 of the stored version or None)
ParseItem = tuple[T, str, str, "str | None"]
# Below this many files, parsing in-process beats starting workers.
INLINE_BELOW = 3


class Parser(Protocol):
    """The parse stage: :class:`ParsePool` (processes on this machine) or a cluster's tasks."""

    def outcomes(self, items: Sequence[ParseItem[Any]]) -> Iterator[tuple[Any, ParseOutcome]]:
        """``(key, path, relpath, stored sha or None)`` -> ``(key, outcome)``, in any order."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ParseOutcome:
    """What became of one file.

    Attributes:
        status: ``parsed`` (value is a ParsedDocument), ``same`` (content hash equals the
            stored one; not parsed) or ``failed`` (value is the reason).
        value: See ``status``.
        sha256: Content hash ("" if unreadable).
        seconds: Time spent hashing and parsing.
    """

    status: str
    value: Any
    sha256: str
    seconds: float


def parse_job(path: str, relpath: str, old_sha: str | None) -> ParseOutcome:
    """Hash a file and, unless its hash is ``old_sha``, parse it. Never raises for a bad file."""
    t = time.perf_counter()
    try:
        sha = content_hash(Path(path))
    except PermissionError:
        return ParseOutcome("failed", "permission denied", "", time.perf_counter() - t)
    except OSError as exc:
        return ParseOutcome(
            "failed", f"cannot read: {exc.strerror or exc}", "", time.perf_counter() - t
        )
    if old_sha is not None and sha == old_sha:
        return ParseOutcome("same", None, sha, time.perf_counter() - t)
    try:
        doc = parse_file(Path(path), relpath)
    except ParseError as exc:
        return ParseOutcome("failed", str(exc), sha, time.perf_counter() - t)
    except Exception as exc:  # a parser bug must not stop the run
        return ParseOutcome(
            "failed", f"{type(exc).__name__}: {exc}"[:200], sha, time.perf_counter() - t
        )
    return ParseOutcome("parsed", doc, sha, time.perf_counter() - t)


def default_workers() -> int:
    """CPUs minus one for the embedding process, at least 1, at most 4."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def _init_worker(parent: int) -> None:
    """Exit when the parent is gone; leave Ctrl-C and SIGTERM to the parent; warm up.

    Ctrl-C reaches the whole process group, and so does a SIGTERM from a service manager: the
    parent unwinds and shuts the pool down (a worker killed first would only make the pool
    look broken, its files parser crashes, while the parent is stopping).
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(0)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()
    # Parsing never uses torch, yet spaCy's thinc imports it whenever it is installed: ~0.9 s of
    # every worker's start-up. A None entry in sys.modules makes that import fail at once, as if
    # torch were absent (thinc handles the ImportError).
    sys.modules.setdefault("torch", None)  # type: ignore[arg-type]
    try:
        from ingest.offline import ensure_offline

        ensure_offline()
    except Exception:
        pass


@contextlib.contextmanager
def _bare_main() -> Iterator[None]:
    """Hide ``__main__`` from spawn, so the child does not import the caller's script."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


class ParsePool:
    """A process pool for :func:`parse_job`, created on first use.

    Args:
        workers: Processes (None: :func:`default_workers`; 0: parse in the calling process).
        window: Files in flight per worker (bounds memory held by parsed documents).
    """

    def __init__(self, workers: int | None = None, window: int = 16) -> None:
        self.size = default_workers() if workers is None else max(0, workers)
        self.window = max(1, window)
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                self.size, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(),)
            )
        return self._pool

    def _submit(self, item: ParseItem[T]) -> Future[ParseOutcome]:
        with _bare_main():
            return self._executor().submit(parse_job, *item[1:])

    def _reset(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def outcomes(self, items: Sequence[ParseItem[T]]) -> Iterator[tuple[T, ParseOutcome]]:
        """Start parsing ``items`` now; yield ``(key, outcome)`` as they finish (completion order).

        The first files are submitted before this returns, so the caller can do other work
        (load its models) while the workers start up and parse. The workers are let go as soon
        as the last outcome is yielded (their exit overlaps the caller's remaining work).
        """
        if self.size == 0 or len(items) < INLINE_BELOW:
            return ((key, parse_job(path, rel, sha)) for key, path, rel, sha in items)
        todo = list(reversed(items))
        running: dict[Future[ParseOutcome], ParseItem[T]] = {}
        self._fill(todo, running)
        return self._drain(todo, running)

    def _fill(
        self, todo: list[ParseItem[T]], running: dict[Future[ParseOutcome], ParseItem[T]]
    ) -> None:
        while todo and len(running) < self.size * self.window:
            item = todo.pop()
            running[self._submit(item)] = item

    def _drain(
        self, todo: list[ParseItem[T]], running: dict[Future[ParseOutcome], ParseItem[T]]
    ) -> Iterator[tuple[T, ParseOutcome]]:
        suspects: list[ParseItem[T]] = []
        while todo or running or suspects:
            if suspects and not running:  # after a crash: one at a time finds the culprit
                item = suspects.pop()
                try:
                    yield item[0], self._submit(item).result()
                except BrokenProcessPool:
                    self._reset()
                    yield (
                        item[0],
                        ParseOutcome("failed", "the parser crashed on this file", "", 0.0),
                    )
                continue
            if not suspects:
                self._fill(todo, running)
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                item = running.pop(fut)
                try:
                    outcome = fut.result()
                except BrokenProcessPool:
                    broken = True
                    suspects.append(item)
                    continue
                yield item[0], outcome
            if broken:
                suspects.extend(running.values())
                running.clear()
                self._reset()
        self._reset()  # nothing left to parse: the workers exit while the caller embeds

    def close(self) -> None:
        """Stop the workers."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
