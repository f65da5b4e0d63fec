"""BM25 (``-e bm25``) and hybrid (``hybrid:DENSE,bm25``): analysis, ranking against a reference
BM25 implementation, reciprocal rank fusion inside the engine, and the ingest paths that put
BM25 vectors beside dense ones."""

from __future__ import annotations

import math
from typing import Any

import bm25s
import numpy as np
import pytest

from encoders import load_encoder
from encoders.bm25 import AVG_LEN, K1, Analyzer, B, BM25Encoder, term_id
from ingest.write import DocumentWrite
from search.engines.base import RRF_K
from search.errors import EncoderNotInIndexError, QueryError
from search.hybrid import HYBRID_PREFETCH, HybridQuery, hybrid_parts
from search.store import open_store

CORPUS = [
    "Aspirin reduces the risk of heart attacks in adults over fifty.",
    "The heart pumps blood through arteries and veins.",
    "Regular running strengthens the heart and lowers blood pressure.",
    "Runners who ran marathons showed lower resting heart rates.",
    "Vitamin D deficiency is common in northern countries during winter.",
    "Sunlight exposure lets the skin produce vitamin D.",
    "Vitamin C does not prevent the common cold, a large trial found.",
    "Colds are caused by rhinoviruses and spread by contact.",
    "Smoking damages the lungs and raises the risk of lung cancer.",
    "Lung cancer screening with low-dose CT reduces mortality in smokers.",
    "The patient's blood sugar was controlled with insulin.",
    "Insulin resistance precedes type 2 diabetes by many years.",
    "Diabetes raises the risk of heart disease and stroke.",
    "A stroke happens when blood flow to the brain is blocked.",
    "Coffee drinkers had a slightly lower risk of type 2 diabetes.",
    "Green tea and coffee both contain caffeine and antioxidants.",
    "Antioxidant supplements did not reduce cancer incidence.",
    "Sleep deprivation impairs memory and raises blood pressure.",
    "Children need more sleep than adults; teenagers need nine hours.",
    "Memory consolidation happens during deep sleep.",
]
QUERIES = [
    "heart risk",
    "vitamin D from sunlight",
    "does coffee lower diabetes risk",
    "lung cancer smokers screening",
    "sleep memory",
    "running runners ran",
]


def _chunks(doc_id: str, text: str) -> tuple[dict[str, Any], ...]:
    return ({"doc_id": doc_id, "source": doc_id, "filetype": "txt", "title": None, "page": None,
             "section": None, "chunk": 0, "n_chunks": 1, "text": text, "start_char": 0},)  # fmt: skip


def _manifest(doc_id: str, encoders: list[str]) -> dict[str, Any]:
    return {"state": "complete", "source": doc_id, "filetype": "txt", "title": None, "n_chunks": 1,
            "size": 1, "mtime_ns": 1, "sha256": doc_id, "encoders": encoders}  # fmt: skip


def test_analysis_is_lucene_english_like():
    a = Analyzer()
    assert a.terms("The runners' RUNNING and the runner's run") == [
        "runner",
        "run",
        "runner",
        "run",
    ]
    assert a.terms("it is not such a thing") == ["thing"]  # Lucene's stop words
    assert a.terms("p<0.05 in") == ["p", "0.05"]
    text = "Hello, world: don't stop the U.S. economy."
    words = ["Hello", "world", "don't", "stop", "the", "U.S", "economy"]
    assert [text[s:e] for s, e in a.spans(text)] == words
    assert term_id("run") == term_id("run") != term_id("runner")


def test_vectors_are_the_bm25_weights_and_the_query_counts():
    enc = BM25Encoder(avg_len=4.0)
    (doc,) = enc.encode_documents(["cats chase cats and mice"])
    norm = K1 * (1 - B + B * 4 / 4.0)  # terms: cat, chase, cat, mice
    assert doc.as_dict() == pytest.approx(
        {
            term_id("cat"): 2 / (2 + norm),
            term_id("chase"): 1 / (1 + norm),
            term_id("mice"): 1 / (1 + norm),
        }
    )
    assert list(doc.indices) == sorted(doc.indices)
    (query,) = enc.encode_queries(["cat cats mice"], instruction="ignored")
    assert query.as_dict() == {term_id("cat"): 2.0, term_id("mice"): 1.0}
    assert enc.encode_documents(["the and of"])[0].indices == ()
    assert load_encoder("bm25").info.as_dict()["avg_len"] == AVG_LEN


def _bm25_index(store: Any, enc: BM25Encoder) -> None:
    store.ensure_index(
        "ref", {"mode": "whole", "chunk_tokens": None, "overlap": None, "tokenizer": None}
    )
    store.add_encoder("ref", enc.info.as_dict())
    vectors = enc.encode_documents(CORPUS)
    docs = [
        DocumentWrite(
            f"d{i:02}", _manifest(f"d{i:02}", ["bm25"]), _chunks(f"d{i:02}", t), {"bm25": [v]}
        )
        for i, (t, v) in enumerate(zip(CORPUS, vectors, strict=True))
    ]
    store.write_documents("ref", docs)


