"""Tables, files and plots of evaluation results, and comparing two saved runs."""

from __future__ import annotations

import json

import pytest

from search.errors import SearchError
from search.evaluation.report import (
    DatasetResult,
    EncoderResult,
    fmt_p,
    write_dataset,
    write_synthetic,
)
from search.evaluation.saved import compare_saved


def _result(name: str = "toy", shift: float = 0.2) -> DatasetResult:
    qids = [f"q{i}" for i in range(30)]
    a = {q: {"ndcg@10": 0.5, "acc@1": float(i % 2)} for i, q in enumerate(qids)}
    b = {q: {"ndcg@10": 0.5 + shift * (i % 3 > 0), "acc@1": 1.0} for i, q in enumerate(qids)}

    def enc(label: str, per: dict) -> EncoderResult:
        means = {m: sum(v[m] for v in per.values()) / len(per) for m in ("ndcg@10", "acc@1")}
        run = {q: [("d1", 0.9), ("d2", 0.5)] for q in per}
        return EncoderResult(label, per, means, run=run, timings={"ingest": 1.0, "queries": 0.5},
                             ingest={"embedded": 3, "unchanged": 0})  # fmt: skip

    r = DatasetResult(name, "test", ["ndcg@10", "acc@1"], 3, 30, [enc("minilm", a), enc("minilm-causal", b)],
                      settings={"length": 256})  # fmt: skip
    r.compare(resamples=500)
    return r


def test_markdown_json_and_files(tmp_path):
    r = _result()
    paths = write_dataset(r, tmp_path)
    md = paths["markdown"].read_text()
    assert "| metric | minilm | minilm-causal | Δ minilm-causal − minilm |" in md
    assert "| ndcg@10 | 0.5000 | 0.6333 | +0.1333 * |" in md
    data = json.loads(paths["json"].read_text())
    assert data["encoders"]["minilm"]["means"]["ndcg@10"] == 0.5
    assert (
        set(data["per_query"]) == {"minilm", "minilm-causal"}
        and len(data["per_query"]["minilm"]) == 30
    )
    cmp = {c["metric"]: c for c in data["comparisons"]}
    assert cmp["ndcg@10"]["p_bootstrap"] < 0.05 and cmp["ndcg@10"]["delta"] == pytest.approx(
        0.4 / 3
    )
    assert paths["per_query"].read_text().splitlines()[0] == "query_id\tencoder\tndcg@10\tacc@1"
    assert paths["run:minilm"].read_text().splitlines()[0] == "q0 Q0 d1 1 0.900000 minilm"
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_synthetic_table_and_plot(tmp_path):
    results = [_result("passkey-256"), _result("passkey-512", 0.0)]
    results[1].settings["length"] = 512
    paths = write_synthetic("passkey", results, tmp_path, {"n_docs": 3, "n_queries": 30, "seed": 0})
    md = paths["markdown"].read_text()
    assert "| length | minilm acc@1 | minilm-causal acc@1 |" in md
    assert "| 256 | 0.500 | 1.000 | +0.500 * |" in md and "| 512 |" in md
    assert paths["png"].stat().st_size > 1000
    assert (tmp_path / "passkey-256.json").is_file()


def test_compare_saved_runs(tmp_path):
    write_dataset(_result("one"), tmp_path / "a", plot=False)
    write_dataset(_result("one", 0.0), tmp_path / "b", plot=False)
    cmp = compare_saved(tmp_path / "a" / "one.json", tmp_path / "b" / "one.json",
                        encoder_a="minilm-causal", encoder_b="minilm-causal", resamples=300)  # fmt: skip
    assert [e.encoder for e in cmp.encoders] == ["A:minilm-causal", "B:minilm-causal"]
    t = cmp.comparison("B:minilm-causal", "ndcg@10")
    assert t is not None and t.delta == pytest.approx(-0.4 / 3)
    with pytest.raises(SearchError):
        compare_saved(tmp_path / "a" / "one.md", tmp_path / "b" / "one.json")


def test_fmt_p():
    assert fmt_p(0.00001) == "<0.0001" and fmt_p(0.5) == "0.5000"


def test_cli_compare(tmp_path, capsys):
    from ui.cli import main

    write_dataset(_result("one"), tmp_path / "a", plot=False)
    write_dataset(_result("one", 0.0), tmp_path / "b", plot=False)
    a, b = str(tmp_path / "a" / "one.json"), str(tmp_path / "b" / "one.json")
    out = str(tmp_path / "cmp")
    assert (
        main(["eval", "--compare", a, b, "-e", "minilm", "-e", "minilm-causal", "--out", out]) == 0
    )
    printed = capsys.readouterr().out
    assert "| metric | A:minilm | B:minilm-causal |" in printed
    assert main(["eval", "--compare", a, b, "-e", "nope", "--out", out]) == 2
    assert "no encoder 'nope'" in capsys.readouterr().err
