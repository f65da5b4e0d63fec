"""The engine seam: collection-level primitives every engine implements.

:class:`search.store.Store` holds everything that makes an index (record, manifest, write order,
document grouping, errors that say what to do) and talks to exactly one :class:`Engine`:

* :class:`search.engines.edge.EdgeEngine`: Qdrant Edge, one shard folder per collection
  (the embedded default);
* :class:`search.engines.qdrant.QdrantEngine`: qdrant-client, either its local mode (stores
  written before Edge) or a server over its remote client.

Engines see no index semantics: names, string ids, payload dicts, float vectors and the neutral
:data:`search.records.Conditions`. Every call an engine makes to its library goes through
:func:`search.engines.errors.engine_errors`, the one place engine exceptions are turned into
:class:`search.errors.StoreError` messages.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from encoders.bm25 import SparseVector
from search.records import Conditions, EngineName, ScoredPoint, StoredPoint

#: A collection gets an HNSW graph once it holds this many vector floats (points x dim).
#: Measured with benchmarks/store.py on 2 cores: an exact scan costs ~0.25 ms per million floats
#: (100k x 384: 9.8 ms; 20k x 3,584: 20 ms; 20k x 384: 1.6 ms), and HNSW answers in 1-5 ms
#: but takes 6 s (20k x 384) to 45 s (100k x 384) to build. Below ~20 M floats a scan is under
#: 5 ms and a graph saves a user nothing worth the build; above, scans grow linearly.
HNSW_MIN_FLOATS = 20_000_000
#: ... and once this many of its floats are not in the graph yet (new points since the build).
HNSW_MIN_NEW_FLOATS = HNSW_MIN_FLOATS // 10
#: Edge indexes a segment (when a build runs) from this size on: the same 2 M floats, in KB.
HNSW_SEGMENT_KB = HNSW_MIN_NEW_FLOATS * 4 // 1024

#: HNSW parameters (Edge): Qdrant's defaults for the graph, a wider search beam at query time.
#: Measured with benchmarks/hnsw.py (MiniLM vectors of SciFact + NFCorpus sentences, 200 real
#: queries, recall@10 against the exact scan): m=16, ef_construct=100 with hnsw_ef 128 gives
#: recall@10 >= 0.95 at ~0.3-1 ms, where Edge's default beam (ef = ef_construct) gives less at
#: the larger sizes; random unit vectors (no structure) need a far wider beam (README).
HNSW_M = 16
HNSW_EF_CONSTRUCT = 100
HNSW_EF = 128

#: The quantized scan index (Edge, every dense collection created since it): an int8 copy of
#: the vectors kept in RAM (Qdrant's scalar quantization, quantile 0.99), scanned in full, then
#: the best ``limit x SCAN_OVERSAMPLING`` rescored on the float32 originals; no HNSW graph
#: (``m=0``). Measured with benchmarks/store.py on random unit vectors (the worst case for any
#: approximation): recall@10 1.000 against the exact scan, 100k x 384 in ~2.5 ms (exact 14 ms),
#: 20k x 3,584 in ~3.3 ms (exact 25 ms); built in ~1 s per 40 M floats (an HNSW graph took
#: 83 s for 100k x 384 and gave recall@10 0.15 there). ``exact=True`` still reads the originals.
SCAN_QUANTILE = 0.99
SCAN_OVERSAMPLING = 3.0
#: A scan-indexed collection gets its int8 copy built once it holds this many floats (a
#: ~1.5 ms exact scan; the build then takes ~0.1 s), with :data:`HNSW_MIN_NEW_FLOATS` new.
SCAN_MIN_FLOATS = 4_000_000

#: Reciprocal rank fusion constant of hybrid queries: 1 / (RRF_K + rank) per list (Cormack et
#: al. 2009's 60, which Qdrant's ``Rrf(k=60)`` takes too; Qdrant's own default is 2).
RRF_K = 60

#: Payload fields the store filters on, with their index type (keyword or integer).
FILTER_FIELDS: dict[str, str] = {"doc_id": "keyword", "filetype": "keyword", "page": "integer"}


@dataclass(frozen=True)
class VectorIndexState:
    """How much of a collection a vector index (HNSW) covers.

    Attributes:
        points: Points in the collection.
        indexed: Points covered by an HNSW graph (the rest are scanned exactly).
        dim: Vector size.
        hnsw: Whether the engine can build HNSW itself on request (Edge); a server builds it in
            the background, qdrant-client's local mode never.
        quantization: The engine's own quantization of the collection's vectors (``int8``:
            scalar, ``binary``), or None.
    """

    points: int
    indexed: int
    dim: int
    hnsw: bool
    quantization: str | None = None
    sparse: bool = False  #: whether it holds the BM25 sparse vector
    #: ``"int8"`` where the engine keeps its own int8 copy for quantized scans (not an
    #: encoder's ``quantize``: the originals stay the vectors), else None.
    scan: str | None = None
    #: Whether the collection's index is an HNSW graph (``m`` > 0); False for a scan index.
    graph: bool = True


@dataclass(frozen=True)
class ClusterLayout:
    """How a Qdrant *server* lays out the collections this process creates (a cluster).

    None leaves a setting to the server (its defaults: 1 shard, 1 replica, consistency 1).
    Existing collections keep the layout they were created with.

    Attributes:
        shards: Shards per collection (spread over the cluster's nodes).
        replicas: Copies of each shard (on different nodes): a node may fail.
        write_consistency: Replicas that must acknowledge a write before it succeeds.
    """

    shards: int | None = None
    replicas: int | None = None
    write_consistency: int | None = None

    def is_default(self) -> bool:
        return self.shards is None and self.replicas is None and self.write_consistency is None

    def problem(self) -> str | None:
        """Why these settings cannot work (None when they can)."""
        for flag, value in (("--shards", self.shards), ("--replicas", self.replicas),
                            ("--write-consistency", self.write_consistency)):  # fmt: skip
            if value is not None and value < 1:
                return f"{flag} must be at least 1, not {value}"
        if (self.write_consistency or 1) > (self.replicas or 1):
            return (
                f"--write-consistency {self.write_consistency} needs at least as many --replicas "
                f"(have {self.replicas or 1}): a write waits for that many copies"
            )
        return None

    def create_params(self) -> dict[str, Any]:
        """``create_collection`` keyword arguments of qdrant-client (only the settings given)."""
        named = {"shard_number": self.shards, "replication_factor": self.replicas,
                 "write_consistency_factor": self.write_consistency}  # fmt: skip
        return {k: v for k, v in named.items() if v is not None}


class Engine(Protocol):
    """One vector engine, addressed by collection name."""

    name: EngineName
    location: str

    def collections(self) -> list[str]:
        """Names of every collection, sorted."""
        ...

    def exists(self, collection: str) -> bool: ...

    def create(
        self,
        collection: str,
        dim: int,
        *,
        filter_fields: bool,
        quantize: str | None = None,
        sparse: bool = False,
    ) -> None:
        """A collection of ``dim``-dimensional cosine vectors (payload indexes on
        :data:`FILTER_FIELDS` when ``filter_fields``).

        ``quantize`` (an encoder's ``quantize`` setting, ``encoders.presets.QUANTIZATIONS``)
        asks for the engine's own quantization of the stored vectors: ``int8`` scalar,
        ``binary`` one bit per dimension, kept in RAM with the float32 originals on disk for
        rescoring.

        ``dim`` 0: no dense vector. ``sparse``: also the named sparse vector
        ``encoders.bm25.SPARSE_VECTOR`` with Qdrant's IDF modifier (BM25).
        """
        ...

    def drop(self, collection: str) -> None: ...

    def write(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: np.ndarray | None,
        payloads: Sequence[dict[str, Any]],
        delete_ids: Sequence[str] = (),
        sparse: Sequence[SparseVector] | None = None,
    ) -> None:
        """Upsert points (``vectors`` of shape (len(ids), dim); ``sparse``: their BM25 vectors,
        in a collection created with ``sparse``), then delete ``delete_ids``.

        One call: its points reach disk all together (one WAL entry in Edge, one SQLite
        transaction in local mode, one request to a server).
        """
        ...

    def delete_where(self, collection: str, conditions: Conditions) -> None: ...

    def retrieve(
        self, collection: str, ids: Sequence[str], *, with_vectors: bool = False
    ) -> list[StoredPoint]:
        """The points of ``ids`` that exist, with payloads (and vectors when asked)."""
        ...

    def scroll(
        self, collection: str, conditions: Conditions = (), *, with_vectors: bool = False
    ) -> Iterator[StoredPoint]:
        """Every point matching ``conditions`` (nothing if the collection is absent)."""
        ...

    def count(self, collection: str, conditions: Conditions = ()) -> int: ...

    def search(
        self,
        collection: str,
        vector: np.ndarray,
        limit: int,
        conditions: Conditions = (),
        *,
        exact: bool = False,
    ) -> list[ScoredPoint]:
        """Nearest points by cosine, best first; ``exact`` skips any approximate index."""
        ...

    def search_sparse(
        self, collection: str, vector: SparseVector, limit: int, conditions: Conditions = ()
    ) -> list[ScoredPoint]:
        """Best points by the sparse vector's dot product times Qdrant's IDF (BM25), exact."""
        ...

    def search_hybrid(
        self, collection: str, dense: np.ndarray, sparse: SparseVector, limit: int,
        conditions: Conditions = (), *, prefetch: int, exact: bool = False,
    ) -> list[ScoredPoint]:  # fmt: skip
        """One query: the top ``prefetch`` by cosine and by BM25, fused by reciprocal rank
        (:data:`RRF_K`) inside the engine; scores are the fused ones."""
        ...

    def set_sparse(
        self, collection: str, ids: Sequence[str], sparse: Sequence[SparseVector]
    ) -> None:
        """Give existing points their BM25 vectors (dense vectors and payloads untouched); one
        call reaches disk whole, like :meth:`write`."""
        ...

    def add_sparse(self, collection: str) -> bool:
        """Declare the BM25 sparse vector on an existing collection; False if it cannot."""
        ...

    def sync(self, collections: Sequence[str]) -> None:
        """Make earlier writes to ``collections`` durable before later ones (a power cut must
        not keep a later write and lose an earlier one in another collection)."""
        ...

    def index_state(self, collection: str) -> VectorIndexState: ...

    def build_index(self, collection: str) -> bool:
        """Build the HNSW graph now (blocking); False when the engine has none to build."""
        ...

    def close(self) -> None: ...