@pytest.mark.parametrize("engine", ["edge", "qdrant-local"])
def test_bm25_ranks_and_scores_like_the_reference_implementation(tmp_path, engine):
    """Scores from Qdrant (document weights x its IDF modifier) equal bm25s' Lucene BM25."""
    analyzer = Analyzer()
    tokens = [analyzer.terms(t) for t in CORPUS]
    reference = bm25s.BM25(method="lucene", k1=K1, b=B)
    reference.index(tokens, show_progress=False)
    enc = BM25Encoder(avg_len=float(np.mean([len(t) for t in tokens])))  # Lucene's live mean
    with open_store(tmp_path / "s", engine=engine) as store:
        _bm25_index(store, enc)
        for query in QUERIES:
            terms = analyzer.terms(query)
            assert len(set(terms)) == len(terms)
            want = reference.get_scores(terms)
            (qvec,) = enc.encode_queries([query])
            hits = store.query("ref", "bm25", qvec, len(CORPUS), group_by_doc=False)
            got = {h.doc_id: h.score for h in hits}
            expected = {f"d{i:02}": float(s) for i, s in enumerate(want) if s > 0}
            assert set(got) == set(expected), query
            assert got == pytest.approx(expected, rel=1e-5), query
            assert [h.score for h in hits] == sorted(got.values(), reverse=True)


def _hybrid_store(tmp_path, engine, rng):
    enc = BM25Encoder()
    store = open_store(tmp_path / engine, engine=engine)
    store.ensure_index(
        "h", {"mode": "whole", "chunk_tokens": None, "overlap": None, "tokenizer": None}
    )
    store.add_encoder("h", {"name": "dense", "family": "encoder", "model_id": "m", "revision": "r",
                            "dim": 8, "attention": "bidirectional", "pooling": "mean",
                            "max_tokens": 64, "long_policy": "truncate"})  # fmt: skip
    store.add_encoder("h", enc.info.as_dict())
    dense = rng.normal(size=(len(CORPUS), 8)).astype(np.float32)
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    sparse = enc.encode_documents(CORPUS)
    docs = [
        DocumentWrite(
            f"d{i:02}",
            _manifest(f"d{i:02}", ["dense", "bm25"]),
            _chunks(f"d{i:02}", t),
            {"dense": dense[i : i + 1], "bm25": [sparse[i]]},
        )
        for i, t in enumerate(CORPUS)
    ]
    store.write_documents("h", docs)
    return store, enc


@pytest.mark.parametrize("engine", ["edge", "qdrant-local"])
def test_hybrid_is_reciprocal_rank_fusion_of_its_parts(tmp_path, engine):
    rng = np.random.default_rng(3)
    store, enc = _hybrid_store(tmp_path, engine, rng)
    with store:
        assert store.index_record("h")["with_bm25"] == ["dense"]
        for query in QUERIES:
            dense_q = rng.normal(size=8).astype(np.float32)
            (sparse_q,) = enc.encode_queries([query])
            by_dense = store.query(
                "h", "dense", dense_q, HYBRID_PREFETCH, group_by_doc=False, exact=True
            )
            by_bm25 = store.query("h", "bm25", sparse_q, HYBRID_PREFETCH, group_by_doc=False)
            fused: dict[str, float] = {}
            for ranking in (by_dense, by_bm25):
                for rank, h in enumerate(ranking):  # Qdrant counts ranks from 0
                    fused[h.doc_id] = fused.get(h.doc_id, 0.0) + 1.0 / (RRF_K + rank)
            hits = store.query("h", "hybrid:dense,bm25", HybridQuery(dense_q, sparse_q), 5,
                               group_by_doc=False, exact=True)  # fmt: skip
            assert len(hits) == 5
            assert {h.doc_id: h.score for h in hits} == pytest.approx(
                {h.doc_id: fused[h.doc_id] for h in hits}, rel=1e-6
            )
            best = sorted(fused.values(), reverse=True)[:5]
            assert [h.score for h in hits] == pytest.approx(best, rel=1e-6)


def test_hybrid_names_and_their_errors(tmp_path):
    assert (
        hybrid_parts("hybrid:minilm,bm25")
        == hybrid_parts("hybrid:bm25,minilm")
        == ("minilm", "bm25")
    )
    for bad in ("hybrid:minilm", "hybrid:minilm,dream", "hybrid:bm25,bm25", "hybrid:a,b,bm25"):
        with pytest.raises(QueryError):
            hybrid_parts(bad)
    store, enc = _hybrid_store(tmp_path, "edge", np.random.default_rng(0))
    with store:
        info = store.encoder_info("h", "hybrid:bm25,dense")
        assert (info["name"], info["kind"], info["dim"]) == ("hybrid:dense,bm25", "hybrid", 8)
        with pytest.raises(EncoderNotInIndexError, match="minilm"):
            store.encoder_info("h", "hybrid:minilm,bm25")
        with pytest.raises(QueryError, match="SparseVector"):
            store.query("h", "bm25", np.zeros(8, np.float32), 3)
        # dense vectors written without BM25 beside them (as before BM25 existed)
        record = store.index_record("h")
        store._put_record("h", {**record, "with_bm25": []})
        with pytest.raises(QueryError, match="without BM25 beside them"):
            q = HybridQuery(np.ones(8, np.float32), enc.encode_queries(["heart"])[0])
            store.query("h", "hybrid:dense,bm25", q, 3)


