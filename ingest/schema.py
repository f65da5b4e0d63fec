"""The payload schema: what every chunk point and every manifest entry holds (one place).

A chunk point's payload (the same in every encoder collection of an index)::

    doc_id, source, filetype, title, page, section, chunk, n_chunks, text, start_char
    [, metadata]   # records' extra fields (BEIR metadata), only when they have some

A document's manifest entry (``IndexWriter.write_documents`` writes it last)::

    state="complete", source, filetype, title, n_chunks, size, mtime_ns, sha256, encoders

``search.layout.Hit`` reads the chunk keys back; the store adds ``kind`` and ``doc_id`` to a
manifest entry and writes ``state="pending"`` with ``max_chunks`` before a document's chunks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ingest.chunk import Chunk

#: Payload keys every chunk point carries (docs/architecture.md), besides ``start_char``.
CHUNK_KEYS = (
    "doc_id",
    "source",
    "filetype",
    "title",
    "page",
    "section",
    "chunk",
    "n_chunks",
    "text",
)

#: Keys of a complete manifest entry.
MANIFEST_KEYS = (
    "state",
    "source",
    "filetype",
    "title",
    "n_chunks",
    "size",
    "mtime_ns",
    "sha256",
    "encoders",
)


def chunk_payloads(
    doc_id: str,
    filetype: str,
    doc_title: str | None,
    chunks: Sequence[Chunk],
    metadata: Mapping[str, Any] | None = None,
    *,
    first: int = 0,
    n_chunks: int | None = None,
) -> tuple[dict[str, Any], ...]:
    """The payloads of a document's chunks, in chunk order.

    Args:
        doc_id: Relative posix path for files, the record id otherwise (also its ``source``).
        filetype: Canonical type (``pdf``, ``md``, ...).
        doc_title: The document title, used where a chunk has none of its own.
        chunks: The chunks, numbered ``first``, ``first + 1``, ... by their position here.
        metadata: A record's extra JSON-able fields (kept under ``metadata`` when non-empty).
        first: Chunk number of ``chunks[0]`` (a slice of a document written in pieces).
        n_chunks: The document's chunk count (default ``len(chunks)``: the whole document).
    """
    total = len(chunks) if n_chunks is None else n_chunks
    out = []
    for i, c in enumerate(chunks, start=first):
        p: dict[str, Any] = {
            "doc_id": doc_id, "source": doc_id, "filetype": filetype, "title": c.title or doc_title,
            "page": c.page, "section": c.section, "chunk": i, "n_chunks": total, "text": c.text,
            "start_char": c.start_char,
        }  # fmt: skip
        if metadata:
            p["metadata"] = dict(metadata)
        out.append(p)
    return tuple(out)


def manifest_entry(
    doc_id: str, *, filetype: str, title: str | None, n_chunks: int, size: int, mtime_ns: int,
    sha256: str, encoders: Sequence[str],
) -> dict[str, Any]:  # fmt: skip
    """A complete manifest entry: the document is written under every one of ``encoders``."""
    return {
        "state": "complete", "source": doc_id, "filetype": filetype, "title": title,
        "n_chunks": n_chunks, "size": size, "mtime_ns": mtime_ns, "sha256": sha256,
        "encoders": list(encoders),
    }  # fmt: skip


def with_encoders(entry: Mapping[str, Any], added: Sequence[str]) -> dict[str, Any]:
    """``entry`` once ``added`` encoders' vectors of its stored chunks are written too."""
    return {**entry, "encoders": [*entry.get("encoders", ()), *added]}


def with_stat(entry: Mapping[str, Any], size: int, mtime_ns: int) -> dict[str, Any]:
    """``entry`` for a file whose content is unchanged but whose size/mtime moved."""
    return {**entry, "mtime_ns": mtime_ns, "size": size}


def is_complete(entry: Mapping[str, Any] | None) -> bool:
    """True for a manifest entry written after all of its document's chunks."""
    return bool(entry) and entry.get("state") == "complete"  # type: ignore[union-attr]


def missing_encoders(entry: Mapping[str, Any] | None, encoders: Sequence[str]) -> list[str]:
    """The run's encoders that a document's entry does not list, in the run's order."""
    have = set((entry or {}).get("encoders", ()))
    return [e for e in encoders if e not in have]
