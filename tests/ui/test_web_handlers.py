"""The web UI's actions on a real (empty or weightless) store: readable errors, never traces."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pytest

from tests.search.evaluation.conftest import write_beir
from ui.web.handlers import NONE_CHOICE, WebContext, error_html
from ui.web.handlers import judging as judge
from ui.web.handlers.context import safe_name
from ui.web.handlers.document import document
from ui.web.handlers.evaluating import evaluate
from ui.web.handlers.ingesting import ingest_folder, ingest_uploads
from ui.web.handlers.searching import search


@pytest.fixture()
def ctx(tmp_path: Path):
    from search.store import open_store

    store = open_store(tmp_path / "store")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    yield WebContext(
        store, allow_dirs=[allowed], upload_dir=tmp_path / "uploads", max_upload_mb=0.001
    )
    store.close()


def _text(html: str) -> str:
    import re

    return re.sub(r"<[^>]+>", " ", html)


def test_empty_query_asks_for_one(ctx: WebContext) -> None:
    view = search(ctx, "   ", "docs", "minilm", None)
    assert "query is empty" in view.header and view.results == ""


def test_missing_index_is_a_readable_message(ctx: WebContext) -> None:
    view = search(ctx, "hello", "nope", "minilm", NONE_CHOICE)
    assert "ds-msg-error" in view.header
    assert "nope" in view.header and "Traceback" not in view.header
    assert "No index" in search(ctx, "hello", None, "minilm", None).header


def test_missing_weights_are_a_readable_message(ctx: WebContext) -> None:
    ctx.store.ensure_index("big", {"mode": "tokens", "chunk_tokens": 256, "overlap": 32})
    ctx.store.add_encoder(
        "big",
        {
            "name": "dream",
            "family": "diffusion",
            "attention": "bidirectional",
            "pooling": "mean",
            "dim": 8,
        },
    )
    assert ctx.encoder_choices("big") == [("dream — diffusion · bidirectional", "dream")]
    view = search(ctx, "what is a diffusion model", "big", "dream", NONE_CHOICE)
    assert "ds-msg-error" in view.header and "Traceback" not in view.header
    assert "weights" in _text(view.header).lower()


def test_bad_filter_is_a_readable_message(ctx: WebContext) -> None:
    ctx.store.ensure_index("f", {"mode": "tokens"})
    view = search(ctx, "q", "f", "minilm", None, filters="colour=blue")
    assert "cannot read filter" in view.header


def test_unexpected_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    out = error_html(ZeroDivisionError("division by zero\nmore"), "run the query")
    assert (
        "ZeroDivisionError: division by zero" in out
        and "more" not in out
        and "Traceback" not in out
    )


def test_only_allow_listed_folders_can_be_reindexed(ctx: WebContext, tmp_path: Path) -> None:
    view = ingest_folder(ctx, str(tmp_path), "docs", ["minilm"])
    assert "allow-list" in view.summary
    view = ingest_folder(ctx, "/etc", "docs", ["minilm"])
    assert "allow-list" in view.summary
    assert ctx.folder_choices() == [str((tmp_path / "allowed").resolve())]


def test_document_view_reads_only_the_index(ctx: WebContext) -> None:
    # A doc id that looks like a path is looked up in the index, never opened.
    assert "Could not open the document" in document(ctx, "nope", "/etc/passwd", 0)


def test_upload_limit_and_safe_names(ctx: WebContext, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("x" * 5000)
    view = ingest_uploads(ctx, [str(big)], "docs", ["minilm"])
    assert "larger than the upload limit" in view.summary
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("..") == "upload"
    assert "Choose one or more files" in ingest_uploads(ctx, [], "docs", ["minilm"]).summary


def test_eval_rejects_folders_off_the_allow_list(ctx: WebContext) -> None:
    view = evaluate(ctx, "beir", "/etc", None, ["minilm"])
    assert "pick a BEIR folder" in view.message and view.plot is None
    view = evaluate(ctx, "synthetic", None, "passkey", ["minilm"], lengths="ten")
    assert "whole numbers" in view.message


def _tiny_beir(root: Path) -> Path:
    return write_beir(
        root / "tinybeir",
        {
            "d1": (
                "Baking bread",
                "Knead the dough, let it rise, and bake the bread in a hot oven.",
            ),
            "d2": ("Planets", "Mars and Venus are rocky planets that orbit the sun."),
            "d3": ("Football", "A football match lasts ninety minutes with two halves."),
        },
        {"q1": "how do I bake bread at home", "q2": "which planets orbit the sun"},
        [("q1", "d1", 1), ("q2", "d2", 1)],
    )


def test_evaluate_tab_runs_a_beir_folder_from_the_allow_list(ctx: WebContext) -> None:
    folder = _tiny_beir(ctx.allow_dirs[0])
    assert str(folder) in ctx.beir_choices()
    view = evaluate(ctx, "beir", str(folder), None, ["minilm", "minilm-causal"])
    assert "ds-msg-error" not in view.message, view.message
    assert "| minilm | minilm-causal |" in view.table
    # MiniLM ranks each query's one relevant document first: nDCG@10 = 1 in its column.
    assert "| ndcg@10 | 1.0000 |" in view.table
    assert view.plot and Path(view.plot).is_file() and Path(view.plot).suffix == ".png"


def test_evaluate_tab_runs_a_synthetic_task(ctx: WebContext) -> None:
    view = evaluate(
        ctx, "synthetic", None, "passkey", ["minilm"], lengths="64,128", n_docs=6, n_queries=3
    )
    assert "ds-msg-error" not in view.message, view.message
    assert "passkey" in view.table and "64" in view.table and "128" in view.table
    assert view.plot and Path(view.plot).is_file()


def _ingest_mine(ctx: WebContext, tmp_path: Path) -> None:
    """Index ``mine``: three short documents, MiniLM and its causal ablation."""
    from ingest.pipeline import ingest_folder as ingest

    docs = tmp_path / "mine"
    docs.mkdir()
    (docs / "bread.md").write_text(
        "# Bread\n\nKnead the dough, let it rise, and bake it in a hot oven."
    )
    (docs / "planets.md").write_text(
        "# Planets\n\nMars and Venus are rocky planets that orbit the sun."
    )
    (docs / "football.txt").write_text("A football match lasts ninety minutes with two halves.")
    ingest(docs, index="mine", encoders=["minilm", "minilm-causal"], store=ctx.store, workers=0)


def test_evaluate_tab_scores_your_own_questions_on_an_index(
    ctx: WebContext, tmp_path: Path
) -> None:
    _ingest_mine(ctx, tmp_path)
    judged = tmp_path / "q.tsv"
    judged.write_text(
        "how do I bake bread at home\tbread.md\nwhich planets orbit the sun\tplanets.md\n"
    )
    view = evaluate(ctx, "judgments", None, None, [], judgments=str(judged), index="mine")
    assert "ds-msg-error" not in view.message, view.message
    assert "| minilm | minilm-causal |" in view.table  # no encoder picked: all of the index's
    assert "| ndcg@10 | 1.0000 |" in view.table and "your judgements" in view.table
    assert view.plot and Path(view.plot).is_file()
    judged.write_text("how do I bake bread at home\tbred.md\n")
    view = evaluate(ctx, "judgments", None, None, ["minilm"], judgments=str(judged), index="mine")
    assert "did you mean 'bread.md'" in html.unescape(view.message)
    assert "upload a file" in evaluate(ctx, "judgments", None, None, [], index="mine").message
    assert (
        "pick the index"
        in evaluate(ctx, "judgments", None, None, [], judgments=str(judged)).message
    )


def test_judge_tab_pools_blind_saves_and_feeds_the_evaluate_tab(
    ctx: WebContext, tmp_path: Path
) -> None:
    from search.judging import judged_questions

    _ingest_mine(ctx, tmp_path)
    pool = judge.candidates(ctx, "mine", [], 5, "how do I bake bread at home")
    assert sorted(d for _, d in pool.choices) == ["bread.md", "football.txt", "planets.md"]
    assert "minilm, minilm-causal" in pool.html and "<mark>bread</mark>" in pool.html.lower()
    assert "B #" not in pool.html and "ds-side" not in pool.html  # nothing tells the encoders apart
    msg, path = judge.save(
        ctx, "mine", "how do I bake bread at home", ["bread.md", "not-indexed.md"]
    )
    assert "1 relevant" in msg and judged_questions(path) == {"how do I bake bread at home"}
    assert (
        "judged before" in judge.candidates(ctx, "mine", [], 5, "how do I bake bread at home").html
    )
    judge.save(ctx, "mine", "which planets orbit the sun", ["planets.md"])
    view = evaluate(
        ctx, "judgments", None, None, [], index="mine"
    )  # nothing uploaded: the collected file
    assert "ds-msg-error" not in view.message, view.message
    assert "2 queries scored" in view.table and "| ndcg@10 | 1.0000 |" in view.table
    with pytest.raises(Exception, match="question is empty"):
        judge.candidates(ctx, "mine", [], 5, "  ")
    evil = judge.judgments_path(ctx, "../evil")
    assert evil.name == "_evil.jsonl" and evil.parent == judge.judgments_path(ctx, "mine").parent


def test_the_uis_own_ingest_is_seen_by_its_next_search(ctx: WebContext, tmp_path: Path) -> None:
    """The store caches index records for queries; an ingest from the UI updates that cache."""
    folder = ctx.allow_dirs[0] / "notes"
    folder.mkdir()
    (folder / "a.md").write_text(
        "# Diffusion\n\nMasked diffusion models unmask tokens in any order.\n"
    )
    assert "ds-msg-error" not in ingest_folder(ctx, str(folder), "notes", ["minilm"]).summary
    view = search(ctx, "diffusion models", "notes", "minilm", NONE_CHOICE)
    assert "a.md" in view.results and "ds-msg-error" not in view.header
    ctx.store.query("notes", "minilm", np.ones(384, dtype=np.float32), 1)  # warm the cache
    assert "ds-msg-error" not in ingest_folder(ctx, str(folder), "notes", ["minilm-causal"]).summary
    view = search(ctx, "diffusion models", "notes", "minilm-causal", "minilm")
    assert "ds-msg-error" not in view.header and "a.md" in view.results
