"""``diffsearch eval`` end to end: real MiniLM, real ingest, real embedded Qdrant."""

from __future__ import annotations

import json

import pytest

from search.evaluation.beir import load_beir
from search.evaluation.runner import EvalOptions, Evaluator
from ui.cli import main

DOCS = {
    "bake": (
        "Bread",
        "Knead the dough, let it rise for two hours, then bake the loaf at 220 degrees.",
    ),
    "orbit": (
        "Planets",
        "The planets orbit the sun on elliptical paths, as Kepler's laws describe.",
    ),
    "tide": ("Oceans", "Tides rise and fall twice a day because of the moon's gravitational pull."),
    "chess": ("Chess", "In chess the knight moves in an L shape and can jump over other pieces."),
    "rust": ("Metals", "Iron rusts when it reacts with oxygen and water, forming iron oxide."),
    "bees": ("Insects", "Honey bees communicate the location of flowers with a waggle dance."),
    "empty": ("", ""),
}
QUERIES = {
    "q1": "How long should bread dough rise before baking?",
    "q2": "Why are there two tides every day?",
    "q3": "How does the knight move in chess?",
    "q4": "How do bees tell each other where flowers are?",
}
QRELS = [
    ("q1", "bake", 1),
    ("q2", "tide", 2),
    ("q2", "orbit", 1),
    ("q3", "chess", 1),
    ("q4", "bees", 1),
]


@pytest.fixture
def tiny(tmp_path, make_beir):
    return make_beir(tmp_path / "tiny", DOCS, QUERIES, QRELS)


