"""Attention direction: bidirectional states see the future, causal ones never do."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from encoders import load_encoder
from encoders.inputs import Sequence
from encoders.model import TransformerEncoder

TEXT = "the quick brown fox jumps over the lazy dog"
LONGER = "Diffusion language models denoise masked tokens in parallel over several steps, often."


def _seq(ids: list[int]) -> Sequence:
    return Sequence(ids=ids, pool=[1] * len(ids), owner=0, weight=len(ids))


def _ids(enc: TransformerEncoder, text: str) -> list[int]:
    """The encoder's own sequence for ``text`` (specials and template included)."""
    text_ids = enc.tokenizer(text, add_special_tokens=False)["input_ids"]
    (seq,) = enc.builder.build(0, text_ids, "document", None)
    return seq.ids


def _with_last_text_token_changed(enc: TransformerEncoder, ids: list[int]) -> list[int]:
    """Replace the last token that is not a trailing special/template token."""
    tail = len(enc.builder.tail) + len(enc.builder.wrappers("document", None)[1])
    pos = len(ids) - 1 - tail
    vocab = enc.backbone.config.vocab_size
    changed = list(ids)
    changed[pos] = (ids[pos] + 17) % vocab
    assert changed != ids
    return changed


def _first_state_depends_on_future(enc: TransformerEncoder) -> bool:
    """Change the last text token and see whether the first token's state moves.

    Both variants run in one padded batch next to a longer sequence, on both padding sides,
    so the check also covers the mask that padding requires.
    """
    ids = _ids(enc, TEXT)
    other = _with_last_text_token_changed(enc, ids)
    longer = _ids(enc, LONGER)
    assert len(longer) > len(ids)  # the short rows get padding
    moved = []
    saved = enc.padding_side
    try:
        for side in ("left", "right"):
            enc.padding_side = side
            with torch.inference_mode():
                hidden, attn, _ = enc._states([_seq(ids), _seq(other), _seq(longer)])
            first = attn.to(torch.int64).argmax(dim=1)  # first real column of each row
            a, b = hidden[0, first[0]], hidden[1, first[1]]
            moved.append(not torch.allclose(a, b, atol=1e-6))
    finally:
        enc.padding_side = saved
    assert moved[0] == moved[1], "left and right padding disagree about attention direction"
    return moved[0]


@pytest.mark.parametrize("model", ["tiny_qwen2", "tiny_llama", "tiny_bert"])
def test_direction_follows_the_attention_option(model: str, request: pytest.FixtureRequest) -> None:
    ckpt = request.getfixturevalue(model)
    bi = load_encoder(str(ckpt.path), attention="bidirectional")
    causal = load_encoder(str(ckpt.path), attention="causal")
    assert bi.attention == "bidirectional" and causal.attention == "causal"
    assert _first_state_depends_on_future(bi)
    assert not _first_state_depends_on_future(causal)


@pytest.mark.parametrize("model", ["tiny_qwen2", "tiny_llama", "tiny_bert"])
def test_causal_states_equal_the_native_causal_model(
    model: str, request: pytest.FixtureRequest
) -> None:
    """The causal encoder gives exactly the states of the native model with its causal mask."""
    ckpt = request.getfixturevalue(model)
    enc = load_encoder(str(ckpt.path), attention="causal")
    ids = _ids(enc, LONGER)
    with torch.inference_mode():
        hidden, _, _ = enc._states([_seq(ids)])
        prefix, _, _ = enc._states([_seq(ids[:5])])
    torch.testing.assert_close(hidden[0, :5], prefix[0], atol=1e-5, rtol=0)
    if model != "tiny_bert":  # decoder-only models are causal natively
        with torch.no_grad():  # the fixtures' native decoders keep their default (causal)
            native = ckpt.reference(input_ids=torch.tensor([ids])).last_hidden_state
        torch.testing.assert_close(hidden, native, atol=1e-5, rtol=0)


def test_bidirectional_bert_equals_native_bert(tiny_bert: Any) -> None:
    enc = load_encoder(str(tiny_bert.path))
    assert enc.attention == "bidirectional" and enc.family == "encoder"
    ids = _ids(enc, LONGER)
    with torch.inference_mode():
        hidden, _, _ = enc._states([_seq(ids)])
        native = tiny_bert.reference(input_ids=torch.tensor([ids])).last_hidden_state
    torch.testing.assert_close(hidden, native, atol=1e-5, rtol=0)


@pytest.mark.parametrize("preset", ["dream", "llada"])
def test_diffusion_presets_are_bidirectional(preset: str, request: pytest.FixtureRequest) -> None:
    ckpt = request.getfixturevalue(f"tiny_{preset}")
    enc = load_encoder(preset, weights=ckpt.path)
    assert _first_state_depends_on_future(enc)
    causal = load_encoder(preset, weights=ckpt.path, attention="causal")
    assert causal.name == f"{preset}+causal"
    assert not _first_state_depends_on_future(causal)


def test_real_minilm_and_its_causal_ablation(minilm: Any, minilm_causal: Any) -> None:
    assert _first_state_depends_on_future(minilm)
    assert not _first_state_depends_on_future(minilm_causal)
    # Same weights, different direction: the vectors differ clearly.
    a = minilm.encode_documents([LONGER])
    b = minilm_causal.encode_documents([LONGER])
    assert float((a * b).sum()) < 0.99


def test_roberta_keeps_its_own_positions(tiny_roberta: Any) -> None:
    """RoBERTa numbers positions from padding_idx + 1: the encoder must not override them."""
    enc = load_encoder(str(tiny_roberta.path))
    assert enc.family == "encoder" and enc.attention == "bidirectional"
    ids = _ids(enc, LONGER)
    short = _ids(enc, TEXT)
    with torch.inference_mode():
        hidden, _, _ = enc._states([_seq(ids), _seq(short)])  # the short row is padded
        native = tiny_roberta.reference(input_ids=torch.tensor([ids])).last_hidden_state
        native_short = tiny_roberta.reference(input_ids=torch.tensor([short])).last_hidden_state
    torch.testing.assert_close(hidden[:1], native, atol=1e-5, rtol=0)
    torch.testing.assert_close(hidden[1:, : len(short)], native_short, atol=1e-5, rtol=0)
