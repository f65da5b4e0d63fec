"""The store's write path: documents' chunks under each encoder, then their manifests, in the
kill-safe order described in :mod:`search.store` (split from it; :meth:`Store.write_documents`
calls :func:`write_documents`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from encoders.bm25 import is_sparse
from search.bm25_store import bm25_rows, bm25_updates
from search.errors import EncoderNotInIndexError, IndexMismatchError
from search.layout import meta_name, point_id

if TYPE_CHECKING:
    from search.store import Store


def write_documents(store: Store, index: str, docs: Sequence[Any]) -> None:
    """Write documents' chunks under each encoder, then their manifests (see module doc).

    Args:
        docs: ``ingest.write.DocumentWrite``-like objects (``doc_id``, ``manifest``,
            ``chunks`` payloads in chunk order, ``vectors`` by encoder, ``replace``).

    Raises:
        IndexMismatchError: A vector size differs from the collection's.
    """
    if not docs:
        return
    record = store._cached_record(index, refresh=True)
    encoders = sorted({e for d in docs for e in d.vectors})
    for enc in encoders:
        if enc not in record["encoders"]:
            raise EncoderNotInIndexError(f"encoder {enc!r} is not registered in index {index!r}")
        dim = int(record["encoders"][enc]["dim"])
        for d in docs:
            if enc in d.vectors and is_sparse(record["encoders"][enc]):
                if len(d.vectors[enc]) != len(d.chunks):
                    raise IndexMismatchError(
                        f"{len(d.vectors[enc])} BM25 vectors for {len(d.chunks)} chunks of {d.doc_id!r}"
                    )
            elif enc in d.vectors and np.shape(d.vectors[enc]) != (len(d.chunks), dim):
                raise IndexMismatchError(
                    f"vectors of shape {np.shape(d.vectors[enc])} for {d.doc_id!r} do not fit index "
                    f"{index!r}: encoder {enc!r} stores {dim}-dimensional vectors"
                )
    replaced = [d for d in docs if d.replace]
    meta = meta_name(index)
    # Every chunk point of a document is written after a manifest entry for it, so the
    # entries bound which chunk numbers can exist: the old complete count, or the
    # ``max_chunks`` a pending (interrupted) write recorded. Stale chunks are then deleted
    # by exact ids; a brand-new document needs no delete (a filter delete would scan the
    # whole collection in local mode, once per batch).
    # A document written in pieces (``final`` False but for the last) keeps one pending
    # entry whose bound covers every piece so far; only its final piece deletes stale
    # chunks and completes it.
    bound: dict[str, int] = {}
    with store._lock:
        if replaced:
            before = store._manifest_entries(index, [d.doc_id for d in replaced])
            marks = []
            for d in replaced:
                entry = before.get(d.doc_id) or {}
                # The new manifest's n_chunks: a piece's pending entry covers the whole
                # document at once, so later pieces need not rewrite it.
                bound[d.doc_id] = max(
                    int(entry.get("n_chunks") or 0),
                    int(entry.get("max_chunks") or 0),
                    _chunk_end(d.chunks),
                    int(d.manifest.get("n_chunks") or 0),
                )
                if entry.get("state") != "pending" or bound[d.doc_id] > int(
                    entry.get("max_chunks") or 0
                ):
                    marks.append(
                        {"kind": "doc", "doc_id": d.doc_id, "state": "pending", "max_chunks": bound[d.doc_id]}
                    )  # fmt: skip
            if marks:
                store._upsert_meta(index, marks)
                store.engine.sync([meta])
        stale_ids = [
            point_id(index, d.doc_id, i)
            for d in replaced
            if d.final
            for i in range(_chunk_end(d.chunks), bound[d.doc_id])
        ]
        written = []
        for enc in encoders:
            ids: list[str] = []
            blocks: list[np.ndarray] = []
            payloads: list[dict[str, Any]] = []
            dense = not is_sparse(record["encoders"][enc])  # bm25: sparse vectors only
            for d in docs:
                if enc not in d.vectors:
                    continue
                ids += [point_id(index, d.doc_id, int(c["chunk"])) for c in d.chunks]
                if dense:
                    blocks.append(np.asarray(d.vectors[enc], dtype=np.float32))
                payloads += [dict(c) for c in d.chunks]
            if ids or stale_ids:
                collection = record["collections"][enc]
                vectors = np.concatenate(blocks) if blocks else None
                sparse = bm25_rows(record, enc, docs)
                store.engine.write(collection, ids, vectors, payloads, stale_ids, sparse=sparse)
                written.append(collection)
        written += _bm25_beside(store, index, record, docs)
        store.engine.sync(written)
        done = [{"kind": "doc", "doc_id": d.doc_id, **d.manifest} for d in docs if d.final]
        if done:
            store._upsert_meta(index, done)


def _bm25_beside(
    store: Store, index: str, record: dict[str, Any], docs: Sequence[Any]
) -> list[str]:
    """BM25 vectors of unchanged documents that only gained bm25 (``-e bm25`` on an
    existing index), set beside the dense vectors already stored; the collections written."""
    out = []
    for enc, ids, sparse in bm25_updates(record, docs, index):
        store.engine.set_sparse(record["collections"][enc], ids, sparse)
        out.append(record["collections"][enc])
    return out


def _chunk_end(chunks: Sequence[Mapping[str, Any]]) -> int:
    """One past the last chunk number of a document's (or a piece's) chunks in order."""
    return int(chunks[-1]["chunk"]) + 1 if chunks else 0
