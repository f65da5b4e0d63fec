"""Slow: MiniLM on the real BEIR SciFact test split, through ``diffsearch eval`` (``-m slow``)."""

from __future__ import annotations

import json

import pytest

from ui.cli import main


@pytest.mark.slow
def test_minilm_on_scifact(shared_data, tmp_path, minilm):
    out = tmp_path / "results"
    argv = ["eval", "--beir", str(shared_data / "beir" / "scifact"), "-e", "minilm",
            "--store", str(tmp_path / "store"), "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    data = json.loads((out / "scifact.json").read_text())
    means = data["encoders"]["minilm"]["means"]
    assert data["n_queries"] == 300 and data["n_docs"] == 5183
    # all-MiniLM-L6-v2 on SciFact: nDCG@10 64.5 in MTEB; this pipeline measured 0.645.
    assert 0.62 <= means["ndcg@10"] <= 0.67
    assert means["recall@100"] > 0.85
    # The index is in place now: a second run only embeds the 300 queries.
    assert main([*argv, "--json"]) == 0
    assert data["encoders"]["minilm"]["ingest"]["embedded"] == 5183
    again = json.loads((out / "scifact.json").read_text())
    assert again["encoders"]["minilm"]["ingest"]["embedded"] == 0
    assert again["encoders"]["minilm"]["means"] == means
