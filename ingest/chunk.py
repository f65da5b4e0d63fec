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
from collections.abc import Callable, Iterator, Sequence
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
#: A new index's window size and overlap when none is given (CLI, web UI, evaluation).
DEFAULT_CHUNK_TOKENS = 256
DEFAULT_OVERLAP = 32


def takes_chunk_tokens(chunking: str) -> bool:
    """Whether a chunking has a size: the token windows, and ``title``'s cap on sections."""
    return chunking != "whole"


def takes_overlap(chunking: str) -> bool:
    """Whether a chunking cuts overlapping token windows (``tokens`` and ``late``)."""
    return chunking in ("tokens", "late")


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
        trimmed = _trim(self.text, start, end)
        if trimmed is not None:
            self.chunks.append(self.make(*trimmed, len(self.chunks)))

    def make(self, start: int, end: int, number: int) -> Chunk:
        """The chunk ``text[start:end]`` (already trimmed), numbered ``number``."""
        i = max(0, bisect.bisect_right(self.offsets, start) - 1)
        element = self.doc.elements[i] if self.doc.elements else None
        return Chunk(
            text=self.text[start:end],
            chunk=number,
            page=element.page if element else None,
            section=element.section if element else None,
            title=self.doc.title,
            start_char=start,
        )


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    """``(start, end)`` without surrounding whitespace (a chunk never starts inside a
    separator), or None when only whitespace is left."""
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return None
    start += len(piece) - len(piece.lstrip())
    return start, start + len(stripped)


# -- streamed token windows (one very large document) ------------------------------------------

#: Characters per tokenizer call when a document's text is tokenized in pieces.
SPAN_PIECE_CHARS = 1 << 20
#: Characters two consecutive pieces share; their tokenizations are stitched in there.
SPAN_OVERLAP_CHARS = 4096
#: Consecutive identical spans in both tokenizations that make a stitch point.
_AGREE = 16


