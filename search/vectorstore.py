"""The ``VectorStore`` protocol: what search, evaluation and the UI need from a store.

It is ingest's :class:`ingest.write.IndexWriter` (the write side, shaped by the kill-safe write
order) plus the read side below. :class:`search.store.Store` implements it once over an engine;
each engine (:mod:`search.engines.edge`, :mod:`search.engines.qdrant` in local mode or against a
server) implements the smaller :class:`search.engines.base.Engine`. The records it speaks
(:mod:`search.records`) import no Qdrant.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from encoders.bm25 import SparseVector
from ingest.write import IndexWriter
from search.hybrid import HybridQuery
from search.records import DocRecord, EngineName, Hit, IndexInfo, StoredPoint, Where


@runtime_checkable
class VectorStore(IndexWriter, Protocol):
    """A store of indexes: write side from ingest, read side for search."""

    @property
    def engine_name(self) -> EngineName:
        """``"edge"``, ``"qdrant-local"`` or ``"server"``."""
        ...

    def list_indexes(self) -> list[IndexInfo]: ...

    def index_info(self, name: str) -> IndexInfo:
        """Encoders, chunking, document and chunk counts; IndexNotFoundError if absent."""
        ...

    def encoder_info(self, index: str, encoder: str) -> dict[str, Any]:
        """The recorded encoder settings (cached: no engine call on a warm store)."""
        ...

    def documents(self, index: str) -> list[DocRecord]: ...

    def document_chunks(self, index: str, doc_id: str) -> list[Hit]: ...

    def chunk_count(self, index: str, encoder: str, where: Where | None = None) -> int: ...

    def points(
        self, index: str, encoder: str | None = None, *, with_vectors: bool = False
    ) -> Iterator[StoredPoint]:
        """Every point of an encoder's collection (None: the meta collection)."""
        ...

    def query(
        self,
        index: str,
        encoder: str,
        vector: np.ndarray | SparseVector | HybridQuery,
        k: int,
        *,
        group_by_doc: bool = True,
        where: Where | None = None,
        exact: bool = False,
    ) -> list[Hit]:
        """Nearest chunks (or best chunk of the ``k`` best documents), best first."""
        ...

    def drop_index(self, name: str) -> None: ...

    def optimize(self, index: str | None = None, *, force: bool = False) -> Sequence[Any]:
        """Build vector indexes where they pay (every collection when ``force``)."""
        ...

    def close(self) -> None: ...
