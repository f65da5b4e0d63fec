"""quantize= / dim= / pool_template= against direct implementations; settings that are refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from encoders import EncoderError, UnknownEncoderError, load_encoder
from encoders.naming import join_name, split_name
from encoders.vectors import quantize_binary, quantize_int8
from tests.encoders.test_padding import _assert_batch_equals_singles

TEXTS = ["Cats and dogs", "The quick brown fox jumps over the lazy dog near the river bank."]


def _int8(x: np.ndarray) -> np.ndarray:
    """pplx-embed's rule written out in numpy."""
    return np.clip(np.round(np.tanh(x) * 127.0), -128, 127)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_quantizers_equal_the_rules() -> None:
    x = torch.randn(64, 300, generator=torch.Generator().manual_seed(0)) * 3
    x[0, :4] = torch.tensor([0.0, -0.0, 1e-9, -1e-9])  # sign of zero: +1
    np.testing.assert_array_equal(quantize_int8(x).numpy(), _int8(x.numpy()))
    np.testing.assert_array_equal(quantize_binary(x).numpy(), np.where(x.numpy() >= 0, 1.0, -1.0))
    assert quantize_int8(x).abs().max() <= 127


def _raw_means(ckpt: Any, enc: Any) -> np.ndarray:
    """Mean of every token's last state from the reference model, unnormalised (pplx's pooling)."""
    rows = []
    for text in TEXTS:
        ids = enc.tokenizer(text, add_special_tokens=False)["input_ids"]
        (seq,) = enc.builder.build(0, ids, "document", None)
        with torch.no_grad():
            hidden = ckpt.reference(input_ids=torch.tensor([seq.ids])).last_hidden_state[0]
        rows.append(hidden.mean(0).numpy())
    return np.stack(rows)


@pytest.mark.parametrize("quantize", [None, "int8", "binary"])
@pytest.mark.parametrize("dim", [None, 128, 200])
def test_pplx_vectors_follow_the_rules(
    tiny_pplx: Any, quantize: str | None, dim: int | None
) -> None:
    enc = load_encoder("pplx-embed-0.6b", weights=tiny_pplx.path, quantize=quantize, dim=dim)
    raw = _raw_means(tiny_pplx, enc)
    raw = raw[:, :dim] if dim else raw
    got = enc.encode_documents(TEXTS)
    assert got.shape == (len(TEXTS), dim or 256) and enc.dim == (dim or 256)
    if quantize is None:
        np.testing.assert_allclose(got, _unit(raw), atol=1e-5, rtol=0)
        return
    # The reference runs the same model without the CPU fast path: float noise of ~1e-6 may
    # round a value that sits on a rounding edge the other way. Compare the integers, and
    # allow a step of one only at such edges.
    if quantize == "int8":
        want, scaled = _int8(raw), np.tanh(raw) * 127.0
        edge = np.abs(np.abs(scaled - np.floor(scaled)) - 0.5) < 1e-3
    else:
        want, edge = np.where(raw >= 0, 1.0, -1.0), np.abs(raw) < 1e-4
    ints = got * np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(ints[~edge], want[~edge], atol=1e-2, rtol=0)
    assert np.abs(ints[edge] - want[edge]).max(initial=0) <= 2.01 if quantize == "binary" else 1.01
    assert np.abs(np.round(ints) - ints).max() < 1e-2  # integers (up to the norm)
    info = enc.info.as_dict()
    assert info["dim"] == (dim or 256)
    assert info.get("quantize") == quantize
    assert enc.name == join_name("pplx-embed-0.6b", {"dim": dim, "quantize": quantize})


def test_binary_vectors_are_padding_invariant(tiny_pplx: Any) -> None:
    enc = load_encoder("pplx-embed-0.6b", weights=tiny_pplx.path, quantize="binary", dim=128)
    _assert_batch_equals_singles(enc)


def test_settings_in_the_name_are_the_same_encoder(tiny_pplx: Any) -> None:
    a = load_encoder("pplx-embed-0.6b", weights=tiny_pplx.path, dim=128, quantize="int8")
    b = load_encoder("pplx-embed-0.6b+dim128+int8", weights=tiny_pplx.path)
    assert a is b and a.name == "pplx-embed-0.6b+dim128+int8"
    # The full dimension is the plain encoder.
    assert load_encoder("pplx-embed-0.6b", weights=tiny_pplx.path, dim=1024).name == (
        "pplx-embed-0.6b"
    )
    with pytest.raises(EncoderError, match="contradicts"):
        load_encoder("pplx-embed-0.6b+dim128", weights=tiny_pplx.path, dim=256)


