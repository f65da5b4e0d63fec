"""PDF text extraction with pdfminer.six (used by ``ingest.parse``).

``unstructured.partition.pdf`` is not used: it needs the ``unstructured[pdf]`` extra (pi_heif,
unstructured-inference, onnx, opencv and an unpinned CUDA torch) even for ``strategy="fast"``,
which itself is pdfminer underneath. Calling pdfminer directly gives the same text boxes, page by
page, in ~10-15 ms for a one-page PDF.

Each pdfminer text box becomes one element with its 1-based page number; its lines are joined
with newlines (a line ending in ``-`` is joined to the next without a space). Boxes that are only
decoration (no word of two or more letters/digits, e.g. ``"·  ·  ·"`` or ``"F  F  F"``) are
dropped. Elements are classified with ``unstructured``'s text heuristics; in addition the first
short box of page 1 that does not read like a sentence is taken as the Title.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ingest.errors import ParseError

_WORD_RE = re.compile(r"[^\W_]{2,}")
_JUNK_TITLES = re.compile(
    r"^(untitled|microsoft (word|powerpoint)|document\d*|slide \d+|title|\s*)$|\.(docx?|pptx?|tex|dvi|pdf|indd)$",
    re.IGNORECASE,
)

Raw = list[tuple[str, str, int | None]]


def _decode_pdf_string(value: Any) -> str | None:
    """Decode a PDF info-dictionary string (PDFDocEncoding or UTF-16 with BOM)."""
    from pdfminer.psparser import PSLiteral
    from pdfminer.utils import decode_text

    if isinstance(value, PSLiteral):
        value = value.name
    if isinstance(value, bytes):
        try:
            value = decode_text(value)
        except Exception:
            return None
    if not isinstance(value, str):
        return None
    value = " ".join(value.replace("\x00", "").split())
    return value or None


def _metadata_title(document: Any) -> str | None:
    """The PDF's /Title when it looks like a real title, else None."""
    from pdfminer.pdftypes import resolve1

    for info in getattr(document, "info", []) or []:
        try:
            title = _decode_pdf_string(resolve1(info.get("Title")))
        except Exception:
            continue
        if title and len(title) > 3 and not _JUNK_TITLES.search(title):
            return title
    return None


def _box_text(box: Any) -> str:
    """Lines of a text box, de-spaced; ``word-`` at a line end joins the next line."""
    lines = [" ".join(line.split()) for line in box.get_text().splitlines()]
    lines = [ln for ln in lines if ln]
    out = ""
    for line in lines:
        if not out:
            out = line
        elif out.endswith("-") and len(out) > 1 and out[-2].isalpha():
            out += line
        else:
            out += "\n" + line
    return out


def _looks_like_heading(text: str) -> bool:
    words = text.split()
    return (
        0 < len(words) <= 30
        and text.count("\n") <= 3
        and not text.rstrip().endswith((".", ",", ";", ":"))
    )


def parse_pdf(path: Path) -> tuple[Raw, str | None]:
    """Extract a PDF's text boxes.

    Args:
        path: The PDF file.

    Returns:
        ``([(text, category, page)], metadata title or None)``.

    Raises:
        ParseError: For an encrypted PDF, or one without a text layer.
    """
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams, LTTextContainer
    from pdfminer.pdfdocument import PDFDocument, PDFPasswordIncorrect
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser
    from unstructured.partition.text import element_from_text

    raw: Raw = []
    with open(path, "rb") as f:
        parser = PDFParser(f)
        try:
            document = PDFDocument(parser)
        except PDFPasswordIncorrect as exc:
            raise ParseError("encrypted PDF (password required)") from exc
        title = _metadata_title(document)
        manager = PDFResourceManager(caching=True)
        device = PDFPageAggregator(manager, laparams=LAParams())
        interpreter = PDFPageInterpreter(manager, device)
        n_pages = 0
        for page_no, page in enumerate(PDFPage.create_pages(document), start=1):
            n_pages = page_no
            interpreter.process_page(page)
            layout = device.get_result()
            for item in layout:
                if not isinstance(item, LTTextContainer):
                    continue
                text = _box_text(item)
                if not text or not _WORD_RE.search(text):
                    continue
                if all(len(w) == 1 for w in text.split()):
                    continue
                category = element_from_text(" ".join(text.split())).category
                raw.append((text, category, page_no))
    if not raw:
        if n_pages == 0:
            raise ParseError("PDF has no pages")
        raise ParseError("no text layer (scanned or image-only PDF; OCR is not available offline)")
    first_text, first_cat, first_page = raw[0]
    if first_page == 1 and first_cat != "Title" and _looks_like_heading(first_text):
        raw[0] = (first_text, "Title", first_page)
    return raw, title
