"""Stage 2 of ingest: parse one file into text elements, offline.

:func:`parse_file` turns a file into a :class:`ParsedDocument`: a tuple of :class:`Element` (text,
category such as ``Title``/``NarrativeText``/``ListItem``/``Table``, page number, section heading)
plus a document title. It raises :class:`ingest.errors.ParseError` with a short reason for any
file it cannot read; it never lets a library's exception or traceback escape.

How each type is read (all offline; see ``ingest.offline`` for the spaCy stand-in):

* txt, md, html, eml, docx, pptx, odt, rtf, epub: ``unstructured``'s partitioners (odt, rtf and
  epub go through pandoc from ``pypandoc-binary``). Text files are decoded here (UTF-8, then
  cp1252 with a note), so latin-1/Windows text still parses.
* pdf: pdfminer.six directly, one element per text box with its page number. (``unstructured``'s
  ``partition_pdf`` needs the ``[pdf]`` extra, which drags CUDA torch and model downloads.) A PDF
  with no text layer (scanned) is a ParseError: OCR is not available offline.
* csv/tsv: one element per row, ``column: value`` pairs, so rows stay searchable.
* json: one element per scalar leaf, ``path.to.key: value``.

Sections: every element carries the text of the nearest preceding ``Title`` element (a Title's
own section is itself). Title of the document: an explicit one (html ``<title>``, e-mail subject,
PDF metadata title when it looks real), else the first Title element, else the file stem.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from ingest._textformats import (
    Raw,
    from_unstructured,
    html_title,
    parse_eml,
    parse_json,
    parse_table,
)
from ingest.errors import ParseError
from ingest.load import filetype_of
from ingest.offline import ensure_offline

log = logging.getLogger(__name__)

#: Canonical file type per extension.
CANONICAL_TYPES: dict[str, str] = {
    "txt": "txt",
    "text": "txt",
    "md": "md",
    "markdown": "md",
    "html": "html",
    "htm": "html",
    "pdf": "pdf",
    "docx": "docx",
    "pptx": "pptx",
    "odt": "odt",
    "rtf": "rtf",
    "epub": "epub",
    "eml": "eml",
    "csv": "csv",
    "tsv": "tsv",
    "json": "json",
}
_TEXT_TYPES = {"txt", "md", "html", "eml", "csv", "tsv", "json"}
# Categories that are layout furniture, not content.
_DROP_CATEGORIES = {"PageBreak", "PageNumber", "Header", "Footer", "Image"}
_MAX_REASON = 200


@dataclass(frozen=True)
class Element:
    """One piece of a document's text.

    Attributes:
        text: The text, stripped, never empty.
        category: ``unstructured``'s category (``Title``, ``NarrativeText``, ``ListItem``,
            ``Table``, ``UncategorizedText``, ...; ``TableRow`` for csv/tsv rows, ``Field``
            for json leaves).
        page: 1-based page (PDF) or slide (pptx) number, when the format has pages.
        section: Text of the nearest preceding Title element (itself for a Title), or None.
    """

    text: str
    category: str
    page: int | None = None
    section: str | None = None


@dataclass(frozen=True)
class ParsedDocument:
    """A parsed document.

    Attributes:
        relpath: Posix path relative to the ingested root (or a record id).
        filetype: Canonical type (``txt``, ``md``, ``html``, ``pdf``, ...).
        title: Document title (see module docs), or None for records without one.
        elements: The content, in reading order.
        notes: Remarks for the run summary (e.g. "decoded as cp1252").
    """

    relpath: str
    filetype: str
    title: str | None
    elements: tuple[Element, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def text(self) -> str:
        """The elements' text joined with blank lines (element ``i`` starts at a known offset)."""
        return "\n\n".join(e.text for e in self.elements)

    def element_offsets(self) -> list[int]:
        """Return the character offset in :attr:`text` where each element starts."""
        offsets, pos = [], 0
        for e in self.elements:
            offsets.append(pos)
            pos += len(e.text) + 2
        return offsets


