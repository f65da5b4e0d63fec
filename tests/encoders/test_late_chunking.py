"""Late chunking equals per-span means of one forward pass, for both attention directions."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch

from encoders import EncoderError, load_encoder
from encoders.batching import attention_bias
from encoders.late import macro_windows, span_token_ranges
from encoders.model import TransformerEncoder
from tests.encoders.conftest import CORPUS

DOC = " ".join(CORPUS[:8])
OTHER = " ".join(CORPUS[8:11])


def _spans(enc: TransformerEncoder, text: str, size: int, overlap: int) -> list[tuple[int, int]]:
    """Character spans of token windows of ``size`` tokens sharing ``overlap`` (like chunks)."""
    offsets = enc.token_offsets(text)
    out, start = [], 0
    while True:
        end = min(start + size, len(offsets))
        out.append((offsets[start][0], offsets[end - 1][1]))
        if end == len(offsets):
            return out
        start = end - overlap


def _reference(ckpt: Any, attention: str) -> Any:
    ref = copy.deepcopy(ckpt.reference)
    ref.config.is_causal = attention == "causal"
    return ref


def _states(ref: Any, ids: list[int], attention: str, bert: bool) -> torch.Tensor:
    """One forward pass of the reference on ``ids``: ``(L, H)`` last-layer states."""
    input_ids = torch.tensor([ids])
    mask: Any = torch.ones_like(input_ids)
    if bert and attention == "causal":  # BERT ignores config.is_causal: spell it out
        mask = attention_bias(mask, causal=True, dtype=torch.float32)
    with torch.no_grad():
        return ref(input_ids=input_ids, attention_mask=mask).last_hidden_state[0]


def _direct(
    enc: TransformerEncoder, ref: Any, text: str, spans: list[tuple[int, int]], bert: bool
) -> np.ndarray:
    """Per-span means over one pass, or over each macro window's kept tokens past the limit."""
    got = enc.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = got["input_ids"], got["offset_mapping"]
    prefix, suffix = enc.builder.frame("document", None)
    size = enc.builder.text_budget("document", None)
    states = torch.zeros((len(ids), enc.hidden_size))
    for start, end, keep in macro_windows(len(ids), size, size // 4):
        window = _states(ref, [*prefix, *ids[start:end], *suffix], enc.attention, bert)
        states[keep:end] = window[len(prefix) + keep - start : len(prefix) + end - start]
    rows = []
    for a, b in spans:
        inside = [i for i, (s, e) in enumerate(offsets) if s < b and e > a]
        rows.append(torch.nn.functional.normalize(states[inside].mean(0), dim=0))
    return torch.stack(rows).numpy()


@pytest.mark.parametrize("model", ["tiny_bert", "tiny_qwen2"])
@pytest.mark.parametrize("attention", ["bidirectional", "causal"])
@pytest.mark.parametrize("max_tokens", [None, 24], ids=["one-pass", "past-the-limit"])
def test_late_chunking_equals_per_span_means(
    model: str, attention: str, max_tokens: int | None, request: pytest.FixtureRequest
) -> None:
    ckpt = request.getfixturevalue(model)
    enc = load_encoder(str(ckpt.path), attention=attention, pooling="mean", max_tokens=max_tokens)
    ref = _reference(ckpt, attention)
    spans = _spans(enc, DOC, 12, 3)
    n_tokens = enc.count_tokens(DOC)
    if max_tokens is None:
        assert n_tokens <= enc.builder.text_budget("document", None)  # truly one pass
    else:
        assert len(macro_windows(n_tokens, enc.builder.text_budget("document", None), 5)) > 3
    # Two documents in one call: windows of both are batched (and padded) together.
    other = _spans(enc, OTHER, 7, 0)
    got = enc.encode_spans([DOC, OTHER], [spans, other])
    bert = model == "tiny_bert"
    np.testing.assert_allclose(got[0], _direct(enc, ref, DOC, spans, bert), atol=1e-5, rtol=0)
    np.testing.assert_allclose(got[1], _direct(enc, ref, OTHER, other, bert), atol=1e-5, rtol=0)
    assert got[0].shape == (len(spans), enc.dim)
    # Not the same as embedding each chunk alone: the context is in the vectors.
    alone = enc.encode_documents([DOC[a:b] for a, b in spans])
    assert np.abs(alone - got[0]).max() > 1e-2


def test_separator_input_of_the_contextual_models(tiny_pplx: Any) -> None:
    """pplx-embed-context: the chunks joined by <|endoftext|>, each pooled without it."""
    enc = load_encoder("pplx-embed-context-0.6b", weights=tiny_pplx.path)
    spans = _spans(enc, DOC, 10, 0)
    sep = enc.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    ids, ranges = [], []
    for i, (a, b) in enumerate(spans):
        if i:
            ids.append(sep)
        piece = enc.tokenizer(DOC[a:b], add_special_tokens=False)["input_ids"]
        ranges.append((len(ids), len(ids) + len(piece)))
        ids += piece
    states = _states(tiny_pplx.reference, ids, "bidirectional", bert=False)
    want = np.stack(
        [torch.nn.functional.normalize(states[a:b].mean(0), dim=0).numpy() for a, b in ranges]
    )
    (got,) = enc.encode_spans([DOC], [spans])
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    quantized = load_encoder(
        "pplx-embed-context-0.6b", weights=tiny_pplx.path, quantize="binary", dim=128
    ).encode_spans([DOC], [spans])[0]
    assert quantized.shape == (len(spans), 128)
    np.testing.assert_allclose(np.abs(quantized), 1 / np.sqrt(128), atol=1e-6)


def test_causal_late_chunks_see_only_what_came_before(minilm: Any) -> None:
    """minilm-causal: a chunk's vector does not change when later text changes; minilm's does."""
    causal = load_encoder("minilm-causal")
    tail = " Parrots can learn to repeat words."
    for enc, same in ((causal, True), (minilm, False)):
        spans = _spans(enc, DOC, 16, 4)
        a = enc.encode_spans([DOC], [spans])[0]
        b = enc.encode_spans([DOC + tail], [spans])[0]
        assert np.allclose(a[:-1], b[:-1], atol=1e-5) is same


def test_late_chunking_is_refused_for_pooled_positions(tiny_qwen2: Any) -> None:
    enc = load_encoder(str(tiny_qwen2.path))  # an AR folder: last-token pooling
    with pytest.raises(EncoderError, match=r"pools 'last'.*last token.*--chunking tokens"):
        enc.encode_spans([DOC], [[(0, 10)]])


def test_spans_must_lie_in_their_document(minilm: Any) -> None:
    with pytest.raises(ValueError, match="not inside"):
        minilm.encode_spans(["short text"], [[(0, 40)]])
    with pytest.raises(ValueError, match="span lists"):
        minilm.encode_spans(["short text"], [])


def test_macro_windows_tile_the_document() -> None:
    assert macro_windows(10, 20, 5) == [(0, 10, 0)]
    assert macro_windows(50, 20, 5) == [(0, 20, 0), (15, 35, 20), (30, 50, 35)]
    # The last window is aligned to the end, full length.
    assert macro_windows(41, 20, 5) == [(0, 20, 0), (15, 35, 20), (21, 41, 35)]
    for n in range(1, 120):
        wins = macro_windows(n, 16, 4)
        kept = [t for _, end, keep in wins for t in range(keep, end)]
        assert kept == list(range(n))
        for i, (start, end, keep) in enumerate(wins):
            assert end - start <= 16
            if i:  # every kept token has at least `overlap` tokens of left context
                assert keep - start >= 4


def test_span_token_ranges() -> None:
    offsets = [(0, 3), (3, 5), (6, 9), (10, 14)]
    assert span_token_ranges(offsets, [(0, 5), (4, 9), (6, 14), (5, 6)]) == [
        (0, 2),
        (1, 3),
        (2, 4),
        (2, 2),
    ]
