"""Padding and batching never change an embedding; pooling finds the right tokens."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch

from encoders import load_encoder
from encoders.model import TransformerEncoder
from encoders.pooling import cls_pool, last_pool, mean_pool

TEXTS = [
    "Cats",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Mean pooling averages the hidden states of the text tokens of a passage, and padding "
    "on the left or on the right must not change an embedding.",
    "Search engines rank documents.",
    "Diffusion language models denoise masked tokens in parallel over several steps.",
]


def _variant(enc: TransformerEncoder, padding_side: str, batch_tokens: int) -> TransformerEncoder:
    """A shallow copy with another padding side and budget (the cached encoder is untouched)."""
    other = copy.copy(enc)
    other.padding_side = padding_side
    other.batch_tokens = batch_tokens
    return other


def _assert_batch_equals_singles(enc: TransformerEncoder, constant: bool = False) -> None:
    singles = np.concatenate([enc.encode_documents([t]) for t in TEXTS])
    for side in ("left", "right"):
        batched = _variant(enc, side, batch_tokens=1_000_000).encode_documents(TEXTS)
        np.testing.assert_allclose(batched, singles, atol=1e-5, rtol=0, err_msg=f"{side} padding")
    spread = float(np.abs(singles - singles[0]).max())
    if constant:  # [CLS] under causal attention sees only itself
        assert spread < 1e-5
    else:  # the texts do differ: a constant output would pass the comparison above
        assert spread > 1e-3


@pytest.mark.parametrize("model", ["tiny_qwen2", "tiny_llama", "tiny_bert"])
@pytest.mark.parametrize("attention", ["bidirectional", "causal"])
@pytest.mark.parametrize("pooling", ["mean", "last", "cls"])
def test_batched_equals_single_on_both_padding_sides(
    model: str, attention: str, pooling: str, request: pytest.FixtureRequest
) -> None:
    ckpt = request.getfixturevalue(model)
    enc = load_encoder(str(ckpt.path), attention=attention, pooling=pooling)
    assert (enc.attention, enc.pooling) == (attention, pooling)
    _assert_batch_equals_singles(
        enc, constant=(model, attention, pooling) == ("tiny_bert", "causal", "cls")
    )


@pytest.mark.parametrize("preset", ["dream", "llada"])
def test_diffusion_presets_are_padding_invariant(
    preset: str, request: pytest.FixtureRequest
) -> None:
    ckpt = request.getfixturevalue(f"tiny_{preset}")
    _assert_batch_equals_singles(load_encoder(preset, weights=ckpt.path))


def test_results_follow_input_order_with_mixed_lengths(tiny_qwen2: Any) -> None:
    # A budget this small forces several batches, each sorted by length.
    enc = _variant(load_encoder(str(tiny_qwen2.path), attention="bidirectional"), "right", 64)
    forward = enc.encode_documents(TEXTS)
    backward = enc.encode_documents(TEXTS[::-1])
    np.testing.assert_allclose(backward[::-1], forward, atol=1e-5, rtol=0)
    assert forward.dtype == np.float32 and forward.shape == (len(TEXTS), enc.dim)
    np.testing.assert_allclose(np.linalg.norm(forward, axis=1), 1.0, atol=1e-5)


def test_last_token_pooling_of_an_ar_model_is_the_eos_state(tiny_qwen2: Any) -> None:
    """Folder AR models append EOS and pool its state (the e5-mistral recipe)."""
    enc = load_encoder(str(tiny_qwen2.path))
    assert (enc.family, enc.attention, enc.pooling) == ("ar", "causal", "last")
    ids = enc.tokenizer("Cats and dogs", add_special_tokens=False)["input_ids"]
    (seq,) = enc.builder.build(0, ids, "document", None)
    assert seq.ids[-1] == enc.tokenizer.eos_token_id
    with torch.inference_mode():
        hidden = tiny_qwen2.reference(input_ids=torch.tensor([seq.ids])).last_hidden_state
    want = torch.nn.functional.normalize(hidden[0, -1], dim=0).numpy()
    np.testing.assert_allclose(enc.encode_documents(["Cats and dogs"])[0], want, atol=1e-5)


# -- pure pooling functions --------------------------------------------------------------------


def _toy() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Row 0 right-padded, row 1 left-padded; states are the column index (row 0) and 10+col."""
    hidden = torch.arange(5, dtype=torch.float32).reshape(1, 5, 1).repeat(2, 1, 3)
    hidden[1] += 10
    attn = torch.tensor([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1]])
    pool = torch.tensor([[0, 1, 1, 0, 0], [0, 0, 1, 1, 0]])
    return hidden, attn, pool, attn.clone(), pool.clone()


def test_pooling_functions_on_both_padding_sides() -> None:
    hidden, attn, pool, attn0, pool0 = _toy()
    assert mean_pool(hidden, attn, pool)[:, 0].tolist() == [1.5, 12.5]
    assert last_pool(hidden, attn, pool)[:, 0].tolist() == [2.0, 14.0]
    assert cls_pool(hidden, attn, pool)[:, 0].tolist() == [0.0, 12.0]
    # Inputs are not modified.
    assert torch.equal(attn, attn0) and torch.equal(pool, pool0)


def test_mean_pool_ignores_pool_marks_on_padding() -> None:
    hidden, attn, pool, _, _ = _toy()
    pool[0, 4] = 1  # a pool mark on a pad column must not count
    assert mean_pool(hidden, attn, pool)[0, 0].item() == 1.5
