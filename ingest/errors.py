"""Errors from ingestion. A bad *file* is never an error (it is skipped and reported)."""

from __future__ import annotations


class IngestError(Exception):
    """A problem with the run as a whole (bad folder, bad options); the CLI exits 2."""


class ParseError(Exception):
    """One file could not be parsed; carries the reason shown in the run summary."""
