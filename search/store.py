"""The store: indexes of chunk vectors over one engine (Qdrant Edge, qdrant-client, a server).

Layout (see docs/architecture.md): one collection per (index, encoder), ``ds__<index>__<enc>``,
one unnamed cosine vector, the same point ids and payloads in each; ``ds__<index>__meta`` holds
the index record (encoders, chunking) and one manifest point per document. The same in every
engine (an Edge shard per collection, or a qdrant-client collection).

Write order, which is what makes a killed ingest repairable (no engine has transactions across
collections):

1. a *pending* manifest for every new or changed document,
2. per encoder collection, one write call: the documents' chunk points (stable ids, so
   idempotent) plus a delete of their stale chunks (``chunk >= n_chunks``),
3. the *complete* manifests, last.

A run that dies anywhere leaves documents whose manifest is pending, stale or missing; the next
run redoes exactly those. Each write call reaches disk whole (Edge: one WAL entry; local mode:
one SQLite transaction), and between the steps the engine is synced, so a power cut cannot keep
a later step and lose an earlier one.

Queries read the index record from a per-store cache: a warm query is one engine call. The cache
is updated by this store's own writes (so an ingest from the web UI is seen at once) and re-read
when a query finds it stale (an encoder another process added to a server, a dropped index).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from encoders.bm25 import SparseVector, is_sparse
from search.bm25_store import lexical_fetch
from search.connect import connect
from search.engines.base import HNSW_MIN_FLOATS, ClusterLayout, Engine
from search.errors import (
    EncoderNotInIndexError,
    IndexMismatchError,
    IndexNotFoundError,
    QueryError,
    StoreError,
)
from search.grouping import best_per_document
from search.hnsw import OptimizeReport, build_where_due
from search.hybrid import HybridQuery, hybrid_info, hybrid_parts, is_hybrid
from search.layout import (
    PREFIX,
    check_index_name,
    collection_name,
    default_store_dir,
    doc_point_id,
    meta_name,
    point_id,
    record_id,
)
from search.records import (
    AnyOf,
    DocRecord,
    EngineName,
    Hit,
    IndexInfo,
    StoredPoint,
    Where,
    to_hit,
    where_conditions,
)
from search.store_write import write_documents

__all__ = [
    "HNSW_MIN_FLOATS",
    "DocRecord",
    "Hit",
    "IndexInfo",
    "OptimizeReport",
    "Store",
    "Where",
    "check_index_name",
    "collection_name",
    "default_store_dir",
    "meta_name",
    "open_store",
    "point_id",
]


class Store:
    """Indexes of chunk vectors over one engine. Use :func:`open_store` to make one.

    Satisfies :class:`search.vectorstore.VectorStore` (and so ingest's ``IndexWriter``).

    Args:
        engine: An open :class:`search.engines.base.Engine`.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.location = engine.location
        self._lock = threading.RLock()
        self._records: dict[str, dict[str, Any]] = {}

    @property
    def engine_name(self) -> EngineName:
        """``"edge"``, ``"qdrant-local"`` or ``"server"``."""
        return self.engine.name

    # -- the index record (cached) ------------------------------------------------------------

    def index_record(self, index: str) -> dict[str, Any] | None:
        """The index record (``encoders``, ``collections``, ``chunking``), or None if absent.

        Always read from the engine (ingest decides from it); queries use the cached copy.
        """
        with self._lock:
            got = self.engine.retrieve(meta_name(index), [record_id(index)])
            record = dict(got[0].payload) if got else None
            if record is None:
                self._records.pop(index, None)
            else:
                self._records[index] = record
            return record

    def _cached_record(self, index: str, *, refresh: bool = False) -> dict[str, Any]:
        check_index_name(index)
        record = None if refresh else self._records.get(index)
        if record is None:
            record = self.index_record(index)
        if record is None:
            names = [i.name for i in self.list_indexes()]
            known = ", ".join(names) if names else "none yet"
            raise IndexNotFoundError(
                f"no index {index!r} in the {self.location} (indexes: {known}); "
                f"create it with: diffsearch ingest DIR --index {index} -e ENCODER"
            )
        return record

    def encoder_info(self, index: str, encoder: str) -> dict[str, Any]:
        """The recorded ``EncoderInfo`` of ``encoder`` in ``index`` (cached; no engine call
        when warm).

        Raises:
            IndexNotFoundError, EncoderNotInIndexError.
        """
        if is_hybrid(encoder):  # synthesised from its two parts (search.hybrid)
            dense, sparse = hybrid_parts(encoder)
            return hybrid_info(self.encoder_info(index, dense), self.encoder_info(index, sparse))
        record = self._cached_record(index)
        if encoder not in record.get("encoders", {}):
            record = self._cached_record(index, refresh=True)  # another process may have added it
        info = record.get("encoders", {}).get(encoder)
        if info is None:
            have = ", ".join(sorted(record.get("encoders", {}))) or "none"
            raise EncoderNotInIndexError(
                f"index {index!r} has no vectors from encoder {encoder!r} (it has: {have}); add them "
                f"with: diffsearch ingest DIR --index {index} -e {encoder}"
            )
        return dict(info)

    # -- reading ------------------------------------------------------------------------------

    def list_indexes(self) -> list[IndexInfo]:
        """Every index in the store, by name."""
        with self._lock:
            names = self.engine.collections()
        out = []
        for name in names:
            if name.startswith(PREFIX) and name.endswith("__meta"):
                index = name[len(PREFIX) : -len("__meta")]
                with contextlib.suppress(IndexNotFoundError, QueryError):
                    out.append(self.index_info(index))
        return out

    def index_info(self, name: str) -> IndexInfo:
        """Encoders, chunking, sizes and engine of index ``name``; IndexNotFoundError if absent.

        Counts come from the manifest (one scroll of it): for listings, not for every query.
        """
        record = self._cached_record(name, refresh=True)
        complete = [m for m in self.manifest(name).values() if m.get("state") == "complete"]
        return IndexInfo(
            name=name, encoders=dict(record.get("encoders", {})), chunking=dict(record.get("chunking", {})),
            documents=len(complete), chunks=sum(int(m.get("n_chunks", 0)) for m in complete),
            location=self.location, engine=self.engine_name,
        )  # fmt: skip

    def manifest(self, index: str) -> dict[str, dict[str, Any]]:
        """doc_id -> manifest payload (``state`` is ``complete`` or ``pending``)."""
        with self._lock:
            points = list(self.engine.scroll(meta_name(index), (AnyOf("kind", ("doc",)),)))
        return {p.payload["doc_id"]: p.payload for p in points}

    def documents(self, index: str) -> list[DocRecord]:
        """The complete documents of ``index``, by doc_id."""
        self._cached_record(index)
        out = []
        for m in self.manifest(index).values():
            if m.get("state") != "complete":
                continue
            out.append(DocRecord(
                doc_id=m["doc_id"], source=m.get("source", m["doc_id"]), filetype=m.get("filetype", ""),
                title=m.get("title"), n_chunks=int(m.get("n_chunks", 0)), size=int(m.get("size", 0)),
                mtime_ns=int(m.get("mtime_ns", 0)), sha256=m.get("sha256", ""),
            ))  # fmt: skip
        return sorted(out, key=lambda d: d.doc_id)

    def document_chunks(self, index: str, doc_id: str) -> list[Hit]:
        """A document's chunks ordered by chunk number (score 0.0); [] if it has none."""
        record = self._cached_record(index)
        for collection in record.get("collections", {}).values():
            with self._lock:
                points = list(self.engine.scroll(collection, (AnyOf("doc_id", (doc_id,)),)))
            if points:
                return sorted((to_hit(p, 0.0) for p in points), key=lambda h: h.chunk)
        return []

    def stored_chunks(
        self, index: str, encoder: str, doc_ids: Sequence[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Chunk payloads of ``doc_ids`` as stored under ``encoder``, each list by chunk number."""
        record = self._cached_record(index)
        out: dict[str, list[dict[str, Any]]] = {d: [] for d in doc_ids}
        with self._lock:
            points = list(
                self.engine.scroll(
                    record["collections"][encoder], (AnyOf("doc_id", tuple(doc_ids)),)
                )
            )
        for p in points:
            out.setdefault(p.payload["doc_id"], []).append(p.payload)
        for chunks in out.values():
            chunks.sort(key=lambda c: c["chunk"])
        return out

    def chunk_count(self, index: str, encoder: str, where: Where | None = None) -> int:
        """Chunk points stored under ``encoder`` (matching ``where``)."""
        record = self._cached_record(index)
        self.encoder_info(index, encoder)
        with self._lock:
            return self.engine.count(record["collections"][encoder], where_conditions(where))

    def points(
        self, index: str, encoder: str | None = None, *, with_vectors: bool = False
    ) -> Iterator[StoredPoint]:
        """Every point of an encoder's collection (``encoder=None``: the meta collection)."""
        record = self._cached_record(index)
        collection = meta_name(index) if encoder is None else record["collections"][encoder]
        yield from self.engine.scroll(collection, with_vectors=with_vectors)

    def query(
        self, index: str, encoder: str, vector: np.ndarray | SparseVector | HybridQuery, k: int, *,
        group_by_doc: bool = True, where: Where | None = None, exact: bool = False,
    ) -> list[Hit]:  # fmt: skip
        """Nearest chunks by cosine, best first. Warm: one engine call (see module doc).

        Args:
            index: Index name.
            encoder: Encoder whose vectors to search.
            vector: Query embedding, shape (dim,) or (1, dim); for ``bm25`` its
                ``SparseVector``, for ``hybrid:DENSE,bm25`` a ``search.hybrid.HybridQuery``.
            k: Number of hits (documents when ``group_by_doc``).
            group_by_doc: Best chunk per document, ``k`` documents.
            where: Filters applied inside the engine, before ranking.
            exact: Exact scan even where an HNSW graph exists.

        Raises:
            IndexNotFoundError, EncoderNotInIndexError, IndexMismatchError, QueryError.
        """
        if k < 1:
            raise QueryError(f"k must be at least 1, not {k}")
        info = self.encoder_info(index, encoder)
        conditions = where_conditions(where)
        if info.get("kind") in ("sparse", "hybrid"):
            lexical = lexical_fetch(self.engine, self._lock, self._records[index], index, info,
                                    vector, conditions, exact)  # fmt: skip
            return self._ranked(index, lexical, k, group_by_doc)
        vec = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vec.shape[0] != int(info["dim"]):
            info = self._refreshed_info(index, encoder)  # recreated elsewhere with another size?
            if vec.shape[0] != int(info["dim"]):
                raise IndexMismatchError(
                    f"query vector has {vec.shape[0]} dimensions but index {index!r} stores "
                    f"{info['dim']}-dimensional vectors for encoder {encoder!r}"
                )
        collection = self._records[index]["collections"][encoder]

        def fetch(limit: int) -> list[Any]:
            with self._lock:
                return self.engine.search(collection, vec, limit, conditions, exact=exact)

        return self._ranked(index, fetch, k, group_by_doc)

    def _ranked(
        self, index: str, fetch: Callable[[int], list[Any]], k: int, group_by_doc: bool
    ) -> list[Hit]:
        try:
            if group_by_doc:  # not a grouped query: local mode scans everything for it
                points = best_per_document(fetch, k, lambda p: p.payload.get("doc_id"))
            else:
                points = fetch(k)
        except StoreError:
            self._cached_record(index, refresh=True)  # dropped elsewhere: IndexNotFoundError
            raise
        return sorted((to_hit(p) for p in points), key=lambda h: -h.score)

    def _refreshed_info(self, index: str, encoder: str) -> dict[str, Any]:
        self._cached_record(index, refresh=True)
        return self.encoder_info(index, encoder)

    # -- writing (the ingest.write.IndexWriter protocol) -------------------------------------

    def ensure_index(self, index: str, chunking: Mapping[str, Any]) -> dict[str, Any]:
        """Create index ``index`` with these chunking settings if absent; return its record."""
        check_index_name(index)
        record = self.index_record(index)
        if record is not None:
            return record
        with self._lock:
            if not self.engine.exists(meta_name(index)):
                self.engine.create(meta_name(index), 1, filter_fields=False)
        record = {
            "kind": "index",
            "name": index,
            "encoders": {},
            "collections": {},
            "chunking": dict(chunking),
        }
        self._put_record(index, record)
        return record

    def add_encoder(self, index: str, info: Mapping[str, Any]) -> None:
        """Register an encoder (its ``EncoderInfo.as_dict()``) and create its collection.

        Raises:
            IndexMismatchError: The index records this encoder with another size or setup.
        """
        record = self._cached_record(index, refresh=True)
        name, dim = str(info["name"]), int(info["dim"])
        old = record["encoders"].get(name)
        if old is not None:
            diff = {k: (old.get(k), v) for k, v in info.items() if old.get(k) != v}
            if diff:
                said = ", ".join(
                    f"{k}: index has {a!r}, encoder has {b!r}" for k, (a, b) in sorted(diff.items())
                )
                raise IndexMismatchError(
                    f"index {index!r} recorded encoder {name!r} differently ({said}); use the same "
                    f"encoder settings, another --index, or drop the index first"
                )
            return
        collection = collection_name(index, name)
        with self._lock:
            # create() replaces a leftover collection (from a dropped encoder, or a killed run).
            # Every encoder collection declares the BM25 sparse vector: a dense one holds it
            # beside its own for hybrid queries once the index has bm25 (search.hybrid).
            self.engine.create(
                collection, dim, filter_fields=True, quantize=info.get("quantize"), sparse=True
            )
            slots = set(record.get("with_bm25", []))
            if is_sparse(info):
                slots |= {e for e, c in record["collections"].items() if self.engine.add_sparse(c)}
            else:
                slots.add(name)
        record["encoders"][name] = dict(info)
        record["collections"][name] = collection
        record["with_bm25"] = sorted(
            slots - {e for e, i in record["encoders"].items() if is_sparse(i)}
        )
        self._put_record(index, record)

    def write_documents(self, index: str, docs: Sequence[Any]) -> None:
        """Write documents' chunks under each encoder, then their manifests (see module doc;
        :func:`search.store_write.write_documents`).

        Args:
            docs: ``ingest.write.DocumentWrite``-like objects (``doc_id``, ``manifest``,
                ``chunks`` payloads in chunk order, ``vectors`` by encoder, ``replace``).

        Raises:
            IndexMismatchError: A vector size differs from the collection's.
        """
        write_documents(self, index, docs)

    def _manifest_entries(self, index: str, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Current manifest entries of some documents (absent ones are left out)."""
        got = self.engine.retrieve(meta_name(index), [doc_point_id(index, d) for d in doc_ids])
        return {str(p.payload["doc_id"]): p.payload for p in got if p.payload}

    def delete_documents(self, index: str, doc_ids: Sequence[str]) -> None:
        """Delete documents' chunks from every encoder collection, then their manifests."""
        if not doc_ids:
            return
        record = self._cached_record(index, refresh=True)
        by_doc = (AnyOf("doc_id", tuple(doc_ids)),)
        with self._lock:
            collections = list(record.get("collections", {}).values())
            for collection in collections:
                self.engine.delete_where(collection, by_doc)
            self.engine.sync(collections)
            ids = [doc_point_id(index, d) for d in doc_ids]
            self.engine.write(meta_name(index), [], None, [], ids)

    def drop_index(self, name: str) -> None:
        """Delete an index and all its collections; IndexNotFoundError if absent."""
        self._cached_record(name, refresh=True)
        with self._lock:
            self._records.pop(name, None)
            # The meta collection last: a drop killed half-way still lists the index.
            doomed = [c for c in self.engine.collections() if c.startswith(f"{PREFIX}{name}__")]
            for c in sorted(doomed, key=lambda c: c == meta_name(name)):
                self.engine.drop(c)

    # -- vector indexes ------------------------------------------------------------------------

    def optimize(
        self,
        index: str | None = None,
        *,
        force: bool = False,
        on_start: Callable[[str, str, int, int], None] | None = None,
    ) -> list[OptimizeReport]:
        """Build HNSW graphs where they pay (every collection when ``force``).

        A collection is due once it holds :data:`HNSW_MIN_FLOATS` vector floats and at least
        :data:`HNSW_MIN_NEW_FLOATS` of them are not in a graph yet. Only Edge builds graphs on
        request; the other engines are reported with a note.

        Args:
            index: One index, or every index.
            force: Build regardless of size (Edge still skips segments under its own indexing
                threshold, a few MB, where a scan costs well under a millisecond).
            on_start: Called ``(index, encoder, points, dim)`` before each build.
        """
        names = [index] if index is not None else [i.name for i in self.list_indexes()]
        out = []
        for name in names:
            record = self._cached_record(name, refresh=True)
            with self._lock:
                out += build_where_due(self.engine, name, record, force=force, on_start=on_start)
        return out

    def close(self) -> None:
        """Release the store (and the embedded folder's lock)."""
        with self._lock:
            self._records.clear()
            self.engine.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.location}, engine={self.engine_name})"

    # -- internals ----------------------------------------------------------------------------

    def _put_record(self, index: str, record: dict[str, Any]) -> None:
        with self._lock:
            self.engine.write(
                meta_name(index), [record_id(index)], np.ones((1, 1), np.float32), [record]
            )
            self._records[index] = dict(record)

    def _upsert_meta(self, index: str, payloads: list[dict[str, Any]]) -> None:
        ids = [doc_point_id(index, p["doc_id"]) for p in payloads]
        self.engine.write(meta_name(index), ids, np.ones((len(ids), 1), np.float32), payloads)


def open_store(
    path: str | Path | None = None,
    url: str | None = None,
    api_key: str | None = None,
    engine: str | None = None,
    layout: ClusterLayout | None = None,
) -> Store:
    """Open the embedded store at ``path`` or the Qdrant server at ``url``.

    Without arguments: ``DIFFSEARCH_QDRANT_URL`` (with ``DIFFSEARCH_QDRANT_API_KEY``), else
    ``DIFFSEARCH_STORE``, else :func:`default_store_dir`. A folder is an Edge store unless it
    holds a store written by qdrant-client's local mode (read and written as before until
    ``diffsearch store migrate``); ``engine`` forces one (``"edge"`` or ``"qdrant-local"``).
    ``layout`` (a server only): shards, replicas, write consistency of new collections.

    Raises:
        StoreLockedError: Another process holds the embedded folder.
        StoreUnreachableError: No server answered at the URL.
        StoreError: Both a path and a URL were given, or the folder is unusable.
    """
    return Store(connect(path, url, api_key, engine, layout))
