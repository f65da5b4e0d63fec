"""Best chunk per document: the over-fetching algorithm against brute force and Qdrant's groups."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from qdrant_client import models

from ingest.write import DocumentWrite
from search.grouping import MIN_FETCH, best_per_document
from search.store import Where, open_store

DIM = 16


def _ranked(rng: np.random.Generator, n_docs: int, heavy: int) -> list[tuple[str, float]]:
    """(doc, score) chunks best first; doc 0 has ``heavy`` chunks that all score highest."""
    chunks = [("d0", 10.0 + rng.random()) for _ in range(heavy)]
    for d in range(1, n_docs):
        chunks += [(f"d{d}", float(rng.random())) for _ in range(int(rng.integers(1, 6)))]
    return sorted(chunks, key=lambda c: -c[1])


def _brute(chunks: list[tuple[str, float]], k: int) -> list[tuple[str, float]]:
    best: dict[str, tuple[str, float]] = {}
    for c in chunks:
        if c[0] not in best or c[1] > best[c[0]][1]:
            best[c[0]] = c
    return sorted(best.values(), key=lambda c: -c[1])[:k]


@pytest.mark.parametrize("seed", range(20))
def test_same_as_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    chunks = _ranked(rng, n_docs=int(rng.integers(1, 60)), heavy=int(rng.integers(0, 400)))
    for k in (1, 3, 10, 50):
        limits: list[int] = []

        def fetch(limit: int, limits: list[int] = limits) -> list[tuple[str, float]]:
            limits.append(limit)
            return chunks[:limit]

        got = best_per_document(fetch, k, lambda c: c[0])
        assert got == _brute(chunks, k)
        assert limits[0] == max(4 * k, MIN_FETCH)
        assert all(b == 4 * a for a, b in itertools.pairwise(limits))
        assert limits[-1] <= 4 * max(len(chunks), limits[0])  # stops once everything was seen


def test_one_long_document_filling_the_top_costs_a_few_refetches() -> None:
    chunks = [("long", 1.0 - i * 1e-4) for i in range(1000)] + [("a", 0.5), ("b", 0.4)]
    calls: list[int] = []

    def fetch(limit: int) -> list[tuple[str, float]]:
        calls.append(limit)
        return chunks[:limit]

    assert [c[0] for c in best_per_document(fetch, 3, lambda c: c[0])] == ["long", "a", "b"]
    assert calls == [32, 128, 512, 2048]


def test_fewer_documents_than_k_returns_them_all() -> None:
    chunks = [("a", 0.9), ("b", 0.8), ("a", 0.7)]
    assert best_per_document(lambda n: chunks[:n], 10, lambda c: c[0]) == [("a", 0.9), ("b", 0.8)]
    assert best_per_document(lambda n: [], 5, lambda c: c) == []


def _doc(doc_id: str, vecs: np.ndarray, filetype: str) -> DocumentWrite:
    n = len(vecs)
    chunks = tuple(
        {"doc_id": doc_id, "source": doc_id, "filetype": filetype, "title": doc_id, "page": None,
         "section": None, "chunk": i, "n_chunks": n, "text": f"{doc_id} {i}", "start_char": i}
        for i in range(n)
    )  # fmt: skip
    manifest = {"state": "complete", "source": doc_id, "filetype": filetype, "title": doc_id,
                "n_chunks": n, "size": 1, "mtime_ns": 1, "sha256": "0" * 64, "encoders": ["e"]}  # fmt: skip
    return DocumentWrite(doc_id, manifest, chunks, {"e": vecs}, True)


def test_store_doc_level_equals_qdrant_groups(tmp_path) -> None:
    """Differential: Store.query(level doc) on Edge == qdrant-client's query_points_groups."""
    rng = np.random.default_rng(7)
    query = rng.normal(size=DIM).astype(np.float32)
    query /= np.linalg.norm(query)
    docs = []
    for d in range(120):
        n = 200 if d == 0 else int(rng.integers(1, 8))
        v = rng.normal(size=(n, DIM)).astype(np.float32)
        if d == 0:  # a long document whose chunks all sit near the query
            v = query + 0.05 * v
        docs.append(
            _doc(
                f"doc{d:03}", v / np.linalg.norm(v, axis=1, keepdims=True), "md" if d % 3 else "pdf"
            )
        )
    info = {"name": "e", "family": "encoder", "model_id": "m", "revision": "r", "dim": DIM,
            "attention": "bidirectional", "pooling": "mean", "max_tokens": 64, "long_policy": "truncate"}  # fmt: skip
    with (
        open_store(path=tmp_path / "s") as store,
        open_store(path=tmp_path / "ref", engine="qdrant-local") as ref,
    ):
        assert store.engine_name == "edge"
        for s in (store, ref):
            s.ensure_index("i", {"mode": "whole"})
            s.add_encoder("i", info)
            s.write_documents("i", docs)
        collection = ref.index_record("i")["collections"]["e"]
        for k, where, flt in [
            (1, None, None),
            (10, None, None),
            (25, Where(filetypes=("pdf",)), models.Filter(must=[models.FieldCondition(
                key="filetype", match=models.MatchAny(any=["pdf"]))])),
            (500, None, None),
        ]:  # fmt: skip
            ours = store.query("i", "e", query, k, group_by_doc=True, where=where)
            groups = ref.engine.client.query_points_groups(
                collection, query=query.tolist(), group_by="doc_id", limit=k, group_size=1,
                query_filter=flt, with_payload=True,
            ).groups  # fmt: skip
            theirs = sorted(((g.hits[0].payload["doc_id"], g.hits[0].payload["chunk"], g.hits[0].score)
                             for g in groups), key=lambda t: -t[2])  # fmt: skip
            assert [(h.doc_id, h.chunk) for h in ours] == [(d, c) for d, c, _ in theirs], k
            assert [h.score for h in ours] == pytest.approx([s for _, _, s in theirs], abs=1e-6)
        assert len(store.query("i", "e", query, 500)) == 120
