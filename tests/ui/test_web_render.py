"""The web UI's HTML rendering: escaping, highlighting, snippets, the two columns."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ui.web import render


def _hit(doc_id: str, rank: int, text: str = "some text", **extra: object) -> dict[str, object]:
    return {
        "rank": rank, "key": doc_id, "id": f"{doc_id}-0", "doc_id": doc_id, "source": f"{doc_id}.md",
        "filetype": "md", "title": doc_id.title(), "page": None, "section": None, "chunk": 0,
        "n_chunks": 1, "text": text, "score": 0.5, **extra,
    }  # fmt: skip


def test_esc_neutralises_markup_and_template_syntax() -> None:
    out = render.esc('<img src=x onerror="alert(1)"> ${1+1} {{x}} `t`')
    assert "<" not in out and ">" not in out and '"' not in out
    assert "${" not in out and "{{" not in out and "`" not in out


def test_highlight_marks_terms_in_raw_text_and_escapes_the_rest() -> None:
    out = render.highlight(
        "Diffusion <b>models</b> embed & rank; diffusion again", "diffusion model"
    )
    assert out.count("<mark>") == 3  # Diffusion, models (prefix), diffusion
    assert "&lt;b&gt;" in out and "&amp;" in out
    assert "<b>" not in out
    # Stop words are not highlighted; a term that is itself markup cannot inject it.
    assert "<mark>" not in render.highlight("the and of", "the and of")
    assert "<script>" not in render.highlight("x <script> y", "<script>")


def test_snippet_centres_on_the_query_terms() -> None:
    text = ("filler " * 200) + "the quokka is a marsupial " + ("padding " * 200)
    out = render.snippet(text, "quokka marsupial", width=120)
    assert "<mark>quokka</mark>" in out and "<mark>marsupial</mark>" in out
    assert out.startswith("… ") and out.endswith(" …")
    assert len(re.sub(r"<[^>]+>", "", out)) <= 130


def test_results_mark_shared_hits_with_the_other_rank_and_shift() -> None:
    left = [_hit("a", 1), _hit("b", 2), _hit("c", 3)]
    right = [_hit("c", 1), _hit("a", 2), _hit("d", 3)]
    out = render.results_html("q", "doc", "dream", left, {"family": "diffusion"}, "qwen", right, {})
    assert "ds-pair" in out and out.count('class="ds-hit ') == 6
    assert "B #2" in out and "A #1" in out  # a: left 1 / right 2
    assert "B #1" in out and "A #3" in out  # c: left 3 / right 1
    assert "▲2" in out and "▼1" in out
    assert out.count(">only A<") == 1 and out.count(">only B<") == 1
    assert "diffusion" in out
    # Each card says its side (shown where the columns stack, e.g. on a phone).
    assert out.count('class="ds-side-mark" aria-hidden="true">A<') == 3
    assert out.count('class="ds-side-mark" aria-hidden="true">B<') == 3
    assert 'aria-label="open C (encoder B, rank 1)"' in out


def test_single_encoder_mode_has_one_column_and_no_badges() -> None:
    out = render.results_html("q", "chunk", "minilm", [_hit("a", 1)], None)
    assert "ds-single" in out and "ds-pair" not in out
    assert "only A" not in out and "#1</span>" not in out
    assert "ds-side-mark" not in out


def test_hostile_document_text_is_shown_literally() -> None:
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)> ${document.cookie}"
    out = render.results_html("alert", "doc", "a", [_hit("x", 1, evil, title=evil)], None)
    assert "<script" not in out and "<img" not in out and "${" not in out
    doc = render.document_html([_hit("x", 1, evil, title=evil)], 0, "alert")
    assert "<script" not in doc and "<img" not in doc and "${" not in doc


def test_document_view_orders_chunks_and_marks_the_opened_one() -> None:
    chunks = [
        _hit("d", 1, "second", chunk=1, n_chunks=2, page=2),
        _hit("d", 1, "first", chunk=0, n_chunks=2, page=1),
    ]
    out = render.document_html(chunks, 1, "")
    assert out.index("first") < out.index("second")
    assert out.count("ds-focus") == 1 and "the hit you opened" in out
    assert "1–2" in out  # pages
    assert "no longer in the index" in render.document_html([], None)


def test_ingest_summary_lists_failures() -> None:
    out = render.ingest_summary_html(
        {
            "seen": 3,
            "new": 2,
            "failed": 1,
            "chunks": 7,
            "failures": [{"source": "bad<.pdf", "reason": "encrypted"}],
        },
        1.5,
    )
    assert "bad&lt;.pdf" in out and "encrypted" in out and "ds-msg-warning" in out


def test_agreement_header_shows_the_figures() -> None:
    out = render.agreement_html(0.4, 0.523, 10, 4, "doc", [0.012, 0.02])
    assert "overlap@10" in out and "0.40" in out and "0.52" in out and "4" in out and "12 ms" in out


def test_ui_web_never_imports_torch(tmp_path: Path) -> None:
    """Importing the UI and building the whole page on a store loads no torch."""
    code = (
        "import sys; import ui.web.app as app, ui.web.handlers as h, ui.commands.web_cmd; "
        "from search.store import open_store; s = open_store(sys.argv[1]); "
        "app.build_app(h.WebContext(s, upload_dir=sys.argv[1] + '-up')); s.close(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "store")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False", out.stderr
