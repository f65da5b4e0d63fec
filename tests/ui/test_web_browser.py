"""``diffsearch ui`` in a real, headless Chromium (Debian's, driven by Playwright's Python API).

One server and one browser for the module: a small real index (a few txtai documentation pages
from ../shared/data, embedded with MiniLM and its causal-attention ablation) is built by a
separate process, then ``diffsearch ui`` serves it on a free localhost port. The tests type a
query and press Enter, open a document, upload and ingest a file and find it, check the
empty-query message, and check that no request ever left localhost. Screenshots go to the
pytest tmp dir (their paths are printed; run with ``-s`` to see them).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("DIFFSEARCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
# txtai documentation pages (Apache-2.0) from ../shared/data/markdown_docs, read in place.
DOCS = [
    "pipeline/text/translation.md",
    "pipeline/audio/transcription.md",
    "pipeline/text/summary.md",
    "pipeline/image/caption.md",
    "pipeline/audio/texttospeech.md",
    "api/security.md",
]
QUERY = "how do I translate text into another language"
EXPECTED_TOP = "Translation"
UPLOAD_TEXT = (
    "# Quokka field notes\n\nThe quokka is a small marsupial that lives on Rottnest Island. "
    "Quokkas eat leaves and grasses and survive long dry spells without drinking water.\n"
)
LOCAL_PREFIXES = ("http://127.0.0.1", "http://localhost", "data:", "blob:", "about:")

INGEST_SCRIPT = """
import sys
from ingest.pipeline import ingest_folder
from search.store import open_store
store = open_store(sys.argv[1])
try:
    report = ingest_folder(sys.argv[2], index="docs", encoders=["minilm", "minilm-causal", "bm25"],
                           store=store, workers=0, bars=False)
    assert report.failed == 0, report.as_dict()
finally:
    store.close()
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", DO_NOT_TRACK="1", GRADIO_ANALYTICS_ENABLED="False",
               TOKENIZERS_PARALLELISM="false", UNSTRUCTURED_DISABLE_NOTICE="1")  # fmt: skip
    env.pop("DIFFSEARCH_QDRANT_URL", None)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[Any], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"diffsearch ui exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"diffsearch ui did not answer at {url}:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[dict[str, Any]]:
    """``diffsearch ui`` on a small real index, on a free port of 127.0.0.1."""
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"Chromium not found at {CHROMIUM}: apt-get install -y chromium chromium-driver (make browser)"
        )
    pytest.importorskip(
        "playwright.sync_api", reason="the playwright Python package is not installed"
    )
    src = shared_data / "markdown_docs" / "docs"
    missing = [d for d in DOCS if not (src / d).is_file()]
    if missing:
        pytest.skip(f"shared markdown docs missing: {missing}")
    root = tmp_path_factory.mktemp("webui")
    docs = root / "docs"
    docs.mkdir()
    for d in DOCS:
        shutil.copyfile(src / d, docs / d.replace("/", "_"))
    store = root / "store"
    built = subprocess.run(
        [sys.executable, "-c", INGEST_SCRIPT, str(store), str(docs)],
        env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, f"building the test index failed:\n{built.stderr[-4000:]}"
    port = _free_port()
    log = root / "server.log"
    cmd = [sys.executable, "-m", "ui.cli", "ui", "--store", str(store), "--index", "docs", "--port", str(port),
           "--allow-dir", str(docs), "--upload-dir", str(root / "uploads")]  # fmt: skip
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd, env=_env(), stdout=out, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2]
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_http(url, proc, log)
        yield {"url": url, "root": root, "log": log, "port": port}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def page(server: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1360, "height": 1000})
        pg.set_default_timeout(60_000)
        requests: list[str] = []
        pg.on("request", lambda r: requests.append(r.url))
        server["requests"] = requests
        pg.goto(server["url"])
        _query_box(pg).wait_for()
        yield pg
        browser.close()


def _query_box(page: Any) -> Any:
    return page.locator("#ds-query textarea, #ds-query input").first


def _search(page: Any, text: str) -> None:
    box = _query_box(page)
    box.fill(text)
    box.press("Enter")


def _column_titles(page: Any, side: str) -> list[str]:
    return [
        t.strip()
        for t in page.locator(f"#ds-results .ds-hit.ds-side-{side} .ds-title").all_inner_texts()
    ]


