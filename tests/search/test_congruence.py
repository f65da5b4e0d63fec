"""Congruence: one suite of store calls on Qdrant Edge and on qdrant-client's local mode.

The same writes go through the :class:`search.vectorstore.VectorStore` protocol into both
engines, and every read after every step must agree: the same ids in the same order, the same
payloads, scores to within 1e-5 (both engines normalise and score in float32), the same
counts. Queries run with exact search, so an HNSW graph cannot be the reason two engines agree
or differ. The pattern is qdrant-client's own congruence tests (local mode against a server):
one fixture, one list of calls, a comparison per call.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from ingest.write import DocumentWrite
from search.records import Hit, Where
from search.store import Store, open_store
from search.vectorstore import VectorStore

DIMS = {"enc-a": 16, "enc-b": 24}
FILETYPES = ("md", "pdf", "txt")


def _info(name: str) -> dict[str, Any]:
    return {"name": name, "family": "encoder", "model_id": "m", "revision": "r", "dim": DIMS[name],
            "attention": "bidirectional", "pooling": "mean", "max_tokens": 64, "long_policy": "truncate"}  # fmt: skip


def _doc(
    rng: np.random.Generator, i: int, n: int, encoders: tuple[str, ...], replace: bool = True
) -> DocumentWrite:
    doc_id = f"folder/doc{i:03}.{FILETYPES[i % 3]}"
    pages = [int(p) for p in rng.integers(1, 6, size=n)] if i % 3 == 1 else [None] * n
    chunks = tuple(
        {"doc_id": doc_id, "source": doc_id, "filetype": FILETYPES[i % 3], "title": f"Doc {i}",
         "page": pages[c], "section": None if c % 2 else "Intro", "chunk": c, "n_chunks": n,
         "text": f"text {i}.{c} é", "start_char": 7 * c}
        for c in range(n)
    )  # fmt: skip
    vectors = {}
    for enc in encoders:
        v = rng.normal(size=(n, DIMS[enc])).astype(np.float32)
        vectors[enc] = v / np.linalg.norm(v, axis=1, keepdims=True)
    manifest = {"state": "complete", "source": doc_id, "filetype": FILETYPES[i % 3], "title": f"Doc {i}",
                "n_chunks": n, "size": 1000 + i, "mtime_ns": 1_733_000_000_123_456_789 + i,
                "sha256": f"{i:064x}", "encoders": list(encoders)}  # fmt: skip
    return DocumentWrite(doc_id, manifest, chunks, vectors, replace)


def _hits(hits: list[Hit]) -> list[tuple[Any, ...]]:
    return [(h.id, h.doc_id, h.chunk, h.payload, round(h.score, 5)) for h in hits]


def _scores_close(a: list[Hit], b: list[Hit]) -> None:
    assert [h.id for h in a] == [h.id for h in b]
    assert [h.payload for h in a] == [h.payload for h in b]
    assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-5)


@pytest.fixture
def stores(tmp_path):
    edge = open_store(path=tmp_path / "edge", engine="edge")
    local = open_store(path=tmp_path / "local", engine="qdrant-local")
    assert (edge.engine_name, local.engine_name) == ("edge", "qdrant-local")
    yield edge, local
    edge.close()
    local.close()


def _both(stores: tuple[Store, Store], call: Callable[[VectorStore], Any]) -> None:
    for s in stores:
        call(s)


def _where_choices(rng: np.random.Generator, doc_ids: list[str]) -> list[Where | None]:
    picks = tuple(str(d) for d in rng.choice(doc_ids, size=5, replace=False))
    return [
        None,
        Where(filetypes=("pdf",)),
        Where(filetypes=("md", "txt")),
        Where(doc_ids=picks),
        Where(page_min=2, page_max=4),
        Where(page_min=3),
        Where(doc_ids=picks, filetypes=("pdf", "md")),
        Where(doc_ids=("no/such.md",)),
    ]


def _compare_reads(stores: tuple[Store, Store], rng: np.random.Generator, index: str) -> None:
    edge, local = stores
    for s in stores:
        assert isinstance(s, VectorStore)
    # counts, listings, manifests
    a, b = edge.index_info(index), local.index_info(index)
    assert (a.documents, a.chunks, a.encoders, a.chunking) == (
        b.documents,
        b.chunks,
        b.encoders,
        b.chunking,
    )
    assert edge.documents(index) == local.documents(index)
    assert edge.manifest(index) == local.manifest(index)
    assert edge.index_record(index) == local.index_record(index)
    doc_ids = [d.doc_id for d in edge.documents(index)]
    wheres = _where_choices(rng, doc_ids)
    for enc in edge.index_record(index)["encoders"]:  # type: ignore[index]
        for where in wheres:
            assert edge.chunk_count(index, enc, where) == local.chunk_count(index, enc, where), (
                enc,
                where,
            )
        # scroll: every point, payload and vector
        pa = sorted(edge.points(index, enc, with_vectors=True), key=lambda p: p.id)
        pb = sorted(local.points(index, enc, with_vectors=True), key=lambda p: p.id)
        assert [(p.id, p.payload) for p in pa] == [(p.id, p.payload) for p in pb]
        assert np.allclose([p.vector for p in pa], [p.vector for p in pb], atol=1e-6)
        assert edge.stored_chunks(index, enc, doc_ids[:7]) == local.stored_chunks(
            index, enc, doc_ids[:7]
        )
        # queries: chunk level and document level, with and without filters, several k
        for q in range(3):
            vec = rng.normal(size=DIMS[enc]).astype(np.float32)
            if q == 0:  # right on a stored chunk: its score is 1
                vec = np.asarray(pa[len(pa) // 2].vector, dtype=np.float32)
            for where in wheres:
                for k in (3, 40):
                    for grouped in (False, True):
                        got = [s.query(index, enc, vec, k, group_by_doc=grouped, where=where, exact=True)
                               for s in stores]  # fmt: skip
                        _scores_close(*got)
                        assert len(got[0]) <= k
    for doc_id in [*doc_ids[::9], "missing.md"]:
        assert _hits(edge.document_chunks(index, doc_id)) == _hits(
            local.document_chunks(index, doc_id)
        )
    assert [i.name for i in edge.list_indexes()] == [i.name for i in local.list_indexes()]


def test_edge_and_local_mode_agree_on_every_store_call(stores):
    rng = np.random.default_rng(12)
    index = "cong"
    chunking = {"mode": "tokens", "chunk_tokens": 64, "overlap": 8, "tokenizer": "enc-a"}
    _both(stores, lambda s: s.ensure_index(index, chunking))
    _both(stores, lambda s: s.add_encoder(index, _info("enc-a")))

    def step(docs: list[DocumentWrite]) -> None:
        _both(stores, lambda s: s.write_documents(index, docs))

    # write: 45 documents of 1-12 chunks, in three batches
    sizes = [int(n) for n in rng.integers(1, 13, size=45)]
    for lo in (0, 15, 30):
        step([_doc(rng, i, sizes[i], ("enc-a",)) for i in range(lo, lo + 15)])
    _compare_reads(stores, rng, index)
    # replace: some documents shrink, some grow (stale chunks must go, in both)
    step([_doc(rng, i, 1 if i % 2 else sizes[i] + 5, ("enc-a",)) for i in range(0, 45, 4)])
    # add an encoder: vectors for the stored chunks of every document, nothing replaced
    _both(stores, lambda s: s.add_encoder(index, _info("enc-b")))
    current = {d.doc_id: d.n_chunks for d in stores[0].documents(index)}
    re_embed = []
    for i in range(45):
        d = _doc(rng, i, current[f"folder/doc{i:03}.{FILETYPES[i % 3]}"], ("enc-b",), replace=False)
        stored = stores[0].stored_chunks(index, "enc-a", [d.doc_id])[d.doc_id]
        manifest = {**stores[0].manifest(index)[d.doc_id], "encoders": ["enc-a", "enc-b"]}
        manifest.pop("kind"), manifest.pop("doc_id")
        re_embed.append(DocumentWrite(d.doc_id, manifest, tuple(stored), d.vectors, False))
    step(re_embed)
    # delete some documents
    gone = [f"folder/doc{i:03}.{FILETYPES[i % 3]}" for i in (3, 10, 11, 30)]
    _both(stores, lambda s: s.delete_documents(index, gone))
    _compare_reads(stores, rng, index)
    # a second index, then dropping the first
    _both(stores, lambda s: s.ensure_index("other", {"mode": "whole"}))
    _both(stores, lambda s: s.add_encoder("other", _info("enc-b")))
    step_other = [_doc(rng, i, 2, ("enc-b",)) for i in range(5)]
    _both(stores, lambda s: s.write_documents("other", step_other))
    _both(stores, lambda s: s.drop_index(index))
    _compare_reads(stores, rng, "other")
    assert (
        [i.name for i in stores[0].list_indexes()]
        == ["other"]
        == [i.name for i in stores[1].list_indexes()]
    )


# -- BM25 and hybrid ---------------------------------------------------------------------------

WORDS = ["heart", "blood", "risk", "running", "runner", "vitamin", "sunlight", "cancer", "lung", "sleep", "memory", "coffee", "diabetes", "insulin", "stroke", "brain", "trial", "dose", "children", "adults"]  # fmt: skip


_LENGTHS = itertools.count(2)


def _with_bm25(
    rng: np.random.Generator, doc: DocumentWrite, encoders: tuple[str, ...]
) -> DocumentWrite:
    """``doc`` with word texts and, among ``encoders``, BM25 vectors of them. Every chunk has
    its own length, so no two BM25 scores tie (engines may order ties differently, and a tie in
    a prefetch would change the fused ranks)."""
    from encoders.bm25 import load_bm25

    chunks = tuple(
        {**c, "text": " ".join(rng.choice(WORDS, size=next(_LENGTHS)))} for c in doc.chunks
    )
    vectors = {e: v for e, v in doc.vectors.items() if e in encoders}
    if "bm25" in encoders:
        vectors["bm25"] = load_bm25().encode_documents([c["text"] for c in chunks])
    manifest = {**doc.manifest, "encoders": list(encoders)}
    return DocumentWrite(doc.doc_id, manifest, chunks, vectors, doc.replace)


def _same_ranking(a: list[Hit], b: list[Hit], grouped: bool, tol: float = 1e-5) -> None:
    """Both engines rank the same hits with the same scores (so in the same order, up to
    equal scores): every hit not tied with the last one is on both sides with its score.
    Grouped, hits are compared by document: two chunks of a document can tie on a fused score
    (ranks r1, r2 and r2, r1), and either may stand for it."""
    assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=tol)
    if not a:
        return

    def by_key(hits: list[Hit]) -> dict[str, float]:
        return {h.doc_id if grouped else h.id: h.score for h in hits}

    other = by_key(b)
    for key, score in by_key(a).items():
        if abs(score - a[-1].score) > tol:
            assert other.get(key) == pytest.approx(score, abs=tol), key


def _compare_lexical(
    stores: tuple[Store, Store], rng: np.random.Generator, index: str, *, scores: bool = True
) -> None:
    """Stored BM25 vectors agree; so do BM25 and hybrid rankings and scores (``scores``), or,
    after deletions, which live chunks can be found (Edge's IDF counts deleted points until
    the shard is vacuumed: see test_edge_idf_counts_deleted_points_until_vacuumed)."""
    from encoders.bm25 import load_bm25
    from search.hybrid import HybridQuery

    edge, local = stores
    assert edge.index_record(index) == local.index_record(index)
    bm25 = load_bm25()
    pa = sorted(edge.points(index, "bm25", with_vectors=True), key=lambda p: p.id)
    pb = sorted(local.points(index, "bm25", with_vectors=True), key=lambda p: p.id)
    assert [(p.id, p.payload, p.vector) for p in pa] == [(p.id, p.payload, p.vector) for p in pb]
    assert all(p.sparse for p in pa)  # Edge keeps float32 weights, local mode float64
    assert [p.sparse.indices for p in pa] == [p.sparse.indices for p in pb]  # type: ignore[union-attr]
    for x, y in zip(pa, pb, strict=True):
        assert x.sparse.values == pytest.approx(y.sparse.values, abs=1e-6)  # type: ignore[union-attr]
    wheres = _where_choices(rng, [d.doc_id for d in edge.documents(index)])
    live = {p.id for p in pa}
    for _ in range(3):
        (sparse,) = bm25.encode_queries([" ".join(rng.choice(WORDS, size=3))])
        dense = rng.normal(size=DIMS["enc-a"]).astype(np.float32)
        for where in wheres:
            for k in (3, 40):
                for grouped in (False, True):
                    for enc, vec in (
                        ("bm25", sparse),
                        ("hybrid:enc-a,bm25", HybridQuery(dense, sparse)),
                    ):
                        got = [s.query(index, enc, vec, k, group_by_doc=grouped, where=where, exact=True)
                               for s in stores]  # fmt: skip
                        assert len(got[0]) == len(got[1]) <= k
                        assert {h.id for h in got[0] + got[1]} <= live
                        if scores:
                            _same_ranking(*got, grouped)


def test_edge_and_local_mode_agree_on_bm25_and_hybrid(stores):
    from encoders.bm25 import load_bm25

    rng = np.random.default_rng(5)
    chunking = {"mode": "tokens", "chunk_tokens": 64, "overlap": 8, "tokenizer": "enc-a"}
    both = ("enc-a", "bm25")
    for index in ("lex", "late"):
        _both(stores, lambda s, index=index: s.ensure_index(index, chunking))
        _both(stores, lambda s, index=index: s.add_encoder(index, _info("enc-a")))
    _both(stores, lambda s: s.add_encoder("lex", load_bm25().info.as_dict()))
    sizes = [int(n) for n in rng.integers(1, 9, size=30)]
    docs = [_with_bm25(rng, _doc(rng, i, sizes[i], ("enc-a",)), both) for i in range(30)]
    _both(stores, lambda s: s.write_documents("lex", docs))
    _compare_lexical(stores, rng, "lex")
    # replace with more chunks (every point overwritten): still the same scores
    grown = [_with_bm25(rng, _doc(rng, i, sizes[i] + 3, ("enc-a",)), both) for i in range(0, 30, 4)]
    _both(stores, lambda s: s.write_documents("lex", grown))
    _compare_lexical(stores, rng, "lex")
    # shrink and delete: stale BM25 points go with the dense ones, in both engines
    shrunk = [_with_bm25(rng, _doc(rng, i, 1, ("enc-a",)), both) for i in range(2, 30, 4)]
    _both(stores, lambda s: s.write_documents("lex", shrunk))
    _both(stores, lambda s: s.delete_documents("lex", [docs[5].doc_id, docs[6].doc_id]))
    _compare_lexical(stores, rng, "lex", scores=False)
    # bm25 added to an index of dense vectors: set beside the stored points
    dense_docs = [
        _with_bm25(rng, _doc(rng, i, sizes[i], ("enc-a",)), ("enc-a",)) for i in range(30)
    ]
    _both(stores, lambda s: s.write_documents("late", dense_docs))
    _both(stores, lambda s: s.add_encoder("late", load_bm25().info.as_dict()))
    added = [
        DocumentWrite(d.doc_id, {**d.manifest, "encoders": list(both)}, d.chunks,
                      {"bm25": load_bm25().encode_documents([c["text"] for c in d.chunks])}, False)
        for d in dense_docs
    ]  # fmt: skip
    _both(stores, lambda s: s.write_documents("late", added))
    assert stores[0].index_record("late")["with_bm25"] == ["enc-a"]
    _compare_lexical(stores, rng, "late")


def test_edge_idf_counts_deleted_points_until_vacuumed(tmp_path):
    """A measured difference between the engines, documented in the README: Qdrant Edge 0.9.0
    keeps deleted points in its IDF's N (the points count) until a vacuum rewrites the segment;
    qdrant-client's local mode counts the live points. If this starts failing, Edge has changed:
    update the README's BM25 section and compare scores after deletions in the test above."""
    import math

    from encoders.bm25 import SparseVector

    stores = [open_store(tmp_path / e, engine=e) for e in ("edge", "qdrant-local")]
    term = SparseVector((7,), (1.0,))
    for s in stores:
        s.engine.create("c", 0, filter_fields=False, sparse=True)
        ids = [str(uuid.uuid5(uuid.NAMESPACE_DNS, str(i))) for i in range(4)]
        rows = [term, term, SparseVector((8,), (1.0,)), SparseVector((8,), (1.0,))]
        s.engine.write("c", ids, None, [{}] * 4, sparse=rows)
        s.engine.write("c", [], None, [], delete_ids=ids[3:])
    idf = lambda n_points, n_term: math.log(1 + (n_points - n_term + 0.5) / (n_term + 0.5))  # noqa: E731
    edge, local = (s.engine.search_sparse("c", term, 5)[0].score for s in stores)
    assert local == pytest.approx(idf(3, 2), rel=1e-6)
    assert edge == pytest.approx(idf(4, 2), rel=1e-6)  # the deleted point still counted
    for s in stores:
        s.close()
