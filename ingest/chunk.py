"""Stage 3 of ingest: cut a parsed document into chunks.

Three modes (:func:`chunk_document`):

* ``whole``: one chunk holding the whole document text; the encoder's long-input policy
  (truncate or windows) decides what happens beyond its maximum length.
* ``tokens``: windows of ``chunk_tokens`` tokens, consecutive windows sharing ``overlap`` tokens.
  Tokens are the character spans given by ``token_spans`` (the index's reference tokenizer,
  e.g. ``encoder.token_offsets``) or whitespace-separated words when None. A window edge that
  would fall inside a word (between two sub-word tokens with no gap) is moved back to the
  word's start when that costs at most a quarter of the window, so words are not cut. Every
  token of the text lands in at least one chunk.
* ``title``: one chunk per section, a section starting at each Title element (heading). A
  section longer than ``chunk_tokens`` is cut into token windows as above; a section shorter
  than ``combine_under`` tokens (default ``chunk_tokens // 4``, e.g. a heading followed straight
  by a sub-heading) is merged with the following ones while the total stays within
  ``chunk_tokens``.

A chunk's text is always an exact slice ``doc.text[start_char:start_char + len(text)]``; its
``page`` and ``section`` are those of the element in which it starts. Empty documents give no
chunks. The result depends only on the inputs (deterministic).
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ingest.parse import ParsedDocument

#: Character span ``(start, end)`` of each token of a text, e.g. ``encoder.token_offsets``.
TokenSpans = Callable[[str], list[tuple[int, int]]]
ChunkMode = Literal["whole", "tokens", "title"]
CHUNK_MODES: tuple[str, ...] = ("whole", "tokens", "title")
#: An index's chunking: a chunker mode, or ``late`` (the chunks of ``tokens``, embedded in one
#: pass over their document: ``ingest.late``). The one list the CLI, the plan and eval use.
CHUNKINGS: tuple[str, ...] = (*CHUNK_MODES, "late")

_WORD_RE = re.compile(r"\S+")


@dataclass(frozen=True)
class Chunk:
    """One chunk of a document.

    Attributes:
        text: The chunk's text, an exact slice of the document text.
        chunk: 0-based number within the document.
        page: Page of the element where the chunk starts (None for formats without pages).
        section: Heading of the section where the chunk starts (None before the first heading).
        title: The document title.
        start_char: Offset of the chunk in ``doc.text``.
    """

    text: str
    chunk: int
    page: int | None
    section: str | None
    title: str | None
    start_char: int

    @property
    def end_char(self) -> int:
        """Offset just past the chunk's last character in ``doc.text``."""
        return self.start_char + len(self.text)


def whitespace_spans(text: str) -> list[tuple[int, int]]:
    """Default tokenizer: the span of every run of non-space characters.

    Args:
        text: Any text.

    Returns:
        ``[(start, end), ...]`` in order.
    """
    return [m.span() for m in _WORD_RE.finditer(text)]


def chunk_document(
    doc: ParsedDocument,
    mode: ChunkMode,
    *,
    chunk_tokens: int = 256,
    overlap: int = 32,
    token_spans: TokenSpans | None = None,
    combine_under: int | None = None,
) -> list[Chunk]:
    """Cut ``doc`` into chunks.

    Args:
        doc: The parsed document.
        mode: ``"whole"``, ``"tokens"`` or ``"title"`` (see module docs).
        chunk_tokens: Most tokens per chunk (``tokens`` and ``title`` modes).
        overlap: Tokens shared by consecutive windows; ``0 <= overlap < chunk_tokens``.
        token_spans: Tokenizer giving character spans; whitespace words when None.
        combine_under: ``title`` mode: sections with fewer tokens merge with the next ones
            (default ``chunk_tokens // 4``).

    Returns:
        The chunks, numbered from 0; empty for a document without text.

    Raises:
        ValueError: For an unknown mode or inconsistent sizes.
    """
    if mode not in CHUNK_MODES:
        raise ValueError(f"unknown chunk mode {mode!r}; expected one of {', '.join(CHUNK_MODES)}")
    if mode != "whole":
        if chunk_tokens < 1:
            raise ValueError(f"chunk_tokens must be at least 1, got {chunk_tokens}")
        if not 0 <= overlap < chunk_tokens:
            raise ValueError(f"overlap must be in [0, chunk_tokens), got {overlap}")
    text = doc.text
    if not text.strip():
        return []
    builder = _Builder(doc, text)
    if mode == "whole":
        builder.add(0, len(text))
        return builder.chunks
    spans = _clean_spans((token_spans or whitespace_spans)(text), len(text))
    if not spans:
        builder.add(0, len(text))
        return builder.chunks
    if mode == "tokens":
        for start, end in _windows(text, spans, 0, len(spans), chunk_tokens, overlap):
            builder.add(start, end)
        return builder.chunks
    limit = combine_under if combine_under is not None else chunk_tokens // 4
    for lo, hi in _section_token_ranges(doc, spans, chunk_tokens, limit):
        if hi - lo <= chunk_tokens:
            builder.add(spans[lo][0], max(e for _, e in spans[lo:hi]))
        else:
            for start, end in _windows(text, spans, lo, hi, chunk_tokens, overlap):
                builder.add(start, end)
    return builder.chunks