# --------------------------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------------------------


def parse_file(path: Path | str, relpath: str | None = None) -> ParsedDocument:
    """Parse one file.

    Args:
        path: The file.
        relpath: Its path relative to the ingested root (defaults to the file name).

    Returns:
        The parsed document, with at least one element.

    Raises:
        ParseError: With a short reason, for an unsupported, unreadable, empty, corrupt or
            binary file, or one with no extractable text.
    """
    path = Path(path)
    relpath = relpath if relpath is not None else path.name
    ext = filetype_of(path)
    filetype = CANONICAL_TYPES.get(ext)
    if filetype is None:
        raise ParseError(f"unsupported type .{ext}" if ext else "unsupported type (no extension)")
    ensure_offline()
    notes: list[str] = []
    try:
        if not path.exists():
            raise ParseError("file not found")
        if not path.is_file():
            raise ParseError("not a regular file")
        with open(path, "rb") as f:
            head = f.read(8192)
        if not head:
            raise ParseError("empty file")
        if filetype in _TEXT_TYPES:
            raw = path.read_bytes()
            text = decode_text(raw, notes)
            elements, title = _parse_text_type(filetype, text, path)
        else:
            _check_signature(filetype, head)
            elements, title = _parse_binary_type(filetype, path)
    except ParseError:
        raise
    except PermissionError as exc:
        raise ParseError("permission denied") from exc
    except MemoryError as exc:
        raise ParseError("out of memory while parsing") from exc
    except RecursionError as exc:
        raise ParseError("document nesting too deep") from exc
    except Exception as exc:  # any library failure becomes a short reason
        raise ParseError(short_reason(exc)) from exc
    doc = _finish(relpath, filetype, elements, title, path.stem, notes)
    if not doc.elements:
        raise ParseError("no text found")
    return doc


def parse_text(
    text: str,
    relpath: str,
    title: str | None = None,
    filetype: str = "txt",
    *,
    title_in_text: bool = True,
) -> ParsedDocument:
    """Wrap text that is already extracted (a BEIR record, a string) as a document.

    Plain text is split into paragraphs on blank lines without classifying them (fast and
    deterministic for corpora of many short records); ``md`` and ``html`` go through their
    partitioners so that headings become Title elements.

    Args:
        text: The text.
        relpath: Identity of the record (e.g. the BEIR ``_id``).
        title: Its title, if any.
        filetype: ``txt`` (default), ``md`` or ``html``.
        title_in_text: Put the title first as a Title element, so that it is embedded with the
            body (the usual BEIR convention: title + text).

    Returns:
        The document; it has no elements when text and title are both blank.
    """
    filetype = CANONICAL_TYPES.get(filetype, filetype)
    title = title.strip() if title and title.strip() else None
    parsed: list[tuple[str, str, int | None]]
    if filetype in {"md", "html"}:
        ensure_offline()
        try:
            parsed, _ = _parse_text_type(filetype, text, None)
        except Exception as exc:
            raise ParseError(short_reason(exc)) from exc
    else:
        parsed = [(p, "NarrativeText", None) for p in re.split(r"\n\s*\n", text)]
    if title and title_in_text:
        parsed = [(title, "Title", None), *parsed]
    return _finish(relpath, filetype, parsed, title, None, [])


def short_reason(exc: BaseException) -> str:
    """One-line reason for an exception: its type and the first line of its message.

    Args:
        exc: Any exception.

    Returns:
        For example ``"PDFSyntaxError: No /Root object! - Is this really a PDF?"``.
    """
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    reason = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
    return reason if len(reason) <= _MAX_REASON else reason[: _MAX_REASON - 1] + "…"


# --------------------------------------------------------------------------------------------
# decoding and sanity checks
# --------------------------------------------------------------------------------------------

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_CONTROL = set(range(0, 32)) - {9, 10, 12, 13, 27}


