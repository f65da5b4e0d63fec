"""Errors from ingestion. A bad *file* is never an error (it is skipped and reported)."""

from __future__ import annotations

from typing import Any


class IngestError(Exception):
    """A problem with the run as a whole (bad folder, bad options); the CLI exits 2."""


class ParseError(Exception):
    """One file could not be parsed; carries the reason shown in the run summary."""


class ChunkingMismatchError(IngestError):
    """The index was built with other chunking settings."""


class EncoderLoadError(IngestError):
    """An encoder the index needs cannot be loaded."""


class IngestFailedError(IngestError):
    """``strict=True`` and some files failed; ``report`` holds the full report."""

    def __init__(self, report: Any) -> None:
        super().__init__(f"{report.failed} file(s) failed: " + "; ".join(
            f"{f['source']}: {f['reason']}" for f in report.failures[:5]))  # fmt: skip
        self.report = report


class EncoderMismatchError(IngestError):
    """An encoder differs from the one the index recorded under its name."""