def streamed_spans(
    text: str,
    token_spans: TokenSpans | None,
    *,
    piece_chars: int = SPAN_PIECE_CHARS,
    overlap_chars: int = SPAN_OVERLAP_CHARS,
) -> Iterator[tuple[int, int]]:
    """The token spans of ``text``, equal to ``_clean_spans(token_spans(text))``, from
    tokenizer calls over pieces of at most ``piece_chars`` characters.

    Memory is bounded by one piece's tokens instead of the whole text's (a tokenizer's
    encoding of 30 MB of text is several GB). Consecutive pieces overlap by ``overlap_chars``;
    in the middle of the overlap both tokenizations see enough context on either side, and the
    stream switches from one to the next at the first token where they agree on ``_AGREE``
    consecutive spans (tokenizers split text with local rules, so from there on they agree).
    A text where no such point exists (no token boundary in the overlap, e.g. one giant
    "word") is tokenized whole, as before.

    Args:
        text: The document text, any length.
        token_spans: Tokenizer giving character spans; whitespace words when None.
        piece_chars: Most characters per tokenizer call (> 2 * ``overlap_chars``).
        overlap_chars: Characters shared by consecutive calls.

    Yields:
        ``(start, end)`` character spans in order.
    """
    spans_of = token_spans or whitespace_spans
    n = len(text)
    if n <= piece_chars:
        yield from _clean_spans(spans_of(text), n)
        return
    if piece_chars <= 2 * overlap_chars:
        raise ValueError("piece_chars must exceed twice overlap_chars")

    def tokenize(lo: int, hi: int) -> list[tuple[int, int]]:
        return [(s + lo, e + lo) for s, e in _clean_spans(spans_of(text[lo:hi]), hi - lo)]

    lo, emitted_to = 0, 0  # spans starting before emitted_to have been yielded
    current = tokenize(0, piece_chars)
    while True:
        hi = lo + piece_chars
        if hi >= n:  # the last piece: its tokens are final
            yield from (sp for sp in current if sp[0] >= emitted_to)
            return
        nxt_lo = hi - overlap_chars
        nxt = tokenize(nxt_lo, min(n, nxt_lo + piece_chars))
        cut = _stitch(current, nxt, nxt_lo + overlap_chars // 4, hi - overlap_chars // 4)
        if cut is None:
            yield from (sp for sp in _clean_spans(spans_of(text), n) if sp[0] >= emitted_to)
            return
        yield from (sp for sp in current if emitted_to <= sp[0] < cut)
        emitted_to, lo, current = cut, nxt_lo, nxt


def _stitch(a: list[tuple[int, int]], b: list[tuple[int, int]], lo: int, hi: int) -> int | None:
    """The first span start in ``[lo, hi)`` where ``a`` and ``b`` agree on ``_AGREE`` spans."""
    starts_b = {sp[0]: i for i, sp in enumerate(b) if lo <= sp[0] < hi}
    for i, sp in enumerate(a):
        if sp[0] >= hi:
            return None
        if sp[0] < lo or sp[0] not in starts_b:
            continue
        j = starts_b[sp[0]]
        if a[i : i + _AGREE] == b[j : j + _AGREE] and len(a) - i >= _AGREE:
            return sp[0]
    return None


def token_window_ranges(
    text: str,
    *,
    chunk_tokens: int = 256,
    overlap: int = 32,
    token_spans: TokenSpans | None = None,
    piece_chars: int = SPAN_PIECE_CHARS,
) -> list[tuple[int, int]]:
    """The character ranges of ``tokens``-mode chunks, without holding the text's tokens.

    Equal to ``[(c.start_char, c.end_char) for c in chunk_document(doc, "tokens", ...)]`` for
    a document whose text is ``text``; tokens are streamed (:func:`streamed_spans`) through the
    same windowing and word alignment, keeping only the tokens of the window being cut. The
    result is two ints per chunk: a 30 MB text's ~33k ranges take ~3 MB, against GBs for its
    token spans and chunk texts. :func:`chunks_at` turns a slice of it into chunks.

    Args:
        text: The document text.
        chunk_tokens: Window size in tokens.
        overlap: Tokens shared by consecutive windows; ``0 <= overlap < chunk_tokens``.
        token_spans: Tokenizer giving character spans; whitespace words when None.
        piece_chars: Most characters per tokenizer call.

    Returns:
        ``[(start, end), ...]`` of the trimmed, non-empty chunks, in chunk order.
    """
    if chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be at least 1, got {chunk_tokens}")
    if not 0 <= overlap < chunk_tokens:
        raise ValueError(f"overlap must be in [0, chunk_tokens), got {overlap}")
    out: list[tuple[int, int]] = []
    if not text.strip():
        return out

    def keep(start: int, end: int) -> None:
        trimmed = _trim(text, start, end)
        if trimmed is not None:
            out.append(trimmed)

    source = streamed_spans(text, token_spans, piece_chars=piece_chars)
    buf: list[tuple[int, int]] = []  # spans base, base + 1, ... (global token numbers)
    base, exhausted = 0, False

    def fill(upto: int) -> None:
        nonlocal exhausted
        while not exhausted and base + len(buf) < upto:
            sp = next(source, None)
            if sp is None:
                exhausted = True
            else:
                buf.append(sp)

    fill(1)
    if not buf:
        keep(0, len(text))
        return out
    # The same loop as _windows over all spans, on a buffer that starts at the window start
    # (_align and _word_start look back no further than the window start).
    slack = max(1, chunk_tokens // 4)
    start = 0
    while True:
        fill(start + chunk_tokens + 1)
        total = base + len(buf) if exhausted else None
        end = start + chunk_tokens
        if total is not None and end >= total:
            end = total
        else:
            end = base + _align(text, buf, end - base, start - base, slack)
        window = buf[start - base : end - base]
        keep(window[0][0], max(e for _, e in window))
        if total is not None and end >= total:
            return out
        nxt = max(end - overlap, start + 1)
        if overlap:
            nxt = base + _align(text, buf, nxt - base, start - base, slack)
        del buf[: nxt - base]
        base, start = nxt, nxt


def chunks_at(
    doc: ParsedDocument, text: str, ranges: Sequence[tuple[int, int]], first: int
) -> list[Chunk]:
    """Chunks for ``ranges`` (from :func:`token_window_ranges`), numbered from ``first``.

    Args:
        doc: The parsed document (its elements give page and section).
        text: ``doc.text`` (passed in: the property joins the elements on every call).
        ranges: A slice of the document's chunk ranges.
        first: The chunk number of ``ranges[0]``.
    """
    builder = _Builder(doc, text)
    return [builder.make(s, e, first + k) for k, (s, e) in enumerate(ranges)]


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
