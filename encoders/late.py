"""Late chunking: a document goes through the model once; each chunk is the mean of its tokens.

Plain chunking embeds every chunk on its own, so a chunk that says "it rose 15%" never sees
what "it" is. Late chunking (Günther et al. 2024, arXiv 2409.04701) runs the whole document
through the encoder and averages, for each chunk, the output states of the chunk's own tokens,
so every chunk vector is computed in the context of its document.

* The document's tokens are framed like any document (the tokenizer's special tokens and the
  preset's template), and a chunk's vector averages only the chunk's text tokens.
* Past the encoder's ``max_tokens`` the document is cut into overlapping *macro windows* of the
  longest length the encoder takes; each window is encoded on its own and its first outputs,
  those already produced by the previous window, are dropped. Every token's state therefore
  comes from exactly one window, one in which it has at least ``overlap`` tokens of left
  context (which, under causal attention, is all the context a token has).
* Contextual models trained for it (pplx-embed-context) take their chunks joined by a
  separator token instead of the raw text; each chunk is pooled without the separators.
* Only mean pooling has a part per chunk. The last token's (or [CLS], or a [MASK] slot's)
  state is one state for the whole input, so late chunking is refused for those encoders.

Shapes: a document of ``n`` tokens, ``m`` spans; states ``(n, H)`` are never held for the whole
document at once: each window's kept states are folded into per-span sums with prefix sums.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from encoders.batching import token_budget_batches
from encoders.inputs import Sequence
from encoders.late_policy import refuse_unless_mean
from encoders.pooling import l2_normalize

if TYPE_CHECKING:
    from encoders.model import TransformerEncoder

#: Macro windows share a quarter of their length with the previous window.
OVERLAP_FRACTION = 4


def span_token_ranges(
    offsets: Seq[tuple[int, int]], spans: Seq[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Token index range ``[lo, hi)`` of each character span: the tokens that overlap it.

    Args:
        offsets: Character span of each token, in order (``token_offsets``).
        spans: Character spans ``(start, end)``.

    Returns:
        One ``(lo, hi)`` per span; ``lo == hi`` when no token overlaps it.
    """
    starts = [a for a, _ in offsets]
    ends = [b for _, b in offsets]
    # Offsets of consecutive tokens never go backwards, so both lists are sorted.
    out = []
    for start, end in spans:
        lo = bisect.bisect_right(ends, start)  # first token ending after the span starts
        hi = bisect.bisect_left(starts, end)  # tokens starting before the span ends
        out.append((lo, max(lo, hi)))
    return out


def macro_windows(n: int, size: int, overlap: int) -> list[tuple[int, int, int]]:
    """Windows of at most ``size`` tokens over ``n`` tokens, for documents past the limit.

    Consecutive windows share at least ``overlap`` tokens; the last one is aligned to the end
    (full length). Each window keeps the states of the tokens the previous windows did not
    cover.

    Returns:
        ``(start, end, keep)`` per window: it encodes tokens ``[start, end)`` and keeps the
        states of ``[keep, end)``; the kept ranges tile ``[0, n)`` exactly.
    """
    if size < 1:
        raise ValueError("window size must be positive")
    if n <= size:
        return [(0, n, 0)]
    overlap = max(0, min(overlap, size - 1))
    out: list[tuple[int, int, int]] = []
    start, covered = 0, 0
    while True:
        end = min(start + size, n)
        out.append((start, end, covered))
        if end >= n:
            return out
        covered = end
        start = max(min(end - overlap, n - size), start + 1)


@dataclass
class _Doc:
    """One document's token ids, its spans as token ranges, and their running sums."""

    ids: list[int]
    lo: torch.Tensor  # (m,) int64
    hi: torch.Tensor  # (m,) int64
    sums: torch.Tensor  # (m, H) float64
    counts: torch.Tensor  # (m,) float64


def _tokenize(enc: TransformerEncoder, text: str, spans: Seq[tuple[int, int]]) -> _Doc:
    tok = enc.tokenizer
    if enc.late_separator is not None:
        # The contextual models' own input: the chunks joined by the separator token.
        ids: list[int] = []
        ranges = []
        for i, (start, end) in enumerate(spans):
            if i:
                ids.append(enc.late_separator)
            piece = tok(text[start:end], add_special_tokens=False)["input_ids"]
            ranges.append((len(ids), len(ids) + len(piece)))
            ids.extend(int(t) for t in piece)
    else:
        got = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = [int(t) for t in got["input_ids"]]
        ranges = span_token_ranges([(int(a), int(b)) for a, b in got["offset_mapping"]], spans)
    m, hidden = len(ranges), enc.hidden_size
    return _Doc(
        ids=ids,
        lo=torch.tensor([a for a, _ in ranges], dtype=torch.int64),
        hi=torch.tensor([b for _, b in ranges], dtype=torch.int64),
        sums=torch.zeros((m, hidden), dtype=torch.float64),
        counts=torch.zeros(m, dtype=torch.float64),
    )


