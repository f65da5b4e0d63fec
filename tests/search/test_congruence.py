"""Congruence: one suite of store calls on Qdrant Edge and on qdrant-client's local mode.

The same writes go through the :class:`search.vectorstore.VectorStore` protocol into both
engines, and every read after every step must agree: the same ids in the same order, the same
payloads, scores to within 1e-5 (both engines normalise and score in float32), the same
counts. Queries run with exact search, so an HNSW graph cannot be the reason two engines agree
or differ. The pattern is qdrant-client's own congruence tests (local mode against a server):
one fixture, one list of calls, a comparison per call.
"""

from __future__ import annotations

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
