"""The chunking choice of the web UI's Ingest and Evaluate tabs, on a real store with MiniLM.

A new index takes the chunking picked on the page (``late`` included); an existing one keeps
its own, as the CLI does; a late pick with an encoder that cannot late-chunk gets the CLI's own
one-line refusal, and nothing is written.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from ingest.chunk import CHUNKINGS
from search.evaluation.runner import EVAL_CHUNKINGS
from tests.search.evaluation.conftest import write_beir
from ui.web.handlers import WebContext
from ui.web.handlers.evaluating import evaluate
from ui.web.handlers.ingesting import Chunking, chunking_view, ingest_folder, sent_chunking
from ui.web.handlers.searching import search

TEXTS = {
    "bread.md": "# Bread\n\n"
    + "Knead the dough for ten minutes, then let it rise in a warm place for an hour. "
    "Shape the loaf, score the top with a sharp knife and bake it in a hot oven until "
    "the crust is brown and the bottom sounds hollow when tapped.",
    "planets.md": "# Planets\n\n"
    + "Mars and Venus are rocky planets that orbit the sun. Jupiter and Saturn are gas "
    "giants with dozens of moons, and Neptune is the farthest planet from the sun.",
}


@pytest.fixture()
def ctx(tmp_path: Path):
    from search.store import open_store

    store = open_store(tmp_path / "store")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    yield WebContext(store, allow_dirs=[allowed], upload_dir=tmp_path / "uploads")
    store.close()


@pytest.fixture()
def folder(ctx: WebContext) -> Path:
    docs = ctx.allow_dirs[0] / "notes"
    docs.mkdir()
    for name, text in TEXTS.items():
        (docs / name).write_text(text)
    return docs


def _text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def _cli_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """What ``diffsearch ARGV`` prints after ``error:`` (it must exit 2)."""
    from ui.cli import main

    capsys.readouterr()
    assert main(argv) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    return line.split(": error: ", 1)[1]


def test_a_new_index_is_late_chunked_as_picked_and_keeps_it(ctx: WebContext, folder: Path) -> None:
    view = chunking_view(ctx, "late-notes", ["minilm"])
    assert view.editable and view.mode == "tokens"  # a new index: the CLI's default, editable
    view = ingest_folder(ctx, str(folder), "late-notes", ["minilm"], None, Chunking("late", 16, 4))
    assert "ds-msg-error" not in view.summary, view.summary
    assert "chunking late, 16 tokens, overlap 4" in _text(view.summary)
    info = ctx.store.index_info("late-notes")
    assert (info.chunking["mode"], info.chunking["chunk_tokens"], info.chunking["overlap"]) == (
        "late",
        16,
        4,
    )
    assert info.chunks > 2 * len(TEXTS)  # several 16-token chunks per document

    shown = chunking_view(ctx, "late-notes", ["minilm"])
    assert not shown.editable and (shown.mode, shown.chunk_tokens, shown.overlap) == ("late", 16, 4)
    assert "keeps the chunking it was built with: late (16 tokens, overlap 4" in _text(shown.note)

    # An existing index keeps its chunking whatever the page sends (nothing is sent for it).
    assert sent_chunking(ctx, "late-notes", Chunking("tokens", 256, 32)) == Chunking()
    (folder / "more.md").write_text("# Moons\n\nTitan is the largest moon of Saturn.")
    again = ingest_folder(ctx, str(folder), "late-notes", [], None, Chunking("whole", None, None))
    assert "ds-msg-error" not in again.summary, again.summary
    assert ctx.store.index_info("late-notes").chunking == info.chunking

    hits = search(ctx, "how long does the dough rise", "late-notes", "minilm", None, 10, "chunk")
    assert "ds-msg-error" not in hits.header, hits.header
    cards = re.findall(r'data-doc="([^"]+)"\s+data-chunk="(\d+)"', hits.results)
    assert cards and cards[0][0] == "bread.md", cards
    assert sum(d == "bread.md" for d, _ in cards) > 1  # chunk-level: one document, many hits


def test_late_with_a_last_token_encoder_is_the_clis_refusal(
    ctx: WebContext, folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    view = ingest_folder(ctx, str(folder), "q", ["qwen3-embedding"], None, Chunking("late", 64, 8))
    cli = _cli_error(
        capsys,
        ["ingest", str(folder), "--index", "q", "-e", "qwen3-embedding", "--chunking", "late",
         "--store", str(tmp_path / "cli-store")],
    )  # fmt: skip
    assert "late chunking cannot be used with encoder 'qwen3-embedding'" in cli
    assert "ds-msg-error" in view.summary and cli in _text(view.summary)
    assert "Traceback" not in view.summary
    assert "q" not in ctx.index_names()  # refused before anything was written
    assert chunking_view(ctx, "q", ["qwen3-embedding"]).editable  # still a new index


def test_a_new_indexs_default_follows_its_encoders() -> None:
    from ingest.late import default_chunking_of

    assert default_chunking_of(["pplx-embed-context-0.6b", "bm25"]) == "late"
    assert default_chunking_of(["pplx-embed-context-0.6b", "minilm"]) == "tokens"
    assert default_chunking_of(["no-such-encoder"]) == "tokens"


def test_the_clis_chunking_choices_are_the_one_lists() -> None:
    """The CLI keeps literal choices (importing ``ingest`` would slow every command's start);
    they must be the lists the UI, the plan and the evaluation use."""
    from ui.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    found = {}
    for cmd in ("ingest", "eval"):
        action = next(a for a in sub.choices[cmd]._actions if a.dest == "chunking")
        found[cmd] = tuple(action.choices)
    assert found == {"ingest": CHUNKINGS, "eval": EVAL_CHUNKINGS}
    assert "late" in EVAL_CHUNKINGS and "title" not in EVAL_CHUNKINGS


def _tiny_beir(root: Path) -> Path:
    return write_beir(
        root / "tinybeir",
        {
            "d1": ("Baking bread", TEXTS["bread.md"].split("\n\n", 1)[1]),
            "d2": ("Planets", TEXTS["planets.md"].split("\n\n", 1)[1]),
            "d3": ("Football", "A football match lasts ninety minutes with two halves of play."),
        },
        {"q1": "how do I bake bread at home", "q2": "which planets orbit the sun"},
        [("q1", "d1", 1), ("q2", "d2", 1)],
    )


def test_evaluate_tab_scores_a_beir_folder_late_chunked(
    ctx: WebContext, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _tiny_beir(ctx.allow_dirs[0])
    view = evaluate(
        ctx, "beir", str(folder), None, ["minilm"], chunking="late", chunk_tokens=16, overlap=4
    )
    assert "ds-msg-error" not in view.message, view.message
    assert "| ndcg@10 | 1.0000 |" in view.table  # each query's one relevant document first
    info = ctx.store.index_info("eval-tinybeir-late-16o4")
    assert (info.chunking["mode"], info.chunking["chunk_tokens"], info.chunking["overlap"]) == (
        "late",
        16,
        4,
    )
    assert info.chunks > info.documents  # chunked, scored per document by its best chunk

    refused = evaluate(
        ctx, "beir", str(folder), None, ["minilm", "qwen3-embedding"], chunking="late"
    )
    cli = _cli_error(
        capsys,
        ["eval", "--beir", str(folder), "-e", "minilm", "-e", "qwen3-embedding",
         "--chunking", "late", "--store", str(ctx.upload_dir.parent / "cli-store")],
    )  # fmt: skip
    assert "late chunking cannot be used with encoder 'qwen3-embedding'" in cli
    assert "ds-msg-error" in refused.message and cli in _text(refused.message)
    assert refused.table == "" and refused.plot is None
