"""The Qdrant store: one small class over an embedded folder (``path=``) or a server (``url=``).

Layout (see docs/architecture.md): one collection per (index, encoder), ``ds__<index>__<enc>``,
one unnamed cosine vector, the same point ids and payloads in each; ``ds__<index>__meta`` holds
the index record (encoders, chunking) and one manifest point per document.

Write order, which is what makes a killed ingest repairable (Qdrant has no transactions):

1. a *pending* manifest for every new or changed document,
2. per encoder collection, one ``batch_update_points`` call: the documents' chunk points
   (stable ids, so idempotent) plus a delete of their stale chunks (``chunk >= n_chunks``),
3. the *complete* manifests, last.

A run that dies anywhere leaves documents whose manifest is pending, stale or missing; the next
run redoes exactly those. In the embedded store, each call of step 2 is also one SQLite
transaction (see :func:`search.embedded.one_transaction`), so a document's chunks land on disk together.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models

from search.connect import connect
from search.embedded import one_transaction
from search.errors import (
    EncoderNotInIndexError,
    IndexMismatchError,
    IndexNotFoundError,
    QueryError,
)
from search.grouping import best_per_document
from search.layout import (
    PREFIX,
    SCROLL,
    DocRecord,
    Hit,
    IndexInfo,
    Where,
    check_index_name,
    collection_name,
    default_store_dir,
    doc_point_id,
    match,
    meta_name,
    point_id,
    record_id,
    to_hit,
    where_filter,
)

__all__ = [
    "DocRecord",
    "Hit",
    "IndexInfo",
    "Store",
    "Where",
    "check_index_name",
    "collection_name",
    "default_store_dir",
    "meta_name",
    "open_store",
    "point_id",
]


#: Payload fields that filters use, with their index type (see ``search.layout.where_filter``).
FILTER_FIELDS = {
    "doc_id": models.PayloadSchemaType.KEYWORD,
    "filetype": models.PayloadSchemaType.KEYWORD,
    "page": models.PayloadSchemaType.INTEGER,
}


# -- the store --------------------------------------------------------------------------------


class Store:
    """Indexes of chunk vectors in Qdrant. Use :func:`open_store` to make one.

    Args:
        client: An open ``QdrantClient`` (embedded or remote).
        location: ``"embedded store at /path"`` or ``"Qdrant server at URL"``.
    """

    def __init__(self, client: QdrantClient, location: str) -> None:
        self.client = client
        self.location = location
        self.embedded = location.startswith("embedded")
        self._lock = threading.RLock()

    # -- reading ------------------------------------------------------------------------------

    def index_record(self, index: str) -> dict[str, Any] | None:
        """The index record (``encoders``, ``collections``, ``chunking``), or None if absent."""
        with self._lock:
            if not self.client.collection_exists(meta_name(index)):
                return None
            got = self.client.retrieve(meta_name(index), ids=[record_id(index)], with_payload=True)
        return dict(got[0].payload or {}) if got else None

    def _record_or_raise(self, index: str) -> dict[str, Any]:
        record = self.index_record(check_index_name(index))
        if record is None:
            names = [i.name for i in self.list_indexes()]
            known = ", ".join(names) if names else "none yet"
            raise IndexNotFoundError(
                f"no index {index!r} in the {self.location} (indexes: {known}); "
                f"create it with: diffsearch ingest DIR --index {index} -e ENCODER"
            )
        return record

    def list_indexes(self) -> list[IndexInfo]:
        """Every index in the store, by name."""
        with self._lock:
            names = [c.name for c in self.client.get_collections().collections]
        out = []
        for name in sorted(names):
            if name.startswith(PREFIX) and name.endswith("__meta"):
                index = name[len(PREFIX) : -len("__meta")]
                with contextlib.suppress(IndexNotFoundError, QueryError):
                    out.append(self.index_info(index))
        return out

    def index_info(self, name: str) -> IndexInfo:
        """Encoders, chunking and sizes of index ``name``; IndexNotFoundError if absent."""
        record = self._record_or_raise(name)
        docs = self.manifest(name)
        complete = [m for m in docs.values() if m.get("state") == "complete"]
        return IndexInfo(
            name=name, encoders=dict(record.get("encoders", {})), chunking=dict(record.get("chunking", {})),
            documents=len(complete), chunks=sum(int(m.get("n_chunks", 0)) for m in complete),
            location=self.location,
        )  # fmt: skip

    def manifest(self, index: str) -> dict[str, dict[str, Any]]:
        """doc_id -> manifest payload (``state`` is ``complete`` or ``pending``)."""
        flt = models.Filter(must=[match("kind", "doc")])
        return {p["doc_id"]: p for p in self._scroll(meta_name(index), flt)}

    def documents(self, index: str) -> list[DocRecord]:
        """The complete documents of ``index``, by doc_id."""
        self._record_or_raise(index)
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
        record = self._record_or_raise(index)
        for collection in record.get("collections", {}).values():
            flt = models.Filter(must=[match("doc_id", doc_id)])
            hits = [to_hit(p, 0.0) for p in self._scroll(collection, flt, payload_only=False)]
            if hits:
                return sorted(hits, key=lambda h: h.chunk)
        return []

    def stored_chunks(
        self, index: str, encoder: str, doc_ids: Sequence[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Chunk payloads of ``doc_ids`` as stored under ``encoder``, each list by chunk number."""
        record = self._record_or_raise(index)
        out: dict[str, list[dict[str, Any]]] = {d: [] for d in doc_ids}
        flt = models.Filter(
            must=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=list(doc_ids)))]
        )
        for payload in self._scroll(record["collections"][encoder], flt):
            out.setdefault(payload["doc_id"], []).append(payload)
        for chunks in out.values():
            chunks.sort(key=lambda p: p["chunk"])
        return out

    def query(
        self, index: str, encoder: str, vector: np.ndarray, k: int, *,
        group_by_doc: bool = True, where: Where | None = None,
    ) -> list[Hit]:  # fmt: skip
        """Nearest chunks by cosine, best first.

        Args:
            index: Index name.
            encoder: Encoder whose vectors to search.
            vector: Query embedding, shape (dim,) or (1, dim).
            k: Number of hits (documents when ``group_by_doc``).
            group_by_doc: Best chunk per document, ``k`` documents.
            where: Filters applied inside Qdrant.

        Raises:
            IndexNotFoundError, EncoderNotInIndexError, IndexMismatchError, QueryError.
        """
        if k < 1:
            raise QueryError(f"k must be at least 1, not {k}")
        record = self._record_or_raise(index)
        info = record.get("encoders", {}).get(encoder)
        if info is None:
            have = ", ".join(sorted(record.get("encoders", {}))) or "none"
            raise EncoderNotInIndexError(
                f"index {index!r} has no vectors from encoder {encoder!r} (it has: {have}); add them "
                f"with: diffsearch ingest DIR --index {index} -e {encoder}"
            )
        vec = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vec.shape[0] != int(info["dim"]):
            raise IndexMismatchError(
                f"query vector has {vec.shape[0]} dimensions but index {index!r} stores "
                f"{info['dim']}-dimensional vectors for encoder {encoder!r}"
            )
        collection = record["collections"][encoder]
        flt, query = where_filter(where), vec.tolist()

        def fetch(limit: int) -> list[Any]:
            with self._lock:
                return self.client.query_points(
                    collection, query=query, limit=limit, query_filter=flt, with_payload=True
                ).points

        if group_by_doc:  # not query_points_groups: embedded Qdrant scans everything for it
            points = best_per_document(fetch, k, lambda p: (p.payload or {}).get("doc_id"))
        else:
            points = fetch(k)
        return sorted((to_hit(p) for p in points), key=lambda h: -h.score)

    # -- writing (the ingest.write.IndexWriter protocol) -------------------------------------

    def ensure_index(self, index: str, chunking: Mapping[str, Any]) -> dict[str, Any]:
        """Create index ``index`` with these chunking settings if absent; return its record."""
        check_index_name(index)
        record = self.index_record(index)
        if record is not None:
            return record
        with self._lock:
            if not self.client.collection_exists(meta_name(index)):
                self.client.create_collection(
                    meta_name(index),
                    vectors_config=models.VectorParams(size=1, distance=models.Distance.COSINE),
                )
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
        record = self._record_or_raise(index)
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
            if self.client.collection_exists(collection):
                self.client.delete_collection(collection)  # leftover from a dropped encoder
            self.client.create_collection(
                collection,
                vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
            )
            self._index_filter_fields(collection)
        record["encoders"][name] = dict(info)
        record["collections"][name] = collection
        self._put_record(index, record)

    def write_documents(self, index: str, docs: Sequence[Any]) -> None:
        """Write documents' chunks under each encoder, then their manifests (see module doc).

        Args:
            docs: ``ingest.write.DocumentWrite``-like objects (``doc_id``, ``manifest``,
                ``chunks`` payloads in chunk order, ``vectors`` by encoder, ``replace``).

        Raises:
            IndexMismatchError: A vector size differs from the collection's.
        """
        if not docs:
            return
        record = self._record_or_raise(index)
        encoders = sorted({e for d in docs for e in d.vectors})
        for enc in encoders:
            if enc not in record["encoders"]:
                raise EncoderNotInIndexError(
                    f"encoder {enc!r} is not registered in index {index!r}"
                )
            dim = int(record["encoders"][enc]["dim"])
            for d in docs:
                if enc in d.vectors and np.shape(d.vectors[enc]) != (len(d.chunks), dim):
                    raise IndexMismatchError(
                        f"vectors of shape {np.shape(d.vectors[enc])} for {d.doc_id!r} do not fit index "
                        f"{index!r}: encoder {enc!r} stores {dim}-dimensional vectors"
                    )
        replaced = [d for d in docs if d.replace]
        # Every chunk point of a document is written after a manifest entry for it, so the
        # entries bound which chunk numbers can exist: the old complete count, or the
        # ``max_chunks`` a pending (interrupted) write recorded. Stale chunks are then deleted
        # by exact ids; a brand-new document needs no delete (a filter delete would scan the
        # whole collection in embedded Qdrant, once per batch).
        bound: dict[str, int] = {}
        if replaced:
            before = self._manifest_entries(index, [d.doc_id for d in replaced])
            for d in replaced:
                entry = before.get(d.doc_id) or {}
                bound[d.doc_id] = max(
                    int(entry.get("n_chunks") or 0),
                    int(entry.get("max_chunks") or 0),
                    len(d.chunks),
                )
            self._upsert_meta(
                index,
                [
                    {
                        "kind": "doc",
                        "doc_id": d.doc_id,
                        "state": "pending",
                        "max_chunks": bound[d.doc_id],
                    }
                    for d in replaced
                ],
            )
        stale_ids: list[models.ExtendedPointId] = [
            point_id(index, d.doc_id, i)
            for d in replaced
            for i in range(len(d.chunks), bound[d.doc_id])
        ]
        for enc in encoders:
            ops: list[Any] = []
            ids: list[models.ExtendedPointId] = []
            vectors: list[list[float]] = []
            payloads: list[dict[str, Any]] = []
            for d in docs:
                if enc not in d.vectors:
                    continue
                ids += [point_id(index, d.doc_id, int(c["chunk"])) for c in d.chunks]
                vectors += np.asarray(d.vectors[enc], dtype=np.float32).tolist()
                payloads += [dict(c) for c in d.chunks]
            if ids:
                ops.append(models.UpsertOperation(upsert=models.PointsBatch(
                    batch=models.Batch(ids=ids, vectors=vectors, payloads=payloads))))  # fmt: skip
            if stale_ids:
                ops.append(
                    models.DeleteOperation(delete=models.PointIdsList(points=list(stale_ids)))
                )
            if ops:
                self._batch(record["collections"][enc], ops)
        self._upsert_meta(index, [{"kind": "doc", "doc_id": d.doc_id, **d.manifest} for d in docs])

    def _manifest_entries(self, index: str, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Current manifest entries of some documents (absent ones are left out)."""
        with self._lock:
            points = self.client.retrieve(
                meta_name(index), ids=[doc_point_id(index, d) for d in doc_ids], with_payload=True
            )
        return {str(p.payload["doc_id"]): dict(p.payload) for p in points if p.payload}

    def delete_documents(self, index: str, doc_ids: Sequence[str]) -> None:
        """Delete documents' chunks from every encoder collection, then their manifests."""
        if not doc_ids:
            return
        record = self._record_or_raise(index)
        by_doc = models.Filter(
            must=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=list(doc_ids)))]
        )
        for collection in record.get("collections", {}).values():
            self._batch(
                collection, [models.DeleteOperation(delete=models.FilterSelector(filter=by_doc))]
            )
        ids: list[models.ExtendedPointId] = [doc_point_id(index, d) for d in doc_ids]
        self._batch(
            meta_name(index), [models.DeleteOperation(delete=models.PointIdsList(points=ids))]
        )

    def drop_index(self, name: str) -> None:
        """Delete an index and all its collections; IndexNotFoundError if absent."""
        self._record_or_raise(name)
        with self._lock:
            for c in self.client.get_collections().collections:
                if c.name.startswith(f"{PREFIX}{name}__"):
                    self.client.delete_collection(c.name)

    def close(self) -> None:
        """Release the store (and the embedded folder's lock)."""
        with self._lock:
            self.client.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.location})"

    # -- internals ----------------------------------------------------------------------------

    def _index_filter_fields(self, collection: str) -> None:
        """Payload indexes for the fields ``--where`` filters on (a server uses them to filter
        before it searches; the embedded store has none and says so in a warning, silenced)."""
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Payload indexes have no effect")
            for field, kind in FILTER_FIELDS.items():
                self.client.create_payload_index(collection, field, field_schema=kind)

    def _put_record(self, index: str, record: dict[str, Any]) -> None:
        point = models.PointStruct(id=record_id(index), vector=[1.0], payload=record)
        self._batch(
            meta_name(index), [models.UpsertOperation(upsert=models.PointsList(points=[point]))]
        )

    def _upsert_meta(self, index: str, payloads: list[dict[str, Any]]) -> None:
        points = [
            models.PointStruct(id=doc_point_id(index, p["doc_id"]), vector=[1.0], payload=p)
            for p in payloads
        ]
        self._batch(
            meta_name(index), [models.UpsertOperation(upsert=models.PointsList(points=points))]
        )

    def _batch(self, collection: str, ops: list[Any]) -> None:
        with self._lock, one_transaction(self.client, collection, embedded=self.embedded):
            self.client.batch_update_points(collection, ops, wait=True)

    def _scroll(
        self, collection: str, flt: models.Filter | None, *, payload_only: bool = True
    ) -> Iterator[Any]:
        offset = None
        while True:
            with self._lock:
                if not self.client.collection_exists(collection):
                    return
                points, offset = self.client.scroll(
                    collection,
                    scroll_filter=flt,
                    limit=SCROLL,
                    offset=offset,
                    with_payload=True,
                    with_vectors=False,
                )
            for p in points:
                yield dict(p.payload or {}) if payload_only else p
            if offset is None:
                return


def open_store(
    path: str | Path | None = None, url: str | None = None, api_key: str | None = None
) -> Store:
    """Open the embedded store at ``path`` or the Qdrant server at ``url``.

    Without arguments: ``DIFFSEARCH_QDRANT_URL`` (with ``DIFFSEARCH_QDRANT_API_KEY``), else
    ``DIFFSEARCH_STORE``, else :func:`default_store_dir`.

    Raises:
        StoreLockedError: Another process holds the embedded folder.
        StoreUnreachableError: No server answered at the URL.
        StoreError: Both a path and a URL were given, or the folder is unusable.
    """
    return Store(*connect(path, url, api_key))
