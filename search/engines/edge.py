"""Qdrant Edge (``qdrant-edge-py``): Qdrant's Rust engine inside the process, the default.

Layout of an Edge store folder ``DIR``::

    DIR/edge/store.json          {"engine": "edge", "format": 1}: marks the folder as Edge
    DIR/edge/LOCK                held (flock) by the one process that has the store open
    DIR/edge/<collection>/       one Edge shard per collection: ds__<index>__<encoder>, ds__<index>__meta

One shard per collection keeps the layout, ids, payloads and write order of the other engines
(one collection per encoder plus the meta collection). Each shard has one unnamed cosine vector
and keyword/integer payload indexes on the filter fields. An ``update`` call is one WAL entry:
SIGKILL during a call leaves all of its points or none (measured: tests/search/test_edge.py).
Edge cannot report a full disk (a touch of a new page of its sparse memory-mapped files is a
SIGBUS), so each update, create and load is preceded by a free-space check (search.engines.space).
Edge builds no index in the background: HNSW is built by :meth:`EdgeEngine.build_index`, which
the store calls when a collection has grown past the size where it pays (search.store).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import qdrant_edge as qe

from encoders.bm25 import SPARSE_VECTOR, SparseVector
from search.engines.base import (
    FILTER_FIELDS,
    HNSW_EF,
    HNSW_EF_CONSTRUCT,
    HNSW_M,
    HNSW_SEGMENT_KB,
    RRF_K,
    SCAN_OVERSAMPLING,
    SCAN_QUANTILE,
    VectorIndexState,
)
from search.engines.edge_files import (
    CHECKPOINT_S,
    MARKER,
    WAL_DIR,
    WalSyncer,
    edge_root,
    is_edge_store,
    write_marker,
)
from search.engines.errors import engine_errors, locked_error, translate
from search.engines.space import (
    CREATE_BYTES,
    WRITE_FACTOR,
    ensure_space,
    payload_bytes,
    sparse_bytes,
)
from search.errors import StoreError
from search.records import AnyOf, Between, Conditions, EngineName, ScoredPoint, StoredPoint

__all__ = ["EdgeEngine", "edge_root", "is_edge_store", "write_marker"]

SCROLL = 512


def _hnsw_config(m: int = HNSW_M) -> qe.HnswIndexConfig:
    # full_scan_threshold (KB of vectors): Qdrant's default; below it a segment, or a filter's
    # matches, are scanned (over the int8 copy where there is one, then rescored).
    return qe.HnswIndexConfig(m=m, ef_construct=HNSW_EF_CONSTRUCT, full_scan_threshold=10_000)


def _search_params(exact: bool) -> qe.SearchParams:
    """Exact: every original vector. Otherwise the collection's index (the int8 scan index or
    a graph), the best ``limit x SCAN_OVERSAMPLING`` rescored on the originals."""
    if exact:
        return qe.SearchParams(exact=True)
    rescore = qe.QuantizationSearchParams(rescore=True, oversampling=SCAN_OVERSAMPLING)
    return qe.SearchParams(hnsw_ef=HNSW_EF, quantization=rescore)


def _filter(conditions: Conditions) -> qe.Filter | None:
    must: list[Any] = []
    for c in conditions:
        if isinstance(c, AnyOf):
            must.append(qe.FieldCondition(key=c.key, match=qe.MatchAny(list(c.values))))
        elif isinstance(c, Between):
            rng = qe.RangeFloat(gte=c.gte, lte=c.lte)
            must.append(qe.FieldCondition(key=c.key, range=rng))
    return qe.Filter(must=must) if must else None


def _id(point_id: Any) -> str:
    return str(point_id)  # Edge hands back uuid.UUID objects; the store speaks strings


def _vector(record: Any, wanted: bool) -> list[float] | None:
    vector = record.vector if wanted else None
    if isinstance(vector, dict):  # named vectors: the dense one is unnamed
        vector = vector.get("")
    return [float(x) for x in vector] if vector is not None else None


def _stored_sparse(record: Any, wanted: bool) -> SparseVector | None:
    vector = record.vector if wanted else None
    got = vector.get(SPARSE_VECTOR) if isinstance(vector, dict) else None
    if got is None:
        return None
    return SparseVector(tuple(int(i) for i in got.indices), tuple(float(v) for v in got.values))


def _stored(record: Any, wanted: bool) -> StoredPoint:
    payload = dict(record.payload or {})
    return StoredPoint(
        _id(record.id), payload, _vector(record, wanted), _stored_sparse(record, wanted)
    )


def _qe_sparse(vector: SparseVector) -> qe.SparseVector:
    return qe.SparseVector(list(vector.indices), list(vector.values))


def _point_vector(dense: list[float] | None, sparse: SparseVector | None) -> Any:
    if sparse is None:
        return dense
    named: dict[str, Any] = {SPARSE_VECTOR: _qe_sparse(sparse)}
    if dense is not None:
        named[""] = dense
    return named


class EdgeEngine:
    """Collections as Edge shards under one folder, opened lazily and held until :meth:`close`.

    Args:
        root: ``DIR/edge`` (created with its marker if absent).
        location: ``"embedded store at DIR"``.

    Raises:
        StoreLockedError: Another process holds the store.
    """

    name: EngineName = "edge"

    def __init__(self, root: Path, location: str, *, mark: bool = True) -> None:
        self.root = root
        self.location = location
        self._shards: dict[str, qe.EdgeShard] = {}
        self._flushed: dict[str, float] = {}  # monotonic time of each shard's last full flush
        self._wal_syncers: dict[str, WalSyncer] = {}
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store folder {root}: {exc.strerror}") from None
        try:
            self._lock: IO[str] | None = open(root / "LOCK", "a")  # noqa: SIM115 - held until close
        except OSError as exc:
            raise translate(exc, location, "opening the store") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise locked_error(root.parent) from None
        if mark and not (root / MARKER).exists():
            try:
                write_marker(root)
            except OSError as exc:
                self.close()
                raise translate(exc, location, "opening the store") from None

    # -- collections ---------------------------------------------------------------------------

    def _path(self, collection: str) -> Path:
        return self.root / collection

    def collections(self) -> list[str]:
        return sorted(
            p.name
            for p in self.root.iterdir()
            if not p.name.startswith(".") and (p / "edge_config.json").is_file()
        )

    def exists(self, collection: str) -> bool:
        return collection in self._shards or (self._path(collection) / "edge_config.json").is_file()

    def _shard(self, collection: str) -> qe.EdgeShard:
        shard = self._shards.get(collection)
        if shard is None:
            # Loading fills in the shard's sparse vector chunks (a SIGBUS on a full disk).
            self._room(sparse_bytes(self._path(collection)), f"opening {collection}")
            with engine_errors(self.location, f"opening {collection}"):
                shard = qe.EdgeShard.load(str(self._path(collection)))
            self._shards[collection] = shard
        return shard

    def create(
        self,
        collection: str,
        dim: int,
        *,
        filter_fields: bool,
        quantize: str | None = None,
        sparse: bool = False,
    ) -> None:
        path = self._path(collection)
        if path.exists():  # a create that was killed half-way
            shutil.rmtree(path)
        # A payload index writes two 1 MB flag files in full, like the shard's own.
        index_bytes = 2 * 2**20 * len(FILTER_FIELDS) if filter_fields else 0
        self._room(CREATE_BYTES + index_bytes, f"creating {collection}")
        quantized = _quantization(quantize)
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(
                size=dim,
                distance=qe.Distance.Cosine,
                # An encoder's quantization: the quantized copy in RAM, originals on disk (read
                # to rescore), the memory saving. Otherwise the int8 scan index (base.py), the
                # originals cached in RAM as before.
                on_disk=True if quantized is not None else None,
                quantization_config=quantized if quantized is not None else _scan_index(),
            )
            if dim
            else None,
            sparse_vectors={SPARSE_VECTOR: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)}
            if sparse
            else None,
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=HNSW_SEGMENT_KB),
            hnsw_config=_hnsw_config(m=0),  # a scan index, no graph (base.py)
        )
        with engine_errors(self.location, f"creating {collection}"):
            shard = qe.EdgeShard.create(str(path), config)
            self._shards[collection] = shard
            if filter_fields:
                for field, kind in FILTER_FIELDS.items():
                    schema = (
                        qe.PayloadSchemaType.Keyword
                        if kind == "keyword"
                        else qe.PayloadSchemaType.Integer
                    )
                    shard.update(qe.UpdateOperation.create_field_index(field, schema))

    def drop(self, collection: str) -> None:
        shard = self._shards.pop(collection, None)
        self._flushed.pop(collection, None)
        self._wal_syncers.pop(collection, None)
        if shard is not None:
            with engine_errors(self.location, f"closing {collection}"):
                shard.close()
        path = self._path(collection)
        if path.exists():
            # Out of the namespace in one rename, so a kill during the delete leaves no half shard.
            trash = self.root / f".dropped-{collection}-{os.getpid()}"
            os.replace(path, trash)
            shutil.rmtree(trash, ignore_errors=True)

    # -- points --------------------------------------------------------------------------------

    def write(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: np.ndarray | None,
        payloads: Sequence[dict[str, Any]],
        delete_ids: Sequence[str] = (),
        sparse: Sequence[SparseVector] | None = None,
    ) -> None:
        shard = self._shard(collection)
        if ids:
            points_bytes = np.asarray(vectors).size * 4 + payload_bytes(payloads)
            self._room(WRITE_FACTOR * points_bytes, f"writing to {collection}")
        with engine_errors(self.location, f"writing to {collection}"):
            if ids:
                # Rows as memoryviews of float32: Edge reads them as it reads lists (the same
                # f32 values), without a Python float per component (``tolist``).
                rows: list[Any] = (
                    [None] * len(ids)
                    if vectors is None
                    else [memoryview(r) for r in np.ascontiguousarray(vectors, dtype=np.float32)]
                )
                sparse_rows: Sequence[Any] = [None] * len(ids) if sparse is None else sparse
                points = [
                    qe.Point(i, _point_vector(v, sv), p)
                    for i, v, sv, p in zip(ids, rows, sparse_rows, payloads, strict=True)
                ]
                shard.update(qe.UpdateOperation.upsert_points(points))
            if delete_ids:
                shard.update(qe.UpdateOperation.delete_points(list(delete_ids)))

    def delete_where(self, collection: str, conditions: Conditions) -> None:
        flt = _filter(conditions)
        if flt is None:
            raise ValueError("delete_where needs at least one condition")
        self._room(0, f"deleting from {collection}")
        with engine_errors(self.location, f"deleting from {collection}"):
            self._shard(collection).update(qe.UpdateOperation.delete_points_by_filter(flt))

    def retrieve(
        self, collection: str, ids: Sequence[str], *, with_vectors: bool = False
    ) -> list[StoredPoint]:
        if not self.exists(collection):
            return []
        with engine_errors(self.location, f"reading {collection}"):
            got = self._shard(collection).retrieve(list(ids), True, with_vectors)
        return [_stored(r, with_vectors) for r in got]

    def scroll(
        self, collection: str, conditions: Conditions = (), *, with_vectors: bool = False
    ) -> Iterator[StoredPoint]:
        if not self.exists(collection):
            return
        shard, flt, offset = self._shard(collection), _filter(conditions), None
        while True:
            request = qe.ScrollRequest(offset=offset, limit=SCROLL, filter=flt,
                                       with_payload=True, with_vector=with_vectors)  # fmt: skip
            with engine_errors(self.location, f"reading {collection}"):
                records, offset = shard.scroll(request)
            for r in records:
                yield _stored(r, with_vectors)
            if offset is None:
                return

    def count(self, collection: str, conditions: Conditions = ()) -> int:
        if not self.exists(collection):
            return 0
        with engine_errors(self.location, f"counting {collection}"):
            return int(
                self._shard(collection).count(
                    qe.CountRequest(exact=True, filter=_filter(conditions))
                )
            )

    def search(
        self,
        collection: str,
        vector: np.ndarray,
        limit: int,
        conditions: Conditions = (),
        *,
        exact: bool = False,
    ) -> list[ScoredPoint]:
        request = qe.QueryRequest(
            limit=limit, query=qe.Query.Nearest(np.asarray(vector, dtype=np.float32).tolist()),
            filter=_filter(conditions), with_payload=True,
            params=_search_params(exact),
        )  # fmt: skip
        with engine_errors(self.location, f"searching {collection}"):
            got = self._shard(collection).query(request)
        return [ScoredPoint(_id(p.id), float(p.score), dict(p.payload or {})) for p in got]

    def _room(self, need: int, doing: str) -> None:
        """Stop with DiskFullError unless ``need`` bytes (plus a reserve) are free: Edge cannot
        report a full disk, it dies of SIGBUS (search.engines.space)."""
        ensure_space(self.root.parent, need, self.location, doing)

    # -- sparse vectors (BM25) and hybrid queries -----------------------------------------------

    def _query(self, collection: str, request: qe.QueryRequest) -> list[ScoredPoint]:
        with engine_errors(self.location, f"searching {collection}"):
            got = self._shard(collection).query(request)
        return [ScoredPoint(_id(p.id), float(p.score), dict(p.payload or {})) for p in got]

    def search_sparse(
        self, collection: str, vector: SparseVector, limit: int, conditions: Conditions = ()
    ) -> list[ScoredPoint]:
        query = qe.Query.Nearest(_qe_sparse(vector), using=SPARSE_VECTOR)
        request = qe.QueryRequest(
            limit=limit, query=query, filter=_filter(conditions), with_payload=True
        )
        return self._query(collection, request)

    def search_hybrid(
        self, collection: str, dense: np.ndarray, sparse: SparseVector, limit: int,
        conditions: Conditions = (), *, prefetch: int, exact: bool = False,
    ) -> list[ScoredPoint]:  # fmt: skip
        flt = _filter(conditions)
        dense_query = qe.Query.Nearest(np.asarray(dense, dtype=np.float32).tolist())
        params = _search_params(exact)
        stages = [
            qe.Prefetch(limit=prefetch, query=dense_query, filter=flt, params=params),
            qe.Prefetch(limit=prefetch, filter=flt,
                        query=qe.Query.Nearest(_qe_sparse(sparse), using=SPARSE_VECTOR)),
        ]  # fmt: skip
        request = qe.QueryRequest(
            limit=limit, prefetches=stages, with_payload=True,
            query=qe.Fusion.Rrf(k=RRF_K),  # type: ignore[arg-type]  # the stub lists Fusion only
        )  # fmt: skip
        return self._query(collection, request)

    def set_sparse(
        self, collection: str, ids: Sequence[str], sparse: Sequence[SparseVector]
    ) -> None:
        if not ids:
            return
        rows = [
            qe.PointVectors(i, {SPARSE_VECTOR: _qe_sparse(v)})
            for i, v in zip(ids, sparse, strict=True)
        ]
        with engine_errors(self.location, f"writing BM25 vectors to {collection}"):
            self._shard(collection).update(qe.UpdateOperation.update_vectors(rows))

    def add_sparse(self, collection: str) -> bool:
        config = json.loads((self._path(collection) / "edge_config.json").read_text())
        if SPARSE_VECTOR not in (config.get("sparse_vectors") or {}):
            op = qe.UpdateOperation.create_sparse_vector(SPARSE_VECTOR, modifier=qe.Modifier.Idf)
            with engine_errors(self.location, f"adding BM25 vectors to {collection}"):
                self._shard(collection).update(op)
        return True

    # -- durability and indexes ----------------------------------------------------------------

    def sync(self, collections: Sequence[str]) -> None:
        """The write order's barrier: the WAL of each shard reaches the disk (see module doc).

        A shard's WAL already survives SIGKILL once ``update`` returns; ``fdatasync`` of its
        files adds power-cut durability in ~1-15 ms, where ``EdgeShard.flush`` (WAL plus
        every segment) took ~0.1-0.2 s. Segments are flushed at :data:`CHECKPOINT_S`
        intervals, so a reopened shard replays a bounded WAL.
        """
        for name in collections:
            if name in self._shards:
                self._sync_wal(name)

    def _sync_wal(self, name: str) -> None:
        shard, now = self._shards[name], time.monotonic()
        wal = self._path(name) / WAL_DIR
        if not wal.is_dir() or now - self._flushed.setdefault(name, now) >= CHECKPOINT_S:
            with engine_errors(self.location, f"flushing {name}"):
                shard.flush()
            self._flushed[name] = now
            return
        syncer = self._wal_syncers.get(name)
        if syncer is None:
            syncer = self._wal_syncers[name] = WalSyncer(wal)
        with engine_errors(self.location, f"syncing the write-ahead log of {name}"):
            syncer()

    def index_state(self, collection: str) -> VectorIndexState:
        with engine_errors(self.location, f"reading {collection}"):
            info = self._shard(collection).info()
        config = json.loads((self._path(collection) / "edge_config.json").read_text())
        params = (config.get("vectors") or {}).get("", {})
        dim = int(params.get("size", 0))
        kind = {"scalar": "int8", "binary": "binary"}.get(
            next(iter(params.get("quantization_config") or {}), "")
        )
        # An encoder's quantization keeps its originals on disk; the scan index does not.
        encoder_q = kind if params.get("on_disk") else None
        sparse = SPARSE_VECTOR in (config.get("sparse_vectors") or {})
        return VectorIndexState(
            int(info.points_count), int(info.indexed_vectors_count), dim, True,
            quantization=encoder_q, sparse=sparse,
            scan=kind if encoder_q is None else None,
            graph=int((config.get("hnsw_config") or {}).get("m", HNSW_M)) > 0,
        )  # fmt: skip

    def build_index(self, collection: str) -> bool:
        with engine_errors(self.location, f"building the HNSW index of {collection}"):
            return bool(self._shard(collection).optimize())

    def close(self) -> None:
        shards, self._shards = self._shards, {}
        for name, shard in shards.items():
            with engine_errors(self.location, f"closing {name}"):
                shard.flush()
                shard.close()
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None


def _scan_index() -> qe.ScalarQuantizationConfig:
    """The int8 copy of a collection's vectors for quantized scans (base.py), in RAM."""
    return qe.ScalarQuantizationConfig(
        type=qe.ScalarType.Int8, quantile=SCAN_QUANTILE, always_ram=True
    )


def _quantization(quantize: str | None) -> Any:
    """Edge's quantization config for an encoder's ``quantize`` setting (None: float32 only)."""
    if quantize is None:
        return None
    if quantize == "int8":
        # quantile 1.0: no clipping; pplx-embed's int8 vectors already sit on 255 levels.
        return qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=1.0, always_ram=True)
    if quantize == "binary":
        return qe.BinaryQuantizationConfig(always_ram=True)
    raise StoreError(f"unknown quantization {quantize!r}; use int8 or binary")
