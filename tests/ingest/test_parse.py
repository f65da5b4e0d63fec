"""Tests of ingest.parse: every format, titles/sections/pages, bad files, no network."""

from __future__ import annotations

import builtins
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ingest.errors import ParseError
from ingest.parse import ParsedDocument, decode_text, looks_binary, parse_file, parse_text

ROOT = Path(__file__).resolve().parents[2]

# mixed_docs files parsed in the default run (the two big ones are @slow below).
MIXED = [
    "README.md",
    "book-war-and-peace-1p.txt",
    "codeblock.md",
    "docx-tables.docx",
    "example-10k-1p.html",
    "fake-doc-emphasized-text.docx",
    "fake-doc.rtf",
    "fake-email.txt",
    "fake-html.html",
    "fake-power-point.pptx",
    "fake-text.txt",
    "fake.docx",
    "fake.odt",
    "handbook-1p.docx",
    "norwich-city.txt",
    "repo_CONTRIBUTING.md",
    "repo_LICENSE.md",
    "repo_README.md",
    "sample-presentation.pptx",
    "simple-table.md",
    "simple.docx",
    "pdf/fake-memo.pdf",
    "pdf/multi-column-2p.pdf",
    "example-10k.html",
    "language-docs/UDHR_first_article_all.txt",
]
LANGUAGE_FORMATS = ["docx", "epub", "html", "md", "odt", "pptx", "rtf", "txt"]


def _check_doc(doc: ParsedDocument) -> None:
    assert doc.elements and doc.text.strip()
    for e in doc.elements:
        assert e.text.strip()
        if e.category != "CodeSnippet":  # code keeps its indentation
            assert e.text == e.text.strip()
        assert "\n\n" not in e.text
    offsets = doc.element_offsets()
    for off, e in zip(offsets, doc.elements, strict=True):
        assert doc.text[off : off + len(e.text)] == e.text


# ------------------------------------------------------------------ real files


@pytest.mark.parametrize("name", MIXED)
def test_mixed_docs_parse(mixed_docs: Path, name: str) -> None:
    doc = parse_file(mixed_docs / name, name)
    _check_doc(doc)
    assert doc.relpath == name and doc.title


@pytest.mark.parametrize("fmt", LANGUAGE_FORMATS)
def test_same_text_in_eight_formats(mixed_docs: Path, fmt: str) -> None:
    doc = parse_file(mixed_docs / "language-docs" / f"eng_spa_mult.{fmt}", f"eng_spa_mult.{fmt}")
    _check_doc(doc)
    assert "All human beings are born free and equal in dignity and rights" in doc.text
    assert "Todos los seres humanos nacen libres e iguales" in doc.text
    assert doc.filetype == fmt


@pytest.mark.slow
@pytest.mark.parametrize("name", ["handbook-872p.docx", "book-war-and-peace-1225p.txt"])
def test_big_mixed_docs(mixed_docs: Path, name: str) -> None:
    doc = parse_file(mixed_docs / name, name)
    _check_doc(doc)
    assert len(doc.text) > 500_000


def test_pdf_pages_and_title(mixed_docs: Path) -> None:
    doc = parse_file(mixed_docs / "pdf" / "multi-column-2p.pdf", "m.pdf")
    assert {e.page for e in doc.elements} == {1, 2}
    assert doc.title and doc.title.startswith("Dense Passage Retrieval")
    assert "open-domain question answering" in doc.text.lower()


def test_pdf_without_text_layer(mixed_docs: Path) -> None:
    with pytest.raises(ParseError, match="no text layer"):
        parse_file(mixed_docs / "pdf" / "loremipsum-flat.pdf", "flat.pdf")