def _fold(doc: _Doc, states: torch.Tensor, keep: int, end: int) -> None:
    """Add the kept states of tokens ``[keep, end)`` to the sums of the spans they fall in."""
    prefix = torch.zeros((states.shape[0] + 1, states.shape[1]), dtype=torch.float64)
    torch.cumsum(states.to(torch.float64), dim=0, out=prefix[1:])
    a = doc.lo.clamp(keep, end)
    b = doc.hi.clamp(keep, end)
    hit = b > a
    if bool(hit.any()):
        doc.sums[hit] += prefix[b[hit] - keep] - prefix[a[hit] - keep]
        doc.counts[hit] += (b[hit] - a[hit]).to(torch.float64)


def _check_spans(text: str, spans: Seq[tuple[int, int]], i: int) -> None:
    for start, end in spans:
        if not (0 <= start < end <= len(text)):
            raise ValueError(f"document {i}: span ({start}, {end}) is not inside its text")


def encode_spans(
    enc: TransformerEncoder,
    texts: list[str],
    spans: Seq[Seq[tuple[int, int]]],
    overlap: int | None = None,
) -> list[np.ndarray]:
    """Late-chunked vectors: for each document, one unit row per span (see module docs).

    Args:
        enc: A loaded encoder with mean pooling.
        texts: Documents.
        spans: For each document, the character spans of its chunks.
        overlap: Tokens shared by consecutive macro windows (default: a quarter of a window).

    Returns:
        For each document, ``(len(spans), enc.dim)`` float32, L2-normalised, in span order.

    Raises:
        EncoderError: The encoder's pooling is not mean.
        ValueError: A span outside its document, or a spans list per document missing.
    """
    refuse_unless_mean(enc.name, enc.pooling)
    if len(spans) != len(texts):
        raise ValueError(f"{len(texts)} documents but {len(spans)} span lists")
    for i, (text, doc_spans) in enumerate(zip(texts, spans, strict=True)):
        _check_spans(text, doc_spans, i)
    prefix, suffix = enc.builder.frame("document", None)
    size = enc.builder.text_budget("document", None)
    step = size // OVERLAP_FRACTION if overlap is None else overlap
    docs = [_tokenize(enc, t, s) for t, s in zip(texts, spans, strict=True)]
    # Every window of every document, batched together by the token budget.
    windows = [
        (d, w) for d, doc in enumerate(docs) for w in macro_windows(len(doc.ids), size, step)
    ]
    seqs = []
    for d, (a, b, _) in windows:
        ids = [*prefix, *docs[d].ids[a:b], *suffix]
        seqs.append(Sequence(ids=ids, pool=[0] * len(ids), owner=d, weight=b - a))
    with enc._lock, torch.inference_mode():
        for idx in token_budget_batches([len(s.ids) for s in seqs], enc.batch_tokens):
            hidden, _, _ = enc._states([seqs[i] for i in idx])
            width = hidden.shape[1]
            for row, i in enumerate(idx):
                d, (a, b, keep) = windows[i]
                pad = width - len(seqs[i].ids) if enc.padding_side == "left" else 0
                first = pad + len(prefix)  # column of the window's first text token
                states = hidden[row, first + keep - a : first + b - a].to("cpu", torch.float32)
                _fold(docs[d], states, keep, b)
    out = []
    for d, doc in enumerate(docs):
        means = (doc.sums / doc.counts.clamp(min=1.0).unsqueeze(1)).to(torch.float32)
        vectors = l2_normalize(enc.vector_format.apply(means))
        empty = (doc.counts == 0).nonzero().flatten().tolist()
        if empty:  # a span no token overlaps (say, characters the tokenizer drops)
            alone = [texts[d][spans[d][j][0] : spans[d][j][1]] for j in empty]
            vectors[empty] = torch.from_numpy(enc.encode_documents(alone))
        out.append(vectors.numpy().astype(np.float32, copy=False))
    return out