def _uploaded(page: Any, elem_id: str, name: str) -> None:
    """Wait until a Gradio File component lists ``name`` as uploaded (its file row, whose
    label names the file; its text is split into stem and extension)."""
    page.locator(f"#{elem_id} td.filename[aria-label={name!r}]").first.wait_for()


def test_query_compares_both_encoders_and_opens_a_document(
    page: Any, server: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    _search(page, QUERY)
    page.wait_for_selector("#ds-results .ds-hit.ds-side-b")
    a, b = _column_titles(page, "a"), _column_titles(page, "b")
    assert a[0] == EXPECTED_TOP and b[0] == EXPECTED_TOP, (a, b)
    assert len(a) == len(b) == len(DOCS)  # k=10 > 6 documents: every document, once per side
    header = page.locator("#ds-agreement").inner_text()
    assert "OVERLAP@10" in header.upper() and "RBO" in header.upper()
    # Both sides found the top hit: it carries the other side's rank.
    assert (
        page.locator("#ds-results .ds-hit.ds-side-a").first.locator(".ds-badge").inner_text()
        == "B #1"
    )
    assert page.locator("#ds-results mark").count() > 0  # query terms highlighted
    shots = tmp_path_factory.mktemp("screenshots")
    page.screenshot(path=str(shots / "search.png"), full_page=True, animations="disabled")

    page.locator("#ds-results .ds-hit.ds-side-b").first.click()
    drawer = page.locator("#ds-docview .ds-drawer")
    drawer.wait_for()
    assert drawer.locator("h3").inner_text() == EXPECTED_TOP
    assert drawer.locator(".ds-chunk").count() >= 1 and drawer.locator(".ds-focus").count() == 1
    assert "pipeline_text_translation.md" in drawer.inner_text()
    page.screenshot(path=str(shots / "document.png"), animations="disabled")
    print(f"\nscreenshots: {shots / 'search.png'} {shots / 'document.png'}")
    page.keyboard.press("Escape")
    drawer.wait_for(state="hidden")

    # A phone-width window stacks the columns; each card then shows its side's letter.
    marks = page.locator("#ds-results .ds-hit .ds-side-mark")
    assert not marks.first.is_visible()
    page.set_viewport_size({"width": 420, "height": 900})
    try:
        page.wait_for_function(
            "getComputedStyle(document.querySelector('#ds-results .ds-side-mark')).display != 'none'"
        )
        first_two = page.locator("#ds-results .ds-hit").all()[:2]
        assert [c.locator(".ds-side-mark").inner_text() for c in first_two] == ["A", "B"]
        box_a, box_b = (c.bounding_box() for c in first_two)
        assert box_a and box_b and box_b["y"] > box_a["y"] + box_a["height"] - 1  # stacked
        page.screenshot(path=str(shots / "narrow.png"), full_page=True, animations="disabled")
    finally:
        page.set_viewport_size({"width": 1360, "height": 1000})


def test_empty_query_shows_a_message(page: Any) -> None:
    _search(page, "   ")
    msg = page.locator("#ds-agreement .ds-msg")
    msg.wait_for()
    assert "query is empty" in msg.inner_text()
    assert page.locator("#ds-results .ds-hit").count() == 0


def test_upload_ingest_then_find_it(page: Any, server: dict[str, Any]) -> None:
    note = server["root"] / "quokka_notes.md"
    note.write_text(UPLOAD_TEXT, encoding="utf-8")
    page.get_by_role("tab", name="Ingest").click()
    page.locator("#ds-upload input[type=file]").set_input_files(str(note))
    _uploaded(page, "ds-upload", "quokka_notes.md")
    page.locator("#ds-upload-btn").click()
    summary = page.locator("#ds-ingest-summary .ds-ingest")
    summary.wait_for(timeout=120_000)
    text = summary.inner_text()
    assert "Ingest finished" in text and f"{len(DOCS) + 1} documents" in text, text

    page.get_by_role("tab", name="Search").click()
    assert f"{len(DOCS) + 1} docs" in page.locator("#ds-index").inner_text()
    _search(page, "marsupial of Rottnest Island")
    page.wait_for_function(
        "() => { const t = document.querySelector('#ds-results .ds-hit.ds-side-b .ds-title');"
        " return t && t.textContent.includes('Quokka'); }"
    )
    assert _column_titles(page, "a")[0] == "Quokka field notes"
    assert _column_titles(page, "b")[0] == "Quokka field notes"


def test_evaluate_your_own_questions(page: Any, server: dict[str, Any]) -> None:
    """Evaluate tab: upload judged questions about the indexed documents, get the table and plot."""
    judged = server["root"] / "my-questions.tsv"
    judged.write_text(
        f"{QUERY}\tpipeline_text_translation.md\n"
        "how do I turn speech into text?\tpipeline_audio_transcription.md\n"
        "write a short summary of a long text\tpipeline_text_summary.md\t2\n",
        encoding="utf-8",
    )
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#ds-eval-judgments input[type=file]").set_input_files(str(judged))
    _uploaded(page, "ds-eval-judgments", "my-questions.tsv")
    page.locator("#ds-eval-btn").click()
    table = page.locator("#ds-eval-table table")
    table.wait_for(timeout=120_000)
    text = table.inner_text()
    assert "minilm" in text and "minilm-causal" in text and "ndcg@10" in text, text
    assert "3 queries scored" in page.locator("#ds-eval-table").inner_text()
    page.locator("#ds-eval-plot img").wait_for()
    page.get_by_role("tab", name="Search").click()


def test_judge_then_evaluate_without_a_file(page: Any, server: dict[str, Any]) -> None:
    """Judge tab: a question's blind pool, tick the right document, save; Evaluate scores it."""
    page.get_by_role("tab", name="Judge").click()
    box = page.locator("#ds-judge-question textarea, #ds-judge-question input").first
    box.fill(QUERY)
    page.locator("#ds-judge-show").click()
    page.locator("#ds-judge-pool .ds-judge-card").first.wait_for()
    assert page.locator("#ds-judge-pool .ds-badge").count() == 0  # blind: no encoder marks
    page.locator("#ds-judge-relevant").get_by_label(
        "pipeline_text_translation.md", exact=False
    ).check()
    page.locator("#ds-judge-save").click()
    page.locator("#ds-judge-status .ds-msg-ok").wait_for()
    assert "1 relevant" in page.locator("#ds-judge-status").inner_text()
    shots = server["root"]
    page.screenshot(path=str(shots / "judge.png"), full_page=True, animations="disabled")

    page.get_by_role("tab", name="Evaluate").click()
    clear = page.locator("#ds-eval-judgments button[aria-label='Clear']")
    if clear.count():  # the earlier test's upload is still there: remove it to use the Judge file
        clear.first.click()
    page.locator("#ds-eval-btn").click()
    page.wait_for_function(
        "() => (document.querySelector('#ds-eval-table') || {}).innerText?.includes('1 queries scored')"
    )
    assert "-judgments/docs.jsonl" in page.locator("#ds-eval-table").inner_text()  # the Judge file
    page.get_by_role("tab", name="Search").click()


def _pick(page: Any, elem_id: str, name: str) -> None:
    """Choose the option of a Gradio dropdown whose label starts with ``name`` and a dash."""
    page.locator(f"#{elem_id} input").first.click()
    page.get_by_role("option", name=re.compile("^" + re.escape(name) + " —")).first.click()


def test_hybrid_beside_bm25(page: Any) -> None:
    """BM25 and hybrid:minilm,bm25 are offered like encoders and compared side by side."""
    _pick(page, "ds-enc-a", "hybrid:minilm,bm25")
    _pick(page, "ds-enc-b", "bm25")
    try:
        _search(page, "translate text into another language")
        page.wait_for_function(
            "() => (document.querySelector('#ds-results .ds-col-head.ds-side-a') || {})"
            ".innerText?.includes('hybrid:minilm,bm25')"
            " && (document.querySelector('#ds-results .ds-col-head.ds-side-b') || {})"
            ".innerText?.includes('k1 1.2')"
        )
        heads = page.locator("#ds-results .ds-col-head").all_inner_texts()
        assert "hybrid:minilm,bm25" in heads[0] and "RRF" in heads[0], heads
        assert heads[1].startswith("B") and "bm25" in heads[1], heads
        a, b = _column_titles(page, "a"), _column_titles(page, "b")
        assert a[0] == b[0] == EXPECTED_TOP, (a, b)
        assert 0 < len(b) < len(DOCS) + 2  # BM25 finds only documents sharing a term
    finally:
        _pick(page, "ds-enc-a", "minilm")
        _pick(page, "ds-enc-b", "minilm-causal")


def test_ingest_a_new_index_with_late_chunking_then_search_its_chunks(
    page: Any, server: dict[str, Any]
) -> None:
    """Ingest tab: a new index, MiniLM only, late chunking at 64 tokens; the index records it
    (the tab then shows the chunking read back from the store's index info and locks it), and
    a chunk-level search returns several chunks of one document."""
    from ingest.chunk import CHUNKINGS

    page.get_by_role("tab", name="Ingest").click()
    radios = page.locator("#ds-ing-chunking input[type=radio]")
    assert [r.get_attribute("value") for r in radios.all()] == list(CHUNKINGS)
    assert radios.first.is_disabled()  # the open index ("docs") keeps its own chunking
    box = page.locator("#ds-ing-index input").first
    box.fill("late-docs")
    box.press("Enter")
    note = page.locator("#ds-ing-chunking-note")
    page.wait_for_function(
        "() => (document.querySelector('#ds-ing-chunking-note') || {}).innerText"
        "?.includes('late-docs: a new index')"
    )
    for other in ("minilm-causal", "bm25"):  # MiniLM alone
        token = page.locator("#ds-ing-encoders .token").filter(
            has_text=re.compile("^" + re.escape(other) + " ")
        )
        token.locator(".token-remove").click()
        token.wait_for(state="detached")
    assert not radios.first.is_disabled()
    page.locator("#ds-ing-chunking").get_by_label("Late chunks", exact=False).check()
    page.locator("#ds-ing-chunk-tokens input").fill("64")
    page.locator("#ds-ing-overlap input").fill("8")
    page.locator("#ds-ing-overlap input").press("Tab")
    page.locator("#ds-folder-btn").click()
    page.wait_for_function(
        "() => (document.querySelector('#ds-ingest-summary') || {}).innerText"
        "?.includes('Index late-docs now holds')",
        timeout=120_000,
    )
    summary = page.locator("#ds-ingest-summary").inner_text()
    assert f"holds {len(DOCS)} documents" in summary, summary
    assert "chunking late, 64 tokens, overlap 8" in summary, summary
    page.wait_for_function(
        "() => (document.querySelector('#ds-ing-chunking-note') || {}).innerText"
        "?.includes('keeps the chunking it was built with')"
    )
    assert "late (64 tokens, overlap 8, tokenizer minilm)" in note.inner_text()
    assert radios.first.is_disabled()

    page.get_by_role("tab", name="Search").click()
    page.locator("#ds-index input").first.click()
    page.get_by_role("option", name="late-docs", exact=True).click()
    page.wait_for_function(
        "() => (document.querySelector('#ds-enc-a input') || {}).value?.startsWith('minilm —')"
    )
    page.locator("#ds-level").get_by_label("Chunks").check()
    try:
        _search(page, QUERY)
        # More side-A cards than any document-level list of the other index can hold (it has
        # len(DOCS) + 1 documents): the chunk-level results of late-docs are on the page.
        page.wait_for_function(
            "n => document.querySelectorAll('#ds-results .ds-hit.ds-side-a').length > n",
            arg=len(DOCS) + 1,
        )
        # One read of the cards, so a re-render cannot fall between titles and chunk numbers.
        cards = page.evaluate(
            "() => [...document.querySelectorAll('#ds-results .ds-hit.ds-side-a')]"
            ".map(h => [h.querySelector('.ds-title').textContent.trim(), h.dataset.chunk])"
        )
        assert cards[0][0] == EXPECTED_TOP, cards
        top_chunks = {chunk for title, chunk in cards if title == EXPECTED_TOP}
        assert len(top_chunks) > 1, cards  # several chunks of the top document, not one per doc
    finally:
        page.locator("#ds-level").get_by_label("Documents").check()
        page.locator("#ds-index input").first.click()
        page.get_by_role("option", name="docs", exact=True).click()


def test_no_request_left_localhost(page: Any, server: dict[str, Any]) -> None:
    """Offline: no fonts, scripts or analytics from anywhere but the UI's own server."""
    assert server["requests"], "no requests were recorded"
    outside = [u for u in server["requests"] if not u.startswith(LOCAL_PREFIXES)]
    assert outside == []
    log = server["log"].read_text()
    assert "Traceback" not in log, log[-3000:]