def test_nfcorpus_pdfs(shared_data: Path) -> None:
    folder = shared_data / "nfcorpus_pdf" / "pdf_docs"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    names = sorted(os.listdir(folder))[:: max(1, len(os.listdir(folder)) // 8)][:8]
    for name in names:
        doc = parse_file(folder / name, name)
        _check_doc(doc)
        assert all(e.page == 1 for e in doc.elements)
        assert len(doc.text) > 200
        first_word = "".join(ch for ch in Path(name).stem.split()[1] if ch.isalnum()).lower()
        assert first_word in "".join(ch for ch in doc.text[:400] if ch.isalnum()).lower()


def test_pptx_slides_are_pages(mixed_docs: Path) -> None:
    doc = parse_file(mixed_docs / "sample-presentation.pptx", "s.pptx")
    assert {e.page for e in doc.elements} == {1, 2, 3, 4}


# ------------------------------------------------------------------ generated files


def test_markdown_headings_are_sections(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text(
        "# Install Guide\n\nRun the installer and wait until it finishes.\n\n"
        "## Configure the index\n\nThe index stores one vector per chunk.\n\n"
        "- first item is here\n- second item is here\n",
        encoding="utf-8",
    )
    doc = parse_file(path, "docs/guide.md")
    assert doc.title == "Install Guide"
    cats = [(e.category, e.section) for e in doc.elements]
    assert cats[0] == ("Title", "Install Guide")
    assert ("NarrativeText", "Install Guide") in cats
    assert ("Title", "Configure the index") in cats
    assert cats[-1] == ("ListItem", "Configure the index")


def test_html_title_and_headings(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Masked &amp; Diffusion</title></head><body>"
        "<h1>Overview</h1><p>Diffusion models denoise masked tokens in parallel.</p>"
        "<h2>Training</h2><p>The model was trained on a large corpus of text.</p>"
        "<script>var x = 1;</script></body></html>",
        encoding="utf-8",
    )
    doc = parse_file(path, "page.html")
    assert doc.title == "Masked & Diffusion"
    assert [e.section for e in doc.elements] == ["Overview", "Overview", "Training", "Training"]
    assert "var x" not in doc.text


def test_html_file_name_title_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "filing.html"
    path.write_text(
        "<title>glxz-10k_20211231.htm</title><h1>Annual Report</h1>"
        "<p>The company sells products.</p>",
        encoding="utf-8",
    )
    assert parse_file(path, "filing.html").title == "Annual Report"


def test_docx_headings_tables(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("Quarterly Report", level=1)
    d.add_paragraph("Revenue grew by ten percent in the third quarter of the year.")
    d.add_heading("Risks", level=2)
    d.add_paragraph("Supply chains remain fragile and prices are volatile.")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Region", "Sales"
    table.cell(1, 0).text, table.cell(1, 1).text = "North", "42"
    d.save(str(tmp_path / "r.docx"))
    doc = parse_file(tmp_path / "r.docx", "r.docx")
    assert doc.title == "Quarterly Report"
    titles = [e for e in doc.elements if e.category == "Title"]
    assert [(t.text, t.section) for t in titles] == [
        ("Quarterly Report", "Quarterly Report"),
        ("Risks", "Risks"),
    ]
    table = next(e for e in doc.elements if e.category == "Table")
    assert table.section == "Risks" and "North" in table.text
    assert any(e.category == "NarrativeText" and e.section == "Risks" for e in doc.elements)


def test_pptx_generated(tmp_path: Path) -> None:
    from pptx import Presentation

    prs = Presentation()
    slides = [("Intro", "We compare two model families."), ("Results", "Recall is better.")]
    for title, body in slides:
        slide = prs.slides.add_slide(prs.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    prs.save(str(tmp_path / "deck.pptx"))
    doc = parse_file(tmp_path / "deck.pptx", "deck.pptx")
    assert [(e.text, e.page, e.section) for e in doc.elements] == [
        ("Intro", 1, "Intro"),
        ("We compare two model families.", 1, "Intro"),
        ("Results", 2, "Results"),
        ("Recall is better.", 2, "Results"),
    ]


def test_csv_tsv_json_eml(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("name,city\nAda,London\nAlan,Wilmslow\n", encoding="utf-8")
    doc = parse_file(tmp_path / "t.csv", "t.csv")
    assert [e.text for e in doc.elements] == [
        "name | city",
        "name: Ada; city: London",
        "name: Alan; city: Wilmslow",
    ]
    (tmp_path / "t.tsv").write_text("a\tb\n1\t2\n", encoding="utf-8")
    assert parse_file(tmp_path / "t.tsv", "t.tsv").elements[-1].text == "a: 1; b: 2"
    (tmp_path / "t.json").write_text(
        json.dumps({"title": "Hi", "tags": ["x", "y"], "n": None, "meta": {"k": 3}})
    )
    doc = parse_file(tmp_path / "t.json", "t.json")
    assert [e.text for e in doc.elements] == ["title: Hi", "tags[0]: x", "tags[1]: y", "meta.k: 3"]
    (tmp_path / "m.eml").write_text(
        "From: Alice <alice@example.com>\nTo: Bob <bob@example.com>\n"
        "Subject: Quarterly report draft\nContent-Type: text/plain; charset=utf-8\n\n"
        "Hi Bob,\n\nPlease find the quarterly numbers below. Revenue grew by ten percent.\n",
        encoding="utf-8",
    )
    doc = parse_file(tmp_path / "m.eml", "m.eml")
    assert doc.title == "Quarterly report draft"
    assert "Revenue grew by ten percent" in doc.text


def test_latin1_text_is_ingested_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "old.txt"
    path.write_bytes("Café crème brûlée is a dessert that people enjoy.".encode("latin-1"))
    doc = parse_file(path, "old.txt")
    assert "Café crème brûlée" in doc.text
    assert doc.notes == ("not valid UTF-8; decoded as cp1252",)
    assert decode_text("ü".encode("utf-16")) == "ü"
    notes: list[str] = []
    mostly_utf8 = ("Zürich, Genève, Köln und Málaga. " * 5).encode() + b"\xff end"
    assert decode_text(mostly_utf8, notes).startswith("Zürich, Genève")
    assert notes == ["invalid UTF-8: 1 bad byte sequence(s) replaced"]
    assert decode_text("\ufeffhé".encode()) == "hé"


def test_parse_text_records() -> None:
    doc = parse_text("First paragraph here.\n\nSecond one.", "doc1", title="A Title")
    assert [e.text for e in doc.elements] == ["A Title", "First paragraph here.", "Second one."]
    assert doc.title == "A Title" and doc.elements[1].section == "A Title"
    assert parse_text("body", "d", title="T", title_in_text=False).text == "body"
    assert parse_text("  \n ", "empty").elements == ()
    md = parse_text("# Head\n\nSome text that is written here.", "r", filetype="md")
    assert md.title == "Head" and md.elements[1].section == "Head"


# ------------------------------------------------------------------ bad files


def _valid_docx_bytes() -> bytes:
    import docx

    buf = io.BytesIO()
    d = docx.Document()
    d.add_paragraph("hello there, this is a document")
    d.save(buf)
    return buf.getvalue()


BAD_FILES = {
    "empty.txt": (b"", "empty file"),
    "blank.md": (b"  \n\n \t\n", "no text found"),
    "binary.txt": (bytes(range(256)) * 8, "binary data, not text"),
    "nul.md": (b"text\x00more text\x00", "binary data, not text"),
    "notpdf.pdf": (b"just some text, not a pdf", "not a PDF file"),
    "corrupt.pdf": (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage\n%%EOF", None),
    "garbage.docx": (b"PK\x03\x04" + os.urandom(300), None),
    "text.docx": (b"plain text pretending to be a docx", "not a valid zip-based docx file"),
    "random.pptx": (os.urandom(500), "not a valid zip-based pptx file"),
    "random.epub": (os.urandom(500), "not a valid zip-based epub file"),
    "random.odt": (os.urandom(500), "not a valid zip-based odt file"),
    "notrtf.rtf": (b"hello, not rtf", "not a valid rtf file"),
    "bad.json": (b'{"a": 1,', "invalid JSON"),
    "notmail.eml": (b"just a line of text\n", "not an e-mail message"),
    "bin.csv": (b"\x00\x01\x02" * 100, "binary data, not text"),
    "x.xyz": (b"data", "unsupported type .xyz"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_raise_parse_error(tmp_path: Path, name: str) -> None:
    data, reason = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ParseError) as info:
        parse_file(path, name)
    message = str(info.value)
    assert message and "\n" not in message and "Traceback" not in message
    assert len(message) <= 200
    if reason:
        assert message.startswith(reason)


def test_truncated_docx(tmp_path: Path) -> None:
    data = _valid_docx_bytes()
    (tmp_path / "cut.docx").write_bytes(data[: len(data) // 2])
    with pytest.raises(ParseError) as info:
        parse_file(tmp_path / "cut.docx", "cut.docx")
    assert "BadZipFile" in str(info.value) or "zip" in str(info.value).lower()


def test_encrypted_pdf(tmp_path: Path, mixed_docs: Path) -> None:
    import pikepdf

    with pikepdf.open(mixed_docs / "pdf" / "fake-memo.pdf") as pdf:
        pdf.save(tmp_path / "locked.pdf", encryption=pikepdf.Encryption(owner="o", user="u"))
    with pytest.raises(ParseError, match="encrypted PDF"):
        parse_file(tmp_path / "locked.pdf", "locked.pdf")


def test_missing_directory_and_fifo(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="file not found"):
        parse_file(tmp_path / "gone.txt", "gone.txt")
    (tmp_path / "dir.txt").mkdir()
    with pytest.raises(ParseError, match="not a regular file"):
        parse_file(tmp_path / "dir.txt", "dir.txt")
    os.mkfifo(tmp_path / "pipe.md")
    with pytest.raises(ParseError, match="not a regular file"):
        parse_file(tmp_path / "pipe.md", "pipe.md")


@pytest.mark.parametrize("name", ["secret.txt", "secret.docx"])
def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(_valid_docx_bytes() if name.endswith(".docx") else b"secret words")
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if Path(str(file)) == path:  # root ignores chmod 000: simulate a normal user
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    with pytest.raises(ParseError, match=r"^permission denied$"):
        parse_file(path, name)


def test_binary_heuristic() -> None:
    assert looks_binary(b"\x00abc")
    assert not looks_binary(b"plain text\twith tabs\r\n")
    assert not looks_binary("日本語のテキスト".encode())


# ------------------------------------------------------------------ offline


def test_no_network_attempt(tmp_path: Path, no_network: list[str]) -> None:
    (tmp_path / "a.md").write_text("# T\n\nThe text is written here.", encoding="utf-8")
    (tmp_path / "a.html").write_text("<h1>T</h1><p>The text is here.</p>", encoding="utf-8")
    (tmp_path / "a.txt").write_text("The text is written here.", encoding="utf-8")
    (tmp_path / "a.docx").write_bytes(_valid_docx_bytes())
    for name in ("a.md", "a.html", "a.txt", "a.docx"):
        assert parse_file(tmp_path / name, name).text
    assert no_network == []


@pytest.mark.parametrize("fmt", LANGUAGE_FORMATS)
def test_no_language_detection(mixed_docs: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    """langdetect (40% of parsing Markdown) is never run: diffsearch keeps no language field."""
    import unstructured.partition.common.lang as lang

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("language detection ran")

    monkeypatch.setattr(lang, "detect_langs", refuse)
    doc = parse_file(mixed_docs / "language-docs" / f"eng_spa_mult.{fmt}", f"eng_spa_mult.{fmt}")
    assert "All human beings are born free" in doc.text


def test_fresh_process_never_downloads(tmp_path: Path) -> None:
    """In a new interpreter (nothing cached) parsing works with the network refused."""
    (tmp_path / "a.docx").write_bytes(_valid_docx_bytes())
    script = f"""
import socket, sys, urllib.request, sysconfig, os
def refuse(*a, **k):
    raise SystemExit("network access attempted: %r" % (a[:2],))
urllib.request.urlopen = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
socket.socket.connect = refuse
from pathlib import Path
from ingest.parse import parse_file
d = Path({str(tmp_path)!r})
(d / "a.md").write_text("# Head\\n\\nThe cat sat on the mat.\\n", encoding="utf-8")
(d / "a.html").write_text("<h1>Head</h1><p>The text is here.</p>", encoding="utf-8")
(d / "a.txt").write_text("Short line.\\n\\nThe cat sat on the mat.", encoding="utf-8")
for name in ("a.md", "a.html", "a.txt", "a.docx"):
    doc = parse_file(d / name, name)
    assert doc.text, name
md = parse_file(d / "a.md", "a.md")
assert [e.category for e in md.elements] == ["Title", "NarrativeText"], md.elements
import spacy
nlp = spacy.load("en_core_web_sm")
assert "sentencizer" in nlp.pipe_names
site = sysconfig.get_paths()["purelib"]
assert not any(n.startswith("en_core_web_sm") for n in os.listdir(site)), "installed a model"
print("OK")
"""
    env = {k: v for k, v in os.environ.items() if k != "DO_NOT_TRACK"}
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("OK")


def test_zip_bomb_like_docx_is_contained(tmp_path: Path) -> None:
    """A zip that is valid but not a docx gives a reason, not a crash."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "not a word document")
    (tmp_path / "z.docx").write_bytes(buf.getvalue())
    with pytest.raises(ParseError):
        parse_file(tmp_path / "z.docx", "z.docx")
