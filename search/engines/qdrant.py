"""qdrant-client: its local mode (stores written before Edge) and a Qdrant server, one class.

The two differ in three places only: local mode makes each write call one SQLite transaction
(:mod:`search.engines.local_tx`), it has no vector index (payload indexes are accepted and
ignored, with a warning that is silenced), and a server builds HNSW in the background by itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models

from encoders.bm25 import SPARSE_VECTOR, SparseVector
from search.engines.base import FILTER_FIELDS, RRF_K, ClusterLayout, VectorIndexState
from search.engines.errors import engine_errors
from search.engines.local_tx import one_transaction
from search.errors import StoreError
from search.records import AnyOf, Between, Conditions, EngineName, ScoredPoint, StoredPoint

SCROLL = 512
_SCHEMA = {"keyword": models.PayloadSchemaType.KEYWORD, "integer": models.PayloadSchemaType.INTEGER}


def qdrant_filter(conditions: Conditions) -> models.Filter | None:
    """The qdrant-client filter of neutral conditions (None when there are none)."""
    must: list[Any] = []
    for c in conditions:
        if isinstance(c, AnyOf):
            must.append(models.FieldCondition(key=c.key, match=models.MatchAny(any=list(c.values))))
        elif isinstance(c, Between):
            must.append(models.FieldCondition(key=c.key, range=models.Range(gte=c.gte, lte=c.lte)))
    return models.Filter(must=must) if must else None


def _vector(point: Any, wanted: bool) -> list[float] | None:
    vector = point.vector if wanted else None
    if isinstance(vector, dict):  # named vectors: the dense one is unnamed
        vector = vector.get("")
    return [float(x) for x in vector] if vector is not None else None


def _stored(point: Any, wanted: bool) -> StoredPoint:
    vector = point.vector if wanted else None
    got = vector.get(SPARSE_VECTOR) if isinstance(vector, dict) else None
    sparse = (
        None
        if got is None
        else SparseVector(tuple(int(i) for i in got.indices), tuple(float(v) for v in got.values))
    )
    return StoredPoint(str(point.id), dict(point.payload or {}), _vector(point, wanted), sparse)


def _sparse(vector: SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=list(vector.indices), values=list(vector.values))


_SPARSE_PARAMS = {SPARSE_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)}


class QdrantEngine:
    """Collections in qdrant-client's local mode (``local=True``) or on a server.

    Args:
        client: An open ``QdrantClient``.
        location: ``"embedded store at PATH"`` or ``"Qdrant server at URL"``.
        local: Whether the client is in local mode (``path=``).
        layout: Shards, replicas and write consistency of the collections created (a server
            only; see ``search.connect``).
    """

    def __init__(
        self, client: QdrantClient, location: str, *, local: bool,
        layout: ClusterLayout | None = None,
    ) -> None:  # fmt: skip
        self.client = client
        self.location = location
        self.local = local
        self.layout = layout or ClusterLayout()
        self.name: EngineName = "qdrant-local" if local else "server"

    def collections(self) -> list[str]:
        with engine_errors(self.location, "listing collections"):
            return sorted(c.name for c in self.client.get_collections().collections)

    def exists(self, collection: str) -> bool:
        with engine_errors(self.location, f"looking up {collection}"):
            return bool(self.client.collection_exists(collection))

    def create(
        self,
        collection: str,
        dim: int,
        *,
        filter_fields: bool,
        quantize: str | None = None,
        sparse: bool = False,
    ) -> None:
        quantized = _quantization(quantize)
        # Quantized copy in RAM, originals on disk (read to rescore). Local mode records the
        # setting but searches its float32 copy exactly (no memory saved); a server applies it.
        params: Any = (
            models.VectorParams(
                size=dim,
                distance=models.Distance.COSINE,
                on_disk=True if quantized is not None else None,
                quantization_config=quantized,
            )
            if dim
            else {}
        )
        with engine_errors(self.location, f"creating {collection}"):
            if self.client.collection_exists(collection):
                self.client.delete_collection(collection)
            self.client.create_collection(
                collection,
                vectors_config=params,
                sparse_vectors_config=_SPARSE_PARAMS if sparse else None,
                **self.layout.create_params(),
            )
            if filter_fields:
                # A server filters through these; local mode has none and says so, silenced.
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="Payload indexes have no effect")
                    for field, kind in FILTER_FIELDS.items():
                        self.client.create_payload_index(
                            collection, field, field_schema=_SCHEMA[kind]
                        )

    def drop(self, collection: str) -> None:
        with engine_errors(self.location, f"deleting {collection}"):
            self.client.delete_collection(collection)

    def write(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: np.ndarray | None,
        payloads: Sequence[dict[str, Any]],
        delete_ids: Sequence[str] = (),
        sparse: Sequence[SparseVector] | None = None,
    ) -> None:
        ops: list[Any] = []
        if ids and sparse is not None:
            ops.append(_upsert_named(ids, vectors, payloads, sparse))
        elif ids:
            rows = np.asarray(vectors, dtype=np.float32).tolist()
            batch = models.Batch(ids=list(ids), vectors=rows, payloads=[dict(p) for p in payloads])
            ops.append(models.UpsertOperation(upsert=models.PointsBatch(batch=batch)))
        if delete_ids:
            ops.append(models.DeleteOperation(delete=models.PointIdsList(points=list(delete_ids))))
        if ops:
            self._batch(collection, ops)

    def _batch(self, collection: str, ops: list[Any]) -> None:
        with (
            engine_errors(self.location, f"writing to {collection}"),
            one_transaction(self.client, collection, embedded=self.local),
        ):
            self.client.batch_update_points(collection, ops, wait=True)

    def delete_where(self, collection: str, conditions: Conditions) -> None:
        flt = qdrant_filter(conditions)
        if flt is None:
            raise ValueError("delete_where needs at least one condition")
        self._batch(collection, [models.DeleteOperation(delete=models.FilterSelector(filter=flt))])

    def retrieve(
        self, collection: str, ids: Sequence[str], *, with_vectors: bool = False
    ) -> list[StoredPoint]:
        with engine_errors(self.location, f"reading {collection}"):
            if not self.client.collection_exists(collection):
                return []
            got = self.client.retrieve(
                collection, ids=list(ids), with_payload=True, with_vectors=with_vectors
            )
        return [_stored(p, with_vectors) for p in got]

    def scroll(
        self, collection: str, conditions: Conditions = (), *, with_vectors: bool = False
    ) -> Iterator[StoredPoint]:
        flt, offset = qdrant_filter(conditions), None
        while True:
            with engine_errors(self.location, f"reading {collection}"):
                if not self.client.collection_exists(collection):
                    return
                points, offset = self.client.scroll(
                    collection, scroll_filter=flt, limit=SCROLL, offset=offset,
                    with_payload=True, with_vectors=with_vectors,
                )  # fmt: skip
            for p in points:
                yield _stored(p, with_vectors)
            if offset is None:
                return

    def count(self, collection: str, conditions: Conditions = ()) -> int:
        with engine_errors(self.location, f"counting {collection}"):
            if not self.client.collection_exists(collection):
                return 0
            return int(
                self.client.count(
                    collection, count_filter=qdrant_filter(conditions), exact=True
                ).count
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
        query = np.asarray(vector, dtype=np.float32).tolist()
        params = models.SearchParams(exact=True) if exact and not self.local else None
        with engine_errors(self.location, f"searching {collection}"):
            got = self.client.query_points(
                collection, query=query, limit=limit, query_filter=qdrant_filter(conditions),
                with_payload=True, search_params=params,
            ).points  # fmt: skip
        return [ScoredPoint(str(p.id), float(p.score), dict(p.payload or {})) for p in got]

    # -- sparse vectors (BM25) and hybrid queries -----------------------------------------------

    def _query(self, collection: str, **request: Any) -> list[ScoredPoint]:
        with engine_errors(self.location, f"searching {collection}"):
            got = self.client.query_points(collection, with_payload=True, **request).points
        return [ScoredPoint(str(p.id), float(p.score), dict(p.payload or {})) for p in got]

    def search_sparse(
        self, collection: str, vector: SparseVector, limit: int, conditions: Conditions = ()
    ) -> list[ScoredPoint]:
        return self._query(
            collection, query=_sparse(vector), using=SPARSE_VECTOR, limit=limit,
            query_filter=qdrant_filter(conditions),
        )  # fmt: skip

    def search_hybrid(
        self, collection: str, dense: np.ndarray, sparse: SparseVector, limit: int,
        conditions: Conditions = (), *, prefetch: int, exact: bool = False,
    ) -> list[ScoredPoint]:  # fmt: skip
        flt = qdrant_filter(conditions)
        params = models.SearchParams(exact=True) if exact and not self.local else None
        stages = [
            models.Prefetch(query=np.asarray(dense, dtype=np.float32).tolist(), limit=prefetch,
                            filter=flt, params=params),
            models.Prefetch(query=_sparse(sparse), using=SPARSE_VECTOR, limit=prefetch, filter=flt),
        ]  # fmt: skip
        fusion = models.RrfQuery(rrf=models.Rrf(k=RRF_K))
        return self._query(collection, prefetch=stages, query=fusion, limit=limit)

    def set_sparse(
        self, collection: str, ids: Sequence[str], sparse: Sequence[SparseVector]
    ) -> None:
        if not ids:
            return
        rows = [
            models.PointVectors(id=i, vector={SPARSE_VECTOR: _sparse(v)})
            for i, v in zip(ids, sparse, strict=True)
        ]
        op = models.UpdateVectorsOperation(update_vectors=models.UpdateVectors(points=rows))
        self._batch(collection, [op])

    def add_sparse(self, collection: str) -> bool:
        # qdrant-client cannot add a vector name to an existing collection (neither local mode
        # nor a server through update_collection): only collections created with it have it.
        return self.index_state(collection).sparse

    def sync(self, collections: Sequence[str]) -> None:
        return None  # local mode commits each call; a server acknowledges with wait=True

    def index_state(self, collection: str) -> VectorIndexState:
        with engine_errors(self.location, f"reading {collection}"):
            info = self.client.get_collection(collection)
        params = info.config.params.vectors
        dim = int(params.size) if isinstance(params, models.VectorParams) else 0
        indexed = 0 if self.local else int(info.indexed_vectors_count or 0)
        quantized = getattr(params, "quantization_config", None)
        kind = (
            "int8" if isinstance(quantized, models.ScalarQuantization)
            else "binary" if isinstance(quantized, models.BinaryQuantization) else None
        )  # fmt: skip
        sparse = SPARSE_VECTOR in (info.config.params.sparse_vectors or {})
        return VectorIndexState(
            int(info.points_count or 0), indexed, dim, False, quantization=kind, sparse=sparse
        )

    def build_index(self, collection: str) -> bool:
        return False  # local mode has no HNSW; a server's optimizer builds it on its own

    def close(self) -> None:
        with engine_errors(self.location, "closing"):
            self.client.close()


def _quantization(quantize: str | None) -> Any:
    """qdrant-client's quantization config for an encoder's ``quantize`` setting."""
    if quantize is None:
        return None
    if quantize == "int8":
        return models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, quantile=1.0, always_ram=True
            )
        )
    if quantize == "binary":
        return models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True))
    raise StoreError(f"unknown quantization {quantize!r}; use int8 or binary")


def _upsert_named(
    ids: Sequence[str], vectors: np.ndarray | None, payloads: Sequence[dict[str, Any]],
    sparse: Sequence[SparseVector],
) -> models.UpsertOperation:  # fmt: skip
    """Points with named vectors: the unnamed dense one (if any) and the BM25 sparse one."""
    rows: list[Any] = (
        [None] * len(ids) if vectors is None else np.asarray(vectors, np.float32).tolist()
    )
    points = []
    for i, v, sv, p in zip(ids, rows, sparse, payloads, strict=True):
        named: dict[str, Any] = {SPARSE_VECTOR: _sparse(sv)}
        if v is not None:
            named[""] = v
        points.append(models.PointStruct(id=i, vector=named, payload=dict(p)))
    return models.UpsertOperation(upsert=models.PointsList(points=points))