def _bm25_by_formula(query: str) -> list[str]:
    """Document ids by BM25 computed here from the formula (IDF over CORPUS, avg_len AVG_LEN)."""
    a = Analyzer()
    docs = [a.terms(t) for t in CORPUS]
    n = len(docs)

    def score(d: list[str]) -> float:
        out = 0.0
        for t in a.terms(query):
            df = sum(t in x for x in docs)
            if t in d:
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                tf = d.count(t)
                out += idf * tf / (tf + K1 * (1 - B + B * len(d) / AVG_LEN))
        return out

    scores = {f"d{i:02}": score(d) for i, d in enumerate(docs)}
    return [k for k, v in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])) if v > 0]


def test_ingested_bm25_searches_like_the_formula_and_extends_an_index(tmp_path, minilm):
    """-e bm25 through the pipeline and the service; then adding it to a MiniLM index (its BM25
    vectors set beside the stored dense ones) gives the same hybrid results as both at once."""
    from ingest.pipeline import ingest_records
    from ingest.report import Record
    from search.service import SearchService

    records = [Record(doc_id=f"d{i:02}", text=t) for i, t in enumerate(CORPUS)]
    with open_store(tmp_path / "a") as store:
        ingest_records(records, index="both", encoders=[minilm, "bm25"], store=store)
        ingest_records(records, index="late", encoders=[minilm], store=store)
        report = ingest_records(records, index="late", encoders=["bm25"], store=store)
        assert report.as_dict()["encoder_added"] == {"bm25": len(CORPUS)}
        ingest_records(records, index="first", encoders=["bm25"], store=store)
        ingest_records(records, index="first", encoders=[minilm], store=store)
        service = SearchService(store)
        for query in QUERIES:
            hits = service.search(query, index="both", encoder="bm25", k=20).keys
            want = _bm25_by_formula(query)
            assert hits == want, query
            # every document (the dense side ranks them all), tied fused scores in id order
            runs = {
                index: _tied(
                    service.search(query, index=index, encoder="hybrid:minilm,bm25", k=len(CORPUS))
                )
                for index in ("both", "late", "first")
            }
            assert len(runs["both"]) == len(CORPUS)
            assert runs["both"] == runs["late"] == runs["first"], query
        compared = service.compare(
            "heart risk", index="both", encoders=["hybrid:minilm,bm25", "bm25"], k=5
        )
        assert (
            compared.left.encoder["kind"] == "hybrid" and compared.right.encoder["kind"] == "sparse"
        )
        n = len(CORPUS)
        many = service.search_many(QUERIES, index="both", encoder="hybrid:minilm,bm25", k=n)
        one = [service.search(q, index="both", encoder="hybrid:minilm,bm25", k=n) for q in QUERIES]
        assert [_tied(r) for r in many] == [_tied(r) for r in one]


def _tied(result: Any) -> list[tuple[float, str]]:
    """Hits as (score, key) with equal fused scores in key order (the engine breaks ties freely)."""
    return sorted((-round(h.hit.score, 6), h.key) for h in result.hits)


def test_migrate_carries_bm25_and_hybrid_over_to_edge(tmp_path):
    """A local-mode store with BM25 beside dense vectors, migrated: the same BM25 and hybrid
    hits on Edge (the copy is verified sparse vector by sparse vector)."""
    from search.migrate import migrate_store

    rng = np.random.default_rng(9)
    path = tmp_path / "old"
    store, enc = _hybrid_store(path.parent, "qdrant-local", rng)
    store.close()
    (tmp_path / "qdrant-local").rename(path)
    queries = [(rng.normal(size=8).astype(np.float32), enc.encode_queries([q])[0]) for q in QUERIES]

    def hits(s: Any) -> list[list[tuple[str, float]]]:
        out = []
        for dense, sparse in queries:
            for name, vec in (("bm25", sparse), ("hybrid:dense,bm25", HybridQuery(dense, sparse))):
                got = s.query("h", name, vec, 5, group_by_doc=False, exact=True)
                out.append(sorted((h.doc_id, round(h.score, 5)) for h in got))
        return out

    with open_store(path, engine="qdrant-local") as old:
        before = hits(old)
    migrate_store(path)
    with open_store(path) as new:
        assert new.engine_name == "edge"
        assert hits(new) == before
