"""The plan stage of ingest: what a run has to do, decided from what it found and the manifest.

Pure: no file is read, nothing is loaded or written. Given the documents a run found (files
with their size and mtime, or text records) and the index's manifest, :func:`plan_run` says
which documents are gone, which are unchanged (not read at all), which lack some of the run's
encoders, and which must be hashed and perhaps parsed; :func:`after_hash` says what becomes of
a document once its content hash is known. The orchestrator (``ingest.pipeline``) carries the
plan out; a distributed runner can carry out the same plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from ingest.chunk import (
    CHUNKINGS,
    DEFAULT_CHUNK_TOKENS,
    DEFAULT_OVERLAP,
    takes_chunk_tokens,
    takes_overlap,
)
from ingest.errors import IngestError
from ingest.report import Record
from ingest.schema import is_complete, missing_encoders, with_stat


@dataclass(frozen=True)
class Job:
    """A document the run found, with its manifest entry.

    Attributes:
        doc_id: Relative posix path for files, the record id otherwise.
        old: Its manifest entry, or None if the index has none.
        path: The file (None for records).
        size: File size in bytes (0 for records).
        mtime_ns: File modification time (0 for records).
        record: The record (None for files).
    """

    doc_id: str
    old: Mapping[str, Any] | None = None
    path: Path | None = None
    size: int = 0
    mtime_ns: int = 0
    record: Record | None = None

    @property
    def stored_sha(self) -> str | None:
        """Content hash of the stored version, if it is complete (else None: always parse)."""
        return str((self.old or {}).get("sha256")) if is_complete(self.old) else None


@dataclass(frozen=True)
class Plan:
    """What a run does before it reads any file.

    Attributes:
        remove: Documents to delete: in the manifest but not found (unless kept), and pending
            leftovers of interrupted runs that were not found.
        removed: How many of ``remove`` were complete documents (the report's ``removed``).
        unchanged: Complete files with the same size and mtime: not read at all.
        extend: Those of ``unchanged`` that lack some of the run's encoders (their stored
            chunks are embedded with the missing ones, without parsing).
        to_hash: New, changed, pending files and all records: hashed, then parsed if the hash
            differs from the stored one (:func:`after_hash`).
        duplicates: Records whose doc_id came earlier in the input (the first one is kept).
        preload: Something surely needs embedding (a new, pending or resized file): load the
            encoders while the parsers work.
    """

    remove: tuple[str, ...]
    removed: int
    unchanged: tuple[Job, ...]
    extend: tuple[Job, ...]
    to_hash: tuple[Job, ...]
    duplicates: tuple[str, ...] = ()
    preload: bool = False


def plan_run(
    found: Iterable[Job],
    manifest: Mapping[str, Mapping[str, Any]],
    encoders: Sequence[str],
    *,
    keep_removed: bool = False,
    also_present: Iterable[str] = (),
) -> Plan:
    """Decide what a run does.

    Args:
        found: The documents found (``Job.old`` is filled in here from ``manifest``).
        manifest: The index's manifest (doc_id -> entry; empty for a new index).
        encoders: The run's encoder names (given and recorded).
        keep_removed: Keep complete documents that were not found.
        also_present: Documents found but not ingested (skipped files): kept as they are.
    """
    present = set(also_present)
    duplicates: list[str] = []
    jobs: list[Job] = []
    for job in found:
        if job.doc_id in present and job.record is not None:
            duplicates.append(job.doc_id)
            continue
        present.add(job.doc_id)
        jobs.append(replace(job, old=manifest.get(job.doc_id)))
    remove = [
        d for d, m in manifest.items() if d not in present and (not keep_removed or not is_complete(m))
    ]  # fmt: skip
    unchanged: list[Job] = []
    to_hash: list[Job] = []
    for job in jobs:
        old = job.old or {}
        same_stat = old.get("size") == job.size and old.get("mtime_ns") == job.mtime_ns
        if is_complete(old) and job.record is None and same_stat:
            unchanged.append(job)
        else:
            to_hash.append(job)
    preload = any(
        j.record is None and (not is_complete(j.old) or (j.old or {}).get("size") != j.size)
        for j in to_hash
    )
    return Plan(
        remove=tuple(remove),
        removed=sum(1 for d in remove if is_complete(manifest[d])),
        unchanged=tuple(unchanged),
        extend=tuple(j for j in unchanged if missing_encoders(j.old, encoders)),
        to_hash=tuple(to_hash),
        duplicates=tuple(duplicates),
        preload=preload,
    )


#: What becomes of a hashed document: ``embed`` (parsed: chunk and embed it), ``extend`` (same
#: content, some encoders missing), ``touch`` (same content, stat moved: refresh the manifest),
#: ``unchanged`` (nothing to do) or ``failed``.
Outcome = Literal["embed", "extend", "touch", "unchanged", "failed"]


def after_hash(job: Job, status: str, encoders: Sequence[str]) -> tuple[Outcome, Job]:
    """What to do with a document once it was hashed (and parsed unless its hash was stored).

    Args:
        job: The document.
        status: The parse outcome's status: ``parsed``, ``same`` or ``failed``.
        encoders: The run's encoder names.

    Returns:
        The decision, and the job with its manifest entry's size and mtime refreshed when the
        content is the same.
    """
    if status == "failed":
        return "failed", job
    if status != "same":
        return "embed", job
    old = job.old or {}
    moved = old.get("mtime_ns") != job.mtime_ns or old.get("size") != job.size
    job = replace(job, old=with_stat(old, job.size, job.mtime_ns))
    if missing_encoders(job.old, encoders):
        return "extend", job
    return ("touch" if moved else "unchanged"), job


def chunking_settings(
    index: str, record: Mapping[str, Any] | None, chunking: str | None, chunk_tokens: int | None,
    overlap: int | None, default_mode: str, has_encoders: bool,
) -> dict[str, Any]:  # fmt: skip
    """The run's chunking settings: the flags, else the index's, else the defaults.

    ``default_mode`` is the caller's default for a new index (``late`` when all of a new
    index's encoders are contextual ones, see ``ingest.late.default_chunking``).

    ``tokenizer`` is the index's (None for a new index: the run's first encoder, picked once
    the encoders are named).

    Raises:
        IngestError: An unknown mode, a bad overlap, or a new index without encoders.
    """
    have = dict(record["chunking"]) if record else {}
    mode = chunking or have.get("mode") or default_mode
    windows = takes_overlap(mode)
    size = chunk_tokens or have.get("chunk_tokens") or DEFAULT_CHUNK_TOKENS
    over = overlap if overlap is not None else have.get("overlap")
    over = DEFAULT_OVERLAP if over is None else over
    if mode not in CHUNKINGS:
        raise IngestError(f"unknown chunking {mode!r}; use one of {', '.join(CHUNKINGS)}")
    if windows and not (0 <= over < size):
        raise IngestError(f"need 0 <= overlap < chunk tokens (got {over} and {size})")
    if not has_encoders:
        raise IngestError(
            f"index {index!r} does not exist yet: name at least one encoder (-e minilm)"
        )
    return {
        "mode": mode,
        "chunk_tokens": size if takes_chunk_tokens(mode) else None,
        "overlap": over if windows else None,
        "tokenizer": have.get("tokenizer"),
    }


def describe_chunking(ch: Mapping[str, Any]) -> str:
    """Chunking settings in words, for mismatch messages."""
    if ch.get("mode") == "whole":
        return "whole (one unit per document)"
    return (
        f"{ch.get('mode')} ({ch.get('chunk_tokens')} tokens, overlap {ch.get('overlap')}, "
        f"tokenizer {ch.get('tokenizer')})"
    )