def test_cli_beir_run_scores_writes_and_reuses_the_index(
    tiny, tmp_path, capsys, minilm, minilm_causal
):
    store, out = tmp_path / "store", tmp_path / "results"
    argv = ["eval", "--beir", str(tiny), "-e", "minilm", "-e", "minilm-causal", "--store", str(store),
            "--out", str(out), "--resamples", "200", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| ndcg@10 |" in printed and "Δ minilm-causal − minilm" in printed
    data = json.loads((out / "tiny.json").read_text())
    means = data["encoders"]["minilm"]["means"]
    assert means["mrr@10"] == 1.0 and means["recall@100"] == 1.0  # an easy set for MiniLM
    assert data["n_queries"] == 4 and data["settings"]["index"] == "eval-tiny-whole"
    assert data["encoders"]["minilm"]["ingest"]["embedded"] == 6  # the empty document is left out
    for name in (
        "tiny.md",
        "tiny.png",
        "tiny.per_query.tsv",
        "tiny.minilm.run",
        "tiny.minilm-causal.run",
    ):
        assert (out / name).is_file(), name
    first_run = (out / "tiny.minilm.run").read_text()
    assert first_run.splitlines()[0].startswith("q1 Q0 bake 1 ")

    # Second run: the index is reused, nothing is embedded again, same numbers.
    assert main([*argv, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)[0]
    for enc in ("minilm", "minilm-causal"):
        assert again["encoders"][enc]["ingest"]["embedded"] == 0
        assert again["encoders"][enc]["means"] == data["encoders"][enc]["means"]
    second_run = (out / "tiny.minilm.run").read_text()

    def parse(text: str) -> list[tuple[str, str, float]]:
        return [(r[0], r[2], float(r[4])) for r in (line.split() for line in text.splitlines())]

    # Same ranking; scores equal up to float32 round-off (fresh vs reloaded collection).
    assert [r[:2] for r in parse(second_run)] == [r[:2] for r in parse(first_run)]
    assert [r[2] for r in parse(second_run)] == pytest.approx(
        [r[2] for r in parse(first_run)], abs=1e-5
    )


def test_runner_matches_brute_force_cosine(tiny, tmp_path, minilm):
    """Scores through ingest + Qdrant equal a plain cosine over the same encoder's vectors."""
    from search.store import open_store

    ds = load_beir(tiny)
    store = open_store(path=tmp_path / "s")
    try:
        ev = Evaluator(store, EvalOptions(encoders=["minilm"], resamples=100))
        result = ev.evaluate(ds)
    finally:
        store.close()
    run = result.encoders[0].run
    docs = [d for d in ds.corpus if d.text]
    doc_vecs = minilm.encode_documents([f"{d.title}\n\n{d.text}" for d in docs])
    q_vecs = minilm.encode_queries([ds.queries[q] for q in ds.queries])
    for qv, qid in zip(q_vecs, ds.queries, strict=True):
        want = sorted(
            zip((doc_vecs @ qv).tolist(), [d.doc_id for d in docs], strict=True), reverse=True
        )
        got = run[qid]
        assert [d for d, _ in got] == [d for _, d in want]
        assert [s for _, s in got] == pytest.approx([s for s, _ in want], abs=1e-4)


def test_cli_synthetic_passkey_small(tmp_path, capsys, minilm):
    out = tmp_path / "results"
    argv = ["eval", "--synthetic", "passkey", "--lengths", "64,128", "--docs", "6", "--queries", "3",
            "-e", "minilm", "--store", str(tmp_path / "store"), "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| length | minilm acc@1 |" in printed
    summary = json.loads((out / "passkey.json").read_text())
    assert [r["settings"]["length"] for r in summary["lengths"]] == [64, 128]
    assert all(r["n_queries"] == 3 and r["n_docs"] == 6 for r in summary["lengths"])
    assert (out / "passkey.png").is_file() and (out / "passkey-64.json").is_file()


def test_cli_errors_are_user_errors(tmp_path, capsys):
    assert main(["eval", "-e", "minilm", "--store", str(tmp_path / "s")]) == 2
    assert "say what to evaluate" in capsys.readouterr().err
    assert (
        main(
            [
                "eval",
                "--beir",
                str(tmp_path / "nope"),
                "-e",
                "minilm",
                "--store",
                str(tmp_path / "s"),
            ]
        )
        == 2
    )
    assert "corpus.jsonl" in capsys.readouterr().err


def test_token_chunking_scores_documents_by_their_best_chunk(tiny, tmp_path, minilm):
    from search.store import open_store

    store = open_store(path=tmp_path / "s")
    try:
        opts = EvalOptions(encoders=["minilm"], chunking="tokens", resamples=100)
        result = Evaluator(store, opts).evaluate(load_beir(tiny))
    finally:
        store.close()
    assert result.settings["index"] == "eval-tiny-tokens"
    assert result.encoders[0].means["mrr@10"] == 1.0
    run = result.encoders[0].run
    assert all(len({d for d, _ in hits}) == len(hits) == 6 for hits in run.values())


def test_cli_late_chunking_with_chunk_size(tiny, tmp_path, capsys, minilm, minilm_causal):
    """--chunking late --chunk-tokens/--overlap: its own index, the same chunk count as tokens."""
    out = tmp_path / "results"
    base = ["eval", "--beir", str(tiny), "-e", "minilm", "-e", "minilm-causal", "--store",
            str(tmp_path / "store"), "--resamples", "100", "--quiet", "--chunk-tokens", "8",
            "--overlap", "2"]  # fmt: skip
    assert main([*base, "--chunking", "late", "--out", str(out / "late")]) == 0
    assert main([*base, "--chunking", "tokens", "--out", str(out / "tokens")]) == 0
    assert "chunking `late` (8 tokens, overlap 2)" in capsys.readouterr().out
    late = json.loads((out / "late" / "tiny.json").read_text())
    tokens = json.loads((out / "tokens" / "tiny.json").read_text())
    assert late["settings"]["index"] == "eval-tiny-late-8o2"
    assert tokens["settings"]["index"] == "eval-tiny-tokens-8o2"
    for name in ("minilm", "minilm-causal"):
        chunks = late["encoders"][name]["ingest"]["chunks"]
        assert chunks == tokens["encoders"][name]["ingest"]["chunks"] > len(DOCS)
    assert late["encoders"]["minilm"]["means"]["recall@100"] == 1.0
    code = main([*base, "--chunking", "late", "-e", "qwen3-embedding", "--out", str(out / "x")])
    assert code == 2 and "late chunking cannot be used" in capsys.readouterr().err
