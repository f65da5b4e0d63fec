"""The real all-MiniLM-L6-v2: equal to sentence-transformers, and a sensible embedder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoders import load_encoder

PARAGRAPH = (
    "Alterations of the architecture of cerebral white matter in the developing human brain "
    "can affect cortical development and result in functional disabilities. A line scan "
    "diffusion-weighted magnetic resonance imaging sequence with diffusion tensor analysis was "
    "applied to measure the apparent diffusion coefficient and relative anisotropy. "
)
TEXTS = [
    "A man is eating food.",
    "Hi",
    "Dr. Smith's café serves crème brûlée — 3.5€ per portion (as of 2024)!",
    "日本語のテキストも埋め込めます。",
    "   leading and trailing spaces   ",
    "line one\nline two\ttabbed",
    PARAGRAPH,
    PARAGRAPH * 6,  # ~320 tokens: truncated at 256 by both implementations
    "word " * 600,
]


@pytest.fixture(scope="module")
def sentence_transformer(minilm_path: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_path), device="cpu")


def test_preset_metadata(minilm: Any, minilm_path: Path) -> None:
    info = minilm.info.as_dict()
    assert info == {
        "name": "minilm",
        "family": "encoder",
        "model_id": "sentence-transformers/all-MiniLM-L6-v2",
        "revision": minilm.revision,
        "dim": 384,
        "attention": "bidirectional",
        "pooling": "mean",
        "max_tokens": 256,
        "long_policy": "truncate",
        # What an index records to rebuild it: the preset and the folder it was found in.
        "spec": {
            "model": "minilm",
            "attention": None,
            "pooling": None,
            "max_tokens": None,
            "long_policy": "truncate",
            "weights": str(minilm_path),
            "adapter": None,
            "adapter_id": None,
            "dim": None,
            "quantize": None,
            "pool_template": False,
        },
    }
    assert minilm.count_tokens(PARAGRAPH * 6) > 256


def test_equals_sentence_transformers(minilm: Any, sentence_transformer: Any) -> None:
    assert sentence_transformer.max_seq_length == minilm.max_tokens == 256
    ours = minilm.encode_documents(TEXTS)
    theirs = sentence_transformer.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == theirs.shape == (len(TEXTS), 384)
    assert float(np.abs(ours - theirs).max()) < 1e-5
    # Queries without instruction are documents for MiniLM.
    np.testing.assert_allclose(minilm.encode_queries(TEXTS[:3]), theirs[:3], atol=1e-5)


def test_paraphrases_score_above_unrelated(minilm: Any) -> None:
    a, b, c = minilm.encode_documents(
        [
            "How do I reset my password?",
            "What are the steps to change a forgotten password?",
            "The Eiffel Tower is in Paris.",
        ]
    )
    assert float(a @ b) > 0.6
    assert float(a @ b) > float(a @ c) + 0.4


def test_batched_equals_single(minilm: Any) -> None:
    singles = np.concatenate([minilm.encode_documents([t]) for t in TEXTS])
    batched = minilm.encode_documents(TEXTS)
    np.testing.assert_allclose(batched, singles, atol=1e-5, rtol=0)
    # A small budget: several batches of mixed widths.
    small = load_encoder("minilm", batch_tokens=300)
    np.testing.assert_allclose(small.encode_documents(TEXTS), singles, atol=1e-5, rtol=0)


def test_windows_see_the_end_of_a_long_text(minilm: Any) -> None:
    """A long text on two topics: windows represent the second, truncation cannot."""
    first = "The stock market fell sharply as investors sold bank shares. " * 30  # > 256 tokens
    second = "A recipe: whisk eggs with sugar, fold in flour and bake the sponge cake. " * 6
    text = first + second
    windows = load_encoder("minilm", long_policy="windows")
    q = minilm.encode_queries(["how to bake a sponge cake"])[0]
    v_trunc = minilm.encode_documents([text])[0]
    v_win = windows.encode_documents([text])[0]
    np.testing.assert_allclose(v_trunc, minilm.encode_documents([first])[0], atol=1e-5)
    assert float(q @ v_win) > float(q @ v_trunc) + 0.1


def test_token_offsets_and_counts(minilm: Any) -> None:
    text = "Cats sleep. Dogs bark!"
    offsets = minilm.token_offsets(text)
    assert len(offsets) == minilm.count_tokens(text) == 6
    assert [text[a:b] for a, b in offsets] == ["Cats", "sleep", ".", "Dogs", "bark", "!"]


def test_cpu_fusion_is_used_and_changes_nothing(minilm: Any, monkeypatch: Any) -> None:
    from encoders.fastpath import FusedLinear

    fused = [m for m in minilm.backbone.modules() if isinstance(m, FusedLinear)]
    assert len(fused) == 6 * 6  # q, k, v, attention output, intermediate (+GELU), output
    assert sum(m.activation == "gelu" for m in fused) == 6
    monkeypatch.setenv("DIFFSEARCH_CPU_FUSION", "0")
    plain = load_encoder("minilm", dtype="float32")  # another cache key: a fresh, unfused load
    assert plain is not minilm
    assert not any(isinstance(m, FusedLinear) for m in plain.backbone.modules())
    np.testing.assert_allclose(
        plain.encode_documents(TEXTS), minilm.encode_documents(TEXTS), atol=1e-5, rtol=0
    )


def test_fused_layers_still_train(minilm: Any) -> None:
    """With gradients on, the fused layers fall back to differentiable ops (same values)."""
    import torch

    ids = minilm.tokenizer(["a man is eating food"], return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        fast = minilm.backbone(input_ids=ids).last_hidden_state.clone()
    emb = minilm.backbone.embeddings.word_embeddings.weight
    assert emb.requires_grad
    out = minilm.backbone(input_ids=ids).last_hidden_state
    out.sum().backward()
    assert emb.grad is not None and float(emb.grad.abs().sum()) > 0
    minilm.backbone.zero_grad(set_to_none=True)  # leave the shared model as it was
    torch.testing.assert_close(out.detach(), fast, atol=1e-5, rtol=0)
