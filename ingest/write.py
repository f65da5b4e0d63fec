"""Stage 5 of ingest: the ``IndexWriter`` protocol that ingest writes through.

Ingest never imports ``search``; ``search.store.Store`` satisfies this protocol structurally and
the caller passes it in. The protocol is shaped by what a killed run needs to be repairable:
:meth:`IndexWriter.write_documents` writes a *pending* manifest for replaced documents, then their
chunks under every encoder, then the *complete* manifests, so a document is only ever taken as
done when all of its chunks are written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ingest.schema import CHUNK_KEYS

# The payload schema lives in ingest.schema; re-exported for callers of this module.
__all__ = ["CHUNK_KEYS", "DocumentWrite", "IndexWriter"]


@dataclass(frozen=True)
class DocumentWrite:
    """One document's chunks and vectors, written as a unit.

    Attributes:
        doc_id: Relative posix path for files, the record id otherwise.
        manifest: The manifest entry written last (``ingest.schema.manifest_entry``; its
            ``encoders`` are those whose vectors of this document are complete).
        chunks: Chunk payloads in chunk order (``ingest.schema.chunk_payloads``).
        vectors: Encoder name -> (len(chunks), dim) float32 array.
        replace: New or changed content: mark pending first and delete chunks past the end.
            False when only adding an encoder's vectors to an unchanged document.
        final: False for a piece of a document written in several (a very large one): its
            ``chunks`` are a run of the document's (numbered by their ``chunk`` field), the
            manifest stays pending, and only the final piece deletes stale chunks and writes
            the complete manifest.
    """

    doc_id: str
    manifest: dict[str, Any]
    chunks: tuple[dict[str, Any], ...]
    vectors: Mapping[str, np.ndarray] = field(default_factory=dict)
    replace: bool = True
    final: bool = True


@runtime_checkable
class IndexWriter(Protocol):
    """Where ingest writes: ``search.store.Store`` (embedded or server Qdrant)."""

    location: str

    def index_record(self, index: str) -> dict[str, Any] | None:
        """``{"encoders": {name: EncoderInfo dict}, "chunking": {...}, ...}`` or None."""
        ...

    def ensure_index(self, index: str, chunking: Mapping[str, Any]) -> dict[str, Any]:
        """Create the index if absent; return its record."""
        ...

    def add_encoder(self, index: str, info: Mapping[str, Any]) -> None:
        """Register an encoder; refuses one recorded with other settings."""
        ...

    def manifest(self, index: str) -> dict[str, dict[str, Any]]:
        """doc_id -> manifest entry (``state``: ``complete`` or ``pending``)."""
        ...

    def stored_chunks(
        self, index: str, encoder: str, doc_ids: Sequence[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Stored chunk payloads by document, in chunk order."""
        ...

    def write_documents(self, index: str, docs: Sequence[DocumentWrite]) -> None:
        """Pending manifests, then chunks per encoder, then complete manifests (final pieces)."""
        ...

    def delete_documents(self, index: str, doc_ids: Sequence[str]) -> None:
        """Chunks from every encoder collection, then the manifests."""
        ...
