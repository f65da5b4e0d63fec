"""Hybrid retrieval: a dense encoder and BM25 fused by reciprocal rank inside Qdrant.

``hybrid:minilm,bm25`` names one retriever that users compare like an encoder (search, compare,
eval, the web UI). It needs no vectors of its own: the dense encoder's collection also carries
each chunk's BM25 sparse vector (``encoders.bm25``), so one engine query prefetches the top
:data:`HYBRID_PREFETCH` chunks by cosine and by BM25 and fuses the two lists by reciprocal rank
(``search.engines.base.RRF_K``), on Edge, in qdrant-client's local mode and on a server alike.

This module is pure: name parsing, the synthesised record, the query pair and the encoder that
embeds a query both ways. The store runs the query (``Store.query``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from encoders.bm25 import BM25_NAME, SparseVector, is_sparse
from search.engines.base import RRF_K
from search.errors import QueryError

PREFIX = "hybrid:"
#: Chunks each side contributes to the fusion (and at least the query's own limit): deep enough
#: that a chunk ranked well by one side only still scores, as in Cormack et al.'s runs.
HYBRID_PREFETCH = 100


def is_hybrid(name: str) -> bool:
    return name.startswith(PREFIX)


def hybrid_parts(name: str) -> tuple[str, str]:
    """``(dense, sparse)`` encoder names of ``hybrid:DENSE,bm25`` (either order).

    Raises:
        QueryError: Not two names, or not exactly one of them BM25.
    """
    parts = [p.strip() for p in name[len(PREFIX) :].split(",")]
    if len(parts) != 2 or not all(parts):
        raise QueryError(
            f"a hybrid retriever names two encoders, a dense one and bm25 "
            f"(e.g. hybrid:minilm,{BM25_NAME}), not {name!r}"
        )
    sparse = [p for p in parts if p == BM25_NAME]
    if len(sparse) != 1:
        raise QueryError(f"{name!r}: a hybrid retriever fuses one dense encoder with {BM25_NAME}")
    dense = next(p for p in parts if p != BM25_NAME)
    return dense, BM25_NAME


def hybrid_name(dense: str, sparse: str = BM25_NAME) -> str:
    """The canonical name: dense encoder first."""
    return f"{PREFIX}{dense},{sparse}"


def hybrid_info(dense: Mapping[str, Any], sparse: Mapping[str, Any]) -> dict[str, Any]:
    """The record of a hybrid retriever, from its parts' recorded ``EncoderInfo`` dicts.

    Raises:
        QueryError: The dense part is not dense or the sparse part not sparse.
    """
    if is_sparse(dense) or not is_sparse(sparse):
        raise QueryError(
            f"hybrid needs a dense encoder and {BM25_NAME}, not {dense.get('name')!r} and "
            f"{sparse.get('name')!r}"
        )
    name = hybrid_name(str(dense["name"]), str(sparse["name"]))
    return {
        "name": name, "kind": "hybrid", "family": "hybrid", "model_id": name, "revision": "",
        "dim": int(dense["dim"]), "attention": dense.get("attention"), "pooling": dense.get("pooling"),
        "max_tokens": dense.get("max_tokens"), "long_policy": dense.get("long_policy"),
        "fusion": f"rrf(k={RRF_K}, prefetch={HYBRID_PREFETCH})",
        "dense": dict(dense), "sparse": dict(sparse),
    }  # fmt: skip


@dataclass(frozen=True)
class HybridQuery:
    """A query embedded both ways: ``dense`` (dim,) float32 and its BM25 ``sparse`` terms."""

    dense: np.ndarray
    sparse: SparseVector


class HybridEncoder:
    """Embeds queries with the dense encoder and BM25 (documents are never embedded by it).

    Args:
        info: :func:`hybrid_info`'s record.
        load: Turns a part's recorded info into its loaded encoder (the service's loader).
    """

    def __init__(self, info: Mapping[str, Any], load: Callable[[dict[str, Any]], Any]) -> None:
        self.info_dict = dict(info)
        self.name = str(info["name"])
        self.dim = int(info["dim"])
        self.dense = load(dict(info["dense"]))
        self.sparse = load(dict(info["sparse"]))

    def encode_queries(
        self, texts: Sequence[str], instruction: str | None = None
    ) -> list[HybridQuery]:
        dense = self.dense.encode_queries(list(texts), instruction=instruction)
        sparse = self.sparse.encode_queries(list(texts))
        return [HybridQuery(np.asarray(d), s) for d, s in zip(dense, sparse, strict=True)]


def retriever_tags(info: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(kind, label)`` pairs that describe a retriever in listings: a dense encoder's family,
    attention and pooling; BM25's parameters; a hybrid's parts and fusion."""
    kind = info.get("kind")
    if kind == "sparse":
        return [("family", "bm25"), ("attention", f"k1 {info.get('k1')}, b {info.get('b')}")]
    if kind == "hybrid":
        dense = info.get("dense") or {}
        return [("family", "hybrid"), ("attention", f"{dense.get('name')} + bm25, RRF")]
    return [(k, str(info[k])) for k in ("family", "attention", "pooling") if info.get(k)]


def retrievers(encoders: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The hybrid retrievers an index offers: ``(dense, sparse)`` for each dense encoder, when
    the index has BM25 (``encoders``: its recorded encoder infos by name)."""
    sparse = [n for n, i in encoders.items() if is_sparse(i)]
    return [(n, sparse[0]) for n, i in encoders.items() if sparse and not is_sparse(i)]