def looks_binary(raw: bytes) -> bool:
    """Heuristic: NUL bytes, or more than 10% control bytes, in the first 8 KiB.

    Args:
        raw: The file's leading bytes (no BOM handling: call after checking BOMs).

    Returns:
        True when the bytes are very unlikely to be text.
    """
    sample = raw[:8192]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b in _CONTROL)
    return controls / len(sample) > 0.10


def decode_text(raw: bytes, notes: list[str] | None = None) -> str:
    """Decode a text file's bytes: BOM, then UTF-8, then cp1252, then latin-1.

    Text that is mostly valid UTF-8 but has a few broken byte sequences stays UTF-8 with the bad
    bytes replaced by U+FFFD; otherwise non-UTF-8 text is taken as cp1252 (a superset of
    latin-1 for printable characters, what Windows editors write), else latin-1.

    Args:
        raw: The bytes.
        notes: Receives a remark when the text was not valid UTF-8.

    Returns:
        The text (never fails for non-binary input).

    Raises:
        ParseError: For binary data.
    """
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(codec)
            except UnicodeDecodeError as exc:
                raise ParseError(f"invalid {codec} text after byte-order mark") from exc
    if looks_binary(raw):
        raise ParseError("binary data, not text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Mostly valid UTF-8 with a few broken bytes (a truncated or concatenated file): keep UTF-8
    # and replace the bad bytes, rather than turning every accented letter into mojibake.
    replaced = raw.decode("utf-8", "replace")
    bad = replaced.count("\ufffd")
    good = sum(1 for ch in replaced if ord(ch) > 127 and ch != "\ufffd")
    if good >= 4 * bad:
        if notes is not None:
            notes.append(f"invalid UTF-8: {bad} bad byte sequence(s) replaced")
        return replaced
    for codec in ("cp1252", "latin-1"):
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        if notes is not None:
            notes.append(f"not valid UTF-8; decoded as {codec}")
        log.info("not valid UTF-8; decoded as %s", codec)
        return text
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


_SIGNATURES = {
    "pdf": (b"%PDF",),
    "docx": (b"PK",),
    "pptx": (b"PK",),
    "odt": (b"PK",),
    "epub": (b"PK",),
    "rtf": (b"{\\rtf",),
}


def _check_signature(filetype: str, head: bytes) -> None:
    """Reject files whose leading bytes do not match their extension."""
    sigs = _SIGNATURES.get(filetype)
    if not sigs:
        return
    probe = head.lstrip(b"\xef\xbb\xbf\r\n\t ") if filetype == "rtf" else head[:1024]
    if filetype == "pdf":
        if b"%PDF" not in probe:
            raise ParseError("not a PDF file (no %PDF header)")
        return
    if not any(probe.startswith(s) for s in sigs):
        kind = "zip-based " if sigs == (b"PK",) else ""
        raise ParseError(f"not a valid {kind}{filetype} file (wrong signature)")


# --------------------------------------------------------------------------------------------
# per-type parsers; each returns ([(text, category, page)], explicit title or None)
# --------------------------------------------------------------------------------------------


# Every partitioner gets languages=[""]: unstructured otherwise runs langdetect over each document's
# full text (~40% of parsing a Markdown file) only to fill ``metadata.languages``, which diffsearch
# does not keep; [""] is its documented off switch. Element types do not depend on it.


# A plain text longer than this is partitioned in pieces cut at blank lines: unstructured's
# elements of a whole 30 MB text peak at ~1.6 GB, a piece's at a few tens of MB. It splits plain
# text into paragraphs at blank lines and classifies each on its own, so the elements are the same.
TEXT_PIECE_CHARS = 1_000_000


def text_pieces(text: str, size: int) -> list[tuple[int, int]]:
    """``(start, end)`` pieces of about ``size`` characters, each cut just after a blank line,
    else after a line end (unstructured splits plain text at both), else at ``size``."""
    out, start, n = [], 0, len(text)
    while start < n:
        end = min(n, start + size)
        if end < n:
            for sep in ("\n\n", "\n"):
                cut = text.rfind(sep, start + size // 2, end)
                if cut > start:
                    end = cut + len(sep)
                    break
        out.append((start, end))
        start = end
    return out


def _parse_text_type(filetype: str, text: str, path: Path | None) -> tuple[Raw, str | None]:
    if filetype == "txt":
        from unstructured.partition.text import partition_text

        raw: Raw = []
        for a, b in text_pieces(text, TEXT_PIECE_CHARS):
            raw += from_unstructured(partition_text(text=text[a:b], languages=[""]))
        return raw, None
    if filetype == "md":
        from unstructured.partition.md import partition_md

        return from_unstructured(partition_md(text=text, languages=[""])), None
    if filetype == "html":
        from unstructured.partition.html import partition_html

        return from_unstructured(partition_html(text=text, languages=[""])), html_title(text)
    if filetype == "eml":
        return parse_eml(text, path)
    if filetype in {"csv", "tsv"}:
        return parse_table(text, "\t" if filetype == "tsv" else None), None
    if filetype == "json":
        return parse_json(text), None
    raise ParseError(f"unsupported type .{filetype}")  # pragma: no cover


def _parse_binary_type(filetype: str, path: Path) -> tuple[Raw, str | None]:
    if filetype == "pdf":
        from ingest._pdf import parse_pdf

        return parse_pdf(path)
    if filetype == "docx":
        from unstructured.partition.docx import partition_docx

        return from_unstructured(partition_docx(filename=str(path), languages=[""])), None
    if filetype == "pptx":
        from unstructured.partition.pptx import partition_pptx

        return from_unstructured(partition_pptx(filename=str(path), languages=[""])), None
    if filetype == "odt":
        from unstructured.partition.odt import partition_odt

        return from_unstructured(partition_odt(filename=str(path), languages=[""])), None
    if filetype == "rtf":
        from unstructured.partition.rtf import partition_rtf

        return from_unstructured(partition_rtf(filename=str(path), languages=[""])), None
    if filetype == "epub":
        from unstructured.partition.epub import partition_epub

        return from_unstructured(partition_epub(filename=str(path), languages=[""])), None
    raise ParseError(f"unsupported type .{filetype}")  # pragma: no cover


# --------------------------------------------------------------------------------------------
# normalisation
# --------------------------------------------------------------------------------------------

_WS_RE = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANKS_RE = re.compile(r"\n\s*\n+")


def _clean(text: str) -> str:
    """Collapse runs of spaces, keep single newlines, no blank lines inside an element."""
    text = text.replace("\x00", "")
    text = _WS_RE.sub(" ", text)
    text = _BLANKS_RE.sub("\n", text)
    return "\n".join(line.strip() for line in text.split("\n")).strip()


def _finish(
    relpath: str,
    filetype: str,
    raw: Raw,
    explicit_title: str | None,
    stem: str | None,
    notes: list[str],
) -> ParsedDocument:
    """Clean texts, drop furniture, assign sections, choose the title."""
    elements: list[Element] = []
    section: str | None = None
    first_title: str | None = None
    for text, category, page in raw:
        if category in _DROP_CATEGORIES:
            continue
        if category == "CodeSnippet":
            text = text.strip("\n")  # keep a code block's indentation
            text = _BLANKS_RE.sub("\n", text.replace("\x00", ""))
        else:
            text = _clean(text)
        if not text:
            continue
        if category == "Title":
            section = " ".join(text.split())[:300]
            if first_title is None:
                first_title = section
        elements.append(Element(text=text, category=category, page=page, section=section))
    title = explicit_title or first_title or stem
    return ParsedDocument(
        relpath=relpath,
        filetype=filetype,
        title=title,
        elements=tuple(elements),
        notes=tuple(notes),
    )
