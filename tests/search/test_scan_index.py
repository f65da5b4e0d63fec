"""The int8 scan index (search.engines.base): Edge's own int8 copy, scanned and rescored on the
originals, built by ``optimize`` where due; kept across reopening and ``store migrate``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ingest.write import DocumentWrite
from search.migrate import migrate_store
from search.store import collection_name, open_store

DIM, CLUSTERS, PER = 3584, 70, 10  # 2.5 M floats: past Edge's segment indexing threshold
INFO = {"name": "enc", "family": "encoder", "model_id": "m", "revision": "r", "dim": DIM,
        "attention": "bidirectional", "pooling": "mean", "max_tokens": 256,
        "long_policy": "truncate"}  # fmt: skip


def _clustered(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLUSTERS, DIM))
    v = np.repeat(centres, PER, axis=0) + 0.3 * rng.normal(size=(CLUSTERS * PER, DIM))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _docs(vecs: np.ndarray) -> list[DocumentWrite]:
    out = []
    for d in range(0, len(vecs), PER):
        doc_id = f"d{d:04d}.md"
        chunks = tuple({"doc_id": doc_id, "source": doc_id, "filetype": "md", "title": doc_id,
                        "page": None, "section": None, "chunk": i, "n_chunks": PER,
                        "text": f"text {d + i}", "start_char": 0} for i in range(PER))  # fmt: skip
        manifest = {"state": "complete", "source": doc_id, "filetype": "md", "title": doc_id,
                    "n_chunks": PER, "size": 1, "mtime_ns": 1, "sha256": "ab" * 32,
                    "encoders": ["enc"]}  # fmt: skip
        out.append(DocumentWrite(doc_id, manifest, chunks, {"enc": vecs[d : d + PER]}, True))
    return out


def _ids(hits: list) -> list[str]:
    return [f"{h.doc_id}#{h.chunk}" for h in hits]


def test_the_scan_index_answers_as_the_exact_scan(tmp_path: Path) -> None:
    vecs = _clustered(0)
    queries = vecs[::37] + 0.05 * np.random.default_rng(1).normal(size=(len(vecs[::37]), DIM))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    path = tmp_path / "s"
    coll = collection_name("idx", "enc")
    with open_store(path=path) as s:
        s.ensure_index("idx", {"mode": "whole"})
        s.add_encoder("idx", INFO)
        s.write_documents("idx", _docs(vecs))
        before = s.engine.index_state(coll)
        assert before.scan == "int8" and not before.graph and before.quantization is None
        assert before.indexed == 0
        (report,) = s.optimize("idx", force=True)
        assert report.built and report.note == "int8 scan index built"
        assert s.engine.index_state(coll).indexed == len(vecs)
        for q in queries:
            exact = _ids(s.query("idx", "enc", q, 10, group_by_doc=False, exact=True))
            want = [f"d{(i // PER) * PER:04d}.md#{i % PER}" for i in np.argsort(-(vecs @ q))[:10]]
            assert exact == want  # exact=True: the originals, every one
            got = s.query("idx", "enc", q, 10, group_by_doc=False)
            assert _ids(got) == want  # through the int8 copy, rescored
            np.testing.assert_allclose([h.score for h in got], np.sort(vecs @ q)[::-1][:10],
                                       atol=1e-5)  # fmt: skip
    with open_store(path=path) as s:  # reopened: the same index, still built
        state = s.engine.index_state(coll)
        assert state.scan == "int8" and not state.graph and state.indexed == len(vecs)


def test_a_migrated_store_gets_the_scan_index(tmp_path: Path) -> None:
    path = tmp_path / "s"
    with open_store(path=path, engine="qdrant-local") as s:
        s.ensure_index("idx", {"mode": "whole"})
        s.add_encoder("idx", {**INFO, "dim": 8})
        small = _clustered(2)[:20, :8]
        s.write_documents("idx", _docs(small / np.linalg.norm(small, axis=1, keepdims=True)))
        assert s.engine.index_state(collection_name("idx", "enc")).scan is None
    migrate_store(path)
    with open_store(path=path) as s:
        state = s.engine.index_state(collection_name("idx", "enc"))
        assert s.engine_name == "edge" and state.scan == "int8" and not state.graph
