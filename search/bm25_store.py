"""The store's BM25 part: where sparse vectors are written, and how BM25 and hybrid queries run.

Layout (docs/architecture.md): ``-e bm25`` is an encoder of the index with its own collection
``ds__<index>__bm25`` holding only the named sparse vector ``bm25`` (IDF modifier), so that
``-e bm25`` ranks over the index like any encoder. Every dense encoder collection declares the
same sparse vector; the ones listed in the index record's ``with_bm25`` hold each chunk's BM25
vector beside its dense one, which is what a hybrid query fuses in one engine call.

Writes keep the store's order and guarantees: a document's BM25 vectors travel in the same
``write`` call as its dense vectors (one WAL entry / transaction per collection), and
``-e bm25`` added to an existing index sets them on the stored points with ``set_sparse``
before the manifest says ``bm25`` is complete, so a killed run is redone by the next.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from encoders.bm25 import SparseVector, is_sparse
from search.engines.base import Engine
from search.errors import IndexMismatchError, QueryError
from search.hybrid import HYBRID_PREFETCH, HybridQuery
from search.layout import point_id
from search.records import Conditions


def _bm25_name(record: dict[str, Any]) -> str | None:
    return next((e for e, i in record.get("encoders", {}).items() if is_sparse(i)), None)


def bm25_rows(record: dict[str, Any], enc: str, docs: Sequence[Any]) -> list[SparseVector] | None:
    """The BM25 vectors to write with ``enc``'s points of ``docs`` (in the store's order), or
    None: ``enc`` is a dense collection without BM25, or some document brings no BM25 vectors."""
    bm25 = _bm25_name(record)
    if bm25 is None or (enc != bm25 and enc not in record.get("with_bm25", [])):
        return None
    rows: list[SparseVector] = []
    for d in docs:
        if enc not in d.vectors:
            continue
        if bm25 not in d.vectors:
            return None
        rows += list(d.vectors[bm25])
    return rows


def bm25_updates(
    record: dict[str, Any], docs: Sequence[Any], index: str
) -> Iterator[tuple[str, list[str], list[SparseVector]]]:
    """``(dense encoder, ids, BM25 vectors)`` for unchanged documents that bring BM25 vectors
    without that encoder's (its stored points get them with ``Engine.set_sparse``)."""
    bm25 = _bm25_name(record)
    if bm25 is None:
        return
    for enc in record.get("with_bm25", []):
        ids: list[str] = []
        rows: list[SparseVector] = []
        for d in docs:
            if bm25 in d.vectors and enc not in d.vectors and not d.replace:
                ids += [point_id(index, d.doc_id, int(c["chunk"])) for c in d.chunks]
                rows += list(d.vectors[bm25])
        if ids:
            yield enc, ids, rows


def lexical_fetch(
    engine: Engine, lock: threading.RLock, record: dict[str, Any], index: str,
    info: dict[str, Any], vector: Any, conditions: Conditions, exact: bool,
) -> Callable[[int], list[Any]]:  # fmt: skip
    """``fetch(limit)`` of a BM25 query (``vector`` a ``SparseVector``) or a hybrid one (a
    ``HybridQuery``: one fused engine query on the dense encoder's collection).

    Raises:
        QueryError: The wrong kind of query vector, or a dense collection without BM25.
        IndexMismatchError: A dense query vector of another size.
    """
    if info["kind"] == "sparse":
        if not isinstance(vector, SparseVector):
            raise QueryError(
                f"a {info['name']} query is a SparseVector, not {type(vector).__name__}"
            )
        collection = record["collections"][info["name"]]

        def sparse(limit: int) -> list[Any]:
            with lock:
                return engine.search_sparse(collection, vector, limit, conditions)

        return sparse
    if not isinstance(vector, HybridQuery):
        raise QueryError(f"a {info['name']} query is a HybridQuery, not {type(vector).__name__}")
    dense = str(info["dense"]["name"])
    if dense not in record.get("with_bm25", []):
        raise QueryError(
            f"index {index!r} holds {dense} vectors without BM25 beside them (written before "
            f"BM25 was added, on an engine that cannot add it afterwards): ingest into a new "
            f"index with -e {dense} -e bm25 for {info['name']}"
        )
    collection = record["collections"][dense]
    vec = np.asarray(vector.dense, np.float32).reshape(-1)
    if vec.shape[0] != int(info["dim"]):
        raise IndexMismatchError(
            f"query vector has {vec.shape[0]} dimensions but {dense} stores {info['dim']}"
        )

    def fused(limit: int) -> list[Any]:
        with lock:
            return engine.search_hybrid(
                collection, vec, vector.sparse, limit, conditions,
                prefetch=max(limit, HYBRID_PREFETCH), exact=exact,
            )  # fmt: skip

    return fused
