"""Hashing and parsing text records (a BEIR corpus): the records' side of the parse stage."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

from ingest.parse import parse_text
from ingest.report import Record
from ingest.workers import ParseOutcome


def record_hash(rec: Record) -> str:
    """Content hash of a record: its title, text and metadata."""
    blob = json.dumps([rec.title, rec.text, rec.metadata], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def record_size(rec: Record) -> int:
    """What a record's manifest entry records as its size: UTF-8 bytes of its text."""
    return len(rec.text.encode("utf-8", "replace"))


def record_outcome(rec: Record, old_sha: str | None) -> ParseOutcome:
    """Hash ``rec`` and, unless the hash is ``old_sha``, parse its text. Never raises."""
    t = time.perf_counter()
    sha = record_hash(rec)
    if sha == old_sha:
        return ParseOutcome("same", None, sha, time.perf_counter() - t)
    try:
        doc = parse_text(rec.text, rec.doc_id, title=rec.title)
    except Exception as exc:
        return ParseOutcome("failed", f"{type(exc).__name__}: {exc}", sha, time.perf_counter() - t)
    return ParseOutcome("parsed", doc, sha, time.perf_counter() - t)


def record_outcomes(
    items: Sequence[tuple[Any, str, str, str | None]],
) -> Iterator[tuple[Any, ParseOutcome]]:
    """``ParsePool.outcomes`` for records: ``(job, _, _, old_sha)`` -> ``(job, outcome)`` in order."""
    for job, _path, _rel, old_sha in items:
        yield job, record_outcome(job.record, old_sha)