def test_names_round_trip() -> None:
    settings = {"attention": "causal", "max_tokens": 512, "dim": 64, "quantize": "binary"}
    name = join_name("qwen3-embedding", settings)
    assert name == "qwen3-embedding+causal+512+dim64+binary"
    assert split_name(name) == ("qwen3-embedding", settings)
    assert split_name("dream+pool-template") == ("dream", {"pool_template": True})
    with pytest.raises(UnknownEncoderError, match=r"\+dimN"):
        split_name("minilm+fast")


def test_minilm_name_with_settings_loads(minilm: Any) -> None:
    assert load_encoder("minilm+causal") is load_encoder("minilm", attention="causal")


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("minilm", {"quantize": "int8"}, r"cannot take quantize='int8'.*none \(float32"),
        ("minilm", {"dim": 128}, r"not trained for Matryoshka.*pplx-embed"),
        ("pplx-embed-0.6b", {"dim": 64}, r"takes dim from 128 to 1024"),
        ("pplx-embed-0.6b", {"quantize": "int4"}, r"quantize must be one of int8, binary"),
        ("minilm", {"pooling": "mask"}, r"cannot take pooling 'mask'.*Allowed: mean, last, cls"),
        ("qwen3-embedding", {"pool_template": True}, r"pools 'last'.*pooling 'mean' only"),
    ],
)
def test_settings_an_encoder_cannot_take_are_refused(
    name: str, options: dict[str, Any], message: str, tiny_pplx: Any, minilm_path: Any
) -> None:
    # Refused before any weights are looked at (qwen3-embedding's are not on this machine).
    weights = tiny_pplx.path if name.startswith("pplx") else None
    with pytest.raises(EncoderError, match=message):
        load_encoder(name, weights=weights, **options)


def test_dim_beyond_the_checkpoint_is_refused(tiny_pplx: Any) -> None:
    with pytest.raises(EncoderError, match="hidden size 256"):
        load_encoder("pplx-embed-0.6b", weights=tiny_pplx.path, dim=512)


def test_pool_template_averages_every_token(tiny_dream: Any) -> None:
    plain = load_encoder("dream", weights=tiny_dream.path)
    enc = load_encoder("dream", weights=tiny_dream.path, pool_template=True)
    assert enc.name == "dream+pool-template" and enc.info.as_dict()["pool_template"] is True
    assert "pool_template" not in plain.info.as_dict()  # older index records still match
    for kind, instruction in (("document", None), ("query", "Find the passage")):
        ids = enc.tokenizer(TEXTS[1], add_special_tokens=False)["input_ids"]
        (seq,) = enc.builder.build(0, ids, kind, instruction)  # type: ignore[arg-type]
        assert all(seq.pool) and "<|im_end|>" in enc.tokenizer.decode(seq.ids)
        with torch.no_grad():
            hidden = tiny_dream.reference(input_ids=torch.tensor([seq.ids])).last_hidden_state[0]
        want = torch.nn.functional.normalize(hidden.mean(0), dim=0).numpy()
        got = (
            enc.encode_documents([TEXTS[1]])
            if kind == "document"
            else enc.encode_queries([TEXTS[1]], instruction=instruction)
        )[0]
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    assert np.abs(plain.encode_documents(TEXTS) - enc.encode_documents(TEXTS)).max() > 1e-3
    _assert_batch_equals_singles(enc)


def test_token_ids_outside_the_embedding_matrix(tmp_path: Any, bpe_tokenizer: Any) -> None:
    """A tokenizer of other weights: a clear error naming both sizes, not an IndexError."""
    from transformers import Qwen2Config, Qwen2Model

    model = Qwen2Model(
        Qwen2Config(
            vocab_size=100,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=4,
            num_key_value_heads=2,
        )
    )
    model.save_pretrained(tmp_path)
    bpe_tokenizer.save_pretrained(tmp_path)
    enc = load_encoder(str(tmp_path), attention="bidirectional", pooling="mean")
    with pytest.raises(EncoderError, match=rf"\(100 rows\).*{len(bpe_tokenizer)} tokens"):
        enc.encode_documents(["the quick brown fox jumps over the lazy dog"])
