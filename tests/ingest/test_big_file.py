"""One very large document: streamed through the pipeline in bounded pieces, same points.

A ``tokens``-chunked text over ``ingest.pipeline.STREAM_CHARS`` is partitioned, tokenized and
written in pieces (see ingest.pipeline). These tests shrink the thresholds so that a file of a
few tens of kB takes that path, and compare it with the ordinary in-memory path point by point;
the slow test kills a real ``diffsearch ingest`` part way through such a document.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ingest.chunk as chunk_mod
import ingest.parse as parse_mod
import ingest.pipeline as pipeline
from ingest import ingest_folder
from ingest.chunk import chunk_document, streamed_spans, token_window_ranges
from ingest.parse import parse_file
from search.store import open_store
from tests.ingest.ingest_helpers import ROOT, assert_same_points, snapshot

SMALL = {"chunk_tokens": 64, "overlap": 8}
QMSUM = "longembed_qmsum/corpus.jsonl"


def _book(shared_data: Path, chars: int) -> str:
    """Meeting transcripts (single newlines, a blank line between meetings), ``chars`` long."""
    import json

    texts = []
    with open(shared_data / QMSUM, encoding="utf-8") as fh:
        for line in fh:
            texts.append(json.loads(line)["text"])
            if sum(map(len, texts)) > chars:
                break
    return "\n\n".join(texts)[:chars]


@pytest.fixture
def streamed(monkeypatch):
    """Thresholds small enough that a 60 kB text is partitioned, tokenized and written in pieces."""
    monkeypatch.setattr(pipeline, "STREAM_CHARS", 20_000)
    monkeypatch.setattr(pipeline, "PIECE_CHUNKS", 16)
    monkeypatch.setattr(pipeline, "SPAN_PIECE_CHARS", 9_000)
    monkeypatch.setattr(parse_mod, "TEXT_PIECE_CHARS", 7_000)


def test_streamed_token_windows_equal_the_whole_text_ones(shared_data, minilm):
    text = _book(shared_data, 120_000)
    (doc,) = [parse_file_text(text)]
    for spans in (None, minilm.token_offsets):
        whole = [
            (c.start_char, c.end_char)
            for c in chunk_document(doc, "tokens", token_spans=spans, **SMALL)
        ]
        assert (
            token_window_ranges(doc.text, token_spans=spans, piece_chars=10_000, **SMALL) == whole
        )
        assert list(streamed_spans(doc.text, spans, piece_chars=10_000, overlap_chars=2_000)) == (
            chunk_mod._clean_spans((spans or chunk_mod.whitespace_spans)(doc.text), len(doc.text))
        )


def parse_file_text(text: str):
    from ingest.parse import parse_text

    return parse_text(text, "book.txt")


def test_plain_text_partitioned_in_pieces_gives_the_same_elements(
    tmp_path, shared_data, monkeypatch
):
    path = tmp_path / "book.txt"
    path.write_text(_book(shared_data, 60_000), encoding="utf-8")
    whole = parse_file(path)
    monkeypatch.setattr(parse_mod, "TEXT_PIECE_CHARS", 5_000)
    assert parse_file(path) == whole


def test_a_large_document_streamed_in_pieces_gives_the_points_of_one_write(
    tmp_path, shared_data, minilm, streamed, monkeypatch
):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "book.txt").write_text(_book(shared_data, 60_000), encoding="utf-8")
    (root / "note.txt").write_text("A short note beside the book.\n", encoding="utf-8")
    events: list[tuple[str, int, int]] = []
    writes: list[int] = []
    with open_store(path=tmp_path / "pieces") as store:
        real = store.write_documents
        store.write_documents = lambda index, docs: (writes.append(len(docs)), real(index, docs))[1]
        r = ingest_folder(root, index="b", encoders=[minilm], store=store, workers=0,
                          progress=lambda *e: events.append(e), **SMALL)  # fmt: skip
        pieces = snapshot(store, "b")
        assert r.new == 2 and r.failed == 0
        assert store.manifest("b")["book.txt"]["state"] == "complete"
    file_events = [(d, t) for s, d, t in events if s == "file"]
    assert len({d for d, _ in file_events}) > 3, "the in-file progress did not move within the file"
    assert file_events[-1][0] == file_events[-1][1]
    assert len(writes) > 3  # the book went to the store in several write calls
    for name, value in (("STREAM_CHARS", 10**9), ("PIECE_CHUNKS", 256)):
        monkeypatch.setattr(pipeline, name, value)
    monkeypatch.setattr(parse_mod, "TEXT_PIECE_CHARS", 10**9)
    with open_store(path=tmp_path / "whole") as store:
        ingest_folder(root, index="b", encoders=[minilm], store=store, workers=0, **SMALL)
        whole = snapshot(store, "b")
    assert len(whole["ds__b__minilm"]) > 100
    assert_same_points(whole, pieces)


# Kills a real `diffsearch ingest` after the n-th engine write call while it writes the book in
# pieces (thresholds shrunk as above, set in the parse worker too through the environment).
KILL_DRIVER = textwrap.dedent("""
    import os, signal, sys
    import ingest.pipeline, ingest.parse
    n = int(sys.argv[1])
    ingest.pipeline.STREAM_CHARS, ingest.pipeline.PIECE_CHUNKS = 20_000, 16
    ingest.pipeline.SPAN_PIECE_CHARS, ingest.parse.TEXT_PIECE_CHARS = 9_000, 7_000
    count = [0]
    from search.engines.edge import EdgeEngine
    real = EdgeEngine.write
    def write(self, *a, **kw):
        real(self, *a, **kw)
        count[0] += 1
        if count[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
    EdgeEngine.write = write
    from ui.cli import main
    sys.exit(main(sys.argv[2:]))
""")


@pytest.mark.slow
@pytest.mark.parametrize("n", [4, 7, 12])  # writes 1-2: the index record; 3: pending; 4+: pieces
def test_killed_in_the_middle_of_a_large_document_resumes_to_the_exact_index(
    tmp_path, shared_data, minilm, streamed, n
):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "book.txt").write_text(_book(shared_data, 60_000), encoding="utf-8")
    with open_store(path=tmp_path / "clean") as store:
        ingest_folder(root, index="k", encoders=[minilm], store=store, workers=0, **SMALL)
        clean = snapshot(store, "k")
    path = tmp_path / "killed"
    args = ["ingest", str(root), "--index", "k", "-e", "minilm", "--store", str(path),
            "--chunk-tokens", "64", "--overlap", "8", "--workers", "0"]  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", KILL_DRIVER, str(n), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == -9, proc.stderr[-2000:]
    with open_store(path=path) as store:
        assert store.manifest("k")["book.txt"]["state"] == "pending"
        partial = snapshot(store, "k")
        assert 0 < len(partial.get("ds__k__minilm", {})) < len(clean["ds__k__minilm"])
        r = ingest_folder(root, index="k", encoders=[minilm], store=store, workers=0, **SMALL)
        assert r.failed == 0 and r.new == 1
        assert_same_points(clean, snapshot(store, "k"))
