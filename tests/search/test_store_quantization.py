"""Store-side quantization: an encoder with ``quantize=int8|binary`` gets a Qdrant collection with
Qdrant's own scalar or binary quantization, on both embedded engines, kept across reopening and
``store migrate``; queries rank as the float32 vectors do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from encoders.vectors import quantize_binary, quantize_int8
from ingest.write import DocumentWrite
from search.migrate import migrate_store
from search.store import collection_name, open_store

DIM = 64
INFO = {"name": "pplx-like", "family": "diffusion", "model_id": "m", "revision": "r", "dim": DIM,
        "attention": "bidirectional", "pooling": "mean", "max_tokens": 512,
        "long_policy": "truncate"}  # fmt: skip
RULES = {"int8": quantize_int8, "binary": quantize_binary}


def _vectors(rule: str, n: int, seed: int) -> np.ndarray:
    """pplx-embed-style stored vectors: the model's rule on raw states, then unit length."""
    raw = torch.from_numpy(np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32))
    q = RULES[rule](raw).numpy()
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def _docs(vecs: np.ndarray, name: str) -> list[DocumentWrite]:
    out = []
    for i, row in enumerate(vecs):
        doc_id = f"d{i:03d}.txt"
        chunk = {"doc_id": doc_id, "source": doc_id, "filetype": "txt", "title": doc_id,
                 "page": None, "section": None, "chunk": 0, "n_chunks": 1, "text": f"text {i}",
                 "start_char": 0}  # fmt: skip
        manifest = {"state": "complete", "source": doc_id, "filetype": "txt", "title": doc_id,
                    "n_chunks": 1, "size": 1, "mtime_ns": 1, "sha256": "ab" * 32,
                    "encoders": [name]}  # fmt: skip
        out.append(DocumentWrite(doc_id, manifest, (chunk,), {name: row[None, :]}, True))
    return out


@pytest.mark.parametrize("engine", ["edge", "qdrant-local"])
@pytest.mark.parametrize("rule", ["int8", "binary"])
def test_quantized_encoders_get_qdrant_quantization(tmp_path: Path, engine: str, rule: str) -> None:
    vecs = _vectors(rule, 120, seed=1)
    queries = _vectors(rule, 5, seed=2)
    path = tmp_path / "store"
    with open_store(path=path, engine=engine) as store:
        store.ensure_index("q", {"mode": "whole", "chunk_tokens": None, "overlap": None,
                                 "tokenizer": None})  # fmt: skip
        store.add_encoder("q", {**INFO, "quantize": rule})
        store.add_encoder("q", {**INFO, "name": "plain"})
        store.write_documents("q", _docs(vecs, "pplx-like"))
        store.write_documents("q", _docs(vecs, "plain"))
        coll = collection_name("q", "pplx-like")
        assert store.engine.index_state(coll).quantization == rule
        assert store.engine.index_state(collection_name("q", "plain")).quantization is None
        if engine == "edge":
            store.engine.build_index(coll)  # HNSW over the quantized copy, as optimize() does
        for query in queries:
            exact = np.argsort(-(vecs @ query))[:10]
            got = store.query("q", "pplx-like", query, 10, group_by_doc=False)
            want = [f"d{i:03d}.txt" for i in exact]
            # Rescored with the originals: the float32 ranking (ties aside, binary has many).
            scores = sorted((float(vecs[int(h.doc_id[1:4])] @ query) for h in got), reverse=True)
            np.testing.assert_allclose(scores, sorted(vecs @ query, reverse=True)[:10], atol=1e-5)
            if rule == "int8":
                assert [h.doc_id for h in got] == want
    # Reopened: the engine kept its quantization, the index its encoder's setting.
    with open_store(path=path, engine=engine) as store:
        assert store.engine.index_state(collection_name("q", "pplx-like")).quantization == rule
        assert store.encoder_info("q", "pplx-like")["quantize"] == rule


def test_migrating_keeps_the_quantization(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with open_store(path=path, engine="qdrant-local") as store:
        store.ensure_index("q", {"mode": "whole", "chunk_tokens": None, "overlap": None,
                                 "tokenizer": None})  # fmt: skip
        store.add_encoder("q", {**INFO, "quantize": "int8"})
        store.write_documents("q", _docs(_vectors("int8", 20, seed=3), "pplx-like"))
    migrate_store(path)
    with open_store(path=path) as store:
        assert store.engine_name == "edge"
        assert store.engine.index_state(collection_name("q", "pplx-like")).quantization == "int8"