class _Builder:
    """Collects chunks, looking up the page and section at each start offset."""

    def __init__(self, doc: ParsedDocument, text: str) -> None:
        self.doc = doc
        self.text = text
        self.offsets = doc.element_offsets()
        self.chunks: list[Chunk] = []

    def add(self, start: int, end: int) -> None:
        # Trim surrounding whitespace so a chunk never starts inside a separator.
        piece = self.text[start:end]
        stripped = piece.strip()
        if not stripped:
            return
        start += len(piece) - len(piece.lstrip())
        i = max(0, bisect.bisect_right(self.offsets, start) - 1)
        element = self.doc.elements[i] if self.doc.elements else None
        self.chunks.append(
            Chunk(
                text=stripped,
                chunk=len(self.chunks),
                page=element.page if element else None,
                section=element.section if element else None,
                title=self.doc.title,
                start_char=start,
            )
        )


def _clean_spans(spans: list[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    """Drop empty/out-of-range spans (special tokens), keep order by start."""
    out = [(max(0, s), min(n, e)) for s, e in spans if e > s and s < n]
    if any(out[i][0] < out[i - 1][0] for i in range(1, len(out))):
        out.sort()
    return out


def _word_start(text: str, spans: list[tuple[int, int]], i: int) -> bool:
    """Whether token ``i`` begins a word (so a cut just before it does not split a word)."""
    if i <= 0 or i >= len(spans):
        return True
    prev_end, start = spans[i - 1][1], spans[i][0]
    if start > prev_end:
        return True  # whitespace between
    return not (text[start - 1].isalnum() and text[start].isalnum())


def _align(text: str, spans: list[tuple[int, int]], i: int, floor: int, slack: int) -> int:
    """Move a cut at token ``i`` back to a word start, by at most ``slack`` tokens."""
    j = i
    while j > floor and j > i - slack and not _word_start(text, spans, j):
        j -= 1
    return j if j > floor and _word_start(text, spans, j) else i


def _windows(
    text: str, spans: list[tuple[int, int]], lo: int, hi: int, size: int, overlap: int
) -> list[tuple[int, int]]:
    """Character ranges of token windows over ``spans[lo:hi]``."""
    out: list[tuple[int, int]] = []
    slack = max(1, size // 4)
    start = lo
    while True:
        end = min(start + size, hi)
        if end < hi:
            end = _align(text, spans, end, start, slack)
        out.append((spans[start][0], max(e for _, e in spans[start:end])))
        if end >= hi:
            return out
        nxt = max(end - overlap, start + 1)
        if overlap:
            nxt = _align(text, spans, nxt, start, slack)
        start = nxt


def _section_token_ranges(
    doc: ParsedDocument, spans: list[tuple[int, int]], budget: int, combine_under: int
) -> list[tuple[int, int]]:
    """Token index ranges of the sections (merged where small), in order."""
    offsets = doc.element_offsets()
    starts = [span_start for span_start, _ in spans]
    # Section boundaries: offsets of Title elements (and of the first element).
    bounds = [off for off, e in zip(offsets, doc.elements, strict=True) if e.category == "Title"]
    if not bounds or bounds[0] != 0:
        bounds.insert(0, 0)
    token_bounds = sorted({bisect.bisect_left(starts, b) for b in bounds} | {len(spans)})
    sections = [(a, b) for a, b in itertools.pairwise(token_bounds) if b > a]
    merged: list[tuple[int, int]] = []
    for a, b in sections:
        if merged:
            pa, pb = merged[-1]
            if pb - pa < combine_under and b - pa <= budget:
                merged[-1] = (pa, b)
                continue
        merged.append((a, b))
    return merged
