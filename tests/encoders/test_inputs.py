"""Templates, instructions and long inputs: what is fed to the model and what is pooled."""

from __future__ import annotations

import itertools
import random
from typing import Any

import numpy as np
import pytest
import torch

from encoders import load_encoder
from encoders.batching import token_budget_batches
from encoders.inputs import SequenceBuilder, split_windows
from encoders.model import TransformerEncoder

QUERY = "which models denoise masked tokens"
INSTRUCTIONS = (
    "Given a question, retrieve documents that answer the question",
    "Retrieve scientific abstracts that support or refute a claim",
)


def _pooled_ids(enc: TransformerEncoder, text: str, instruction: str | None) -> list[int]:
    ids = enc.tokenizer(text, add_special_tokens=False)["input_ids"]
    (seq,) = enc.builder.build(0, ids, "query", instruction)
    assert len(seq.pool) == len(seq.ids)
    return [t for t, p in zip(seq.ids, seq.pool, strict=True) if p]


def test_instructions_are_in_the_input_but_never_pooled(tiny_dream: Any) -> None:
    enc = load_encoder("dream", weights=tiny_dream.path)
    text_ids = enc.tokenizer(QUERY, add_special_tokens=False)["input_ids"]
    built = {}
    for instruction in INSTRUCTIONS:
        (seq,) = enc.builder.build(0, text_ids, "query", instruction)
        built[instruction] = seq
        decoded = enc.tokenizer.decode(seq.ids)
        assert decoded == f"<|im_start|>user\n{instruction}\n{QUERY}<|im_end|>"
        assert _pooled_ids(enc, QUERY, instruction) == text_ids
    a, b = built.values()
    assert a.ids != b.ids  # the instructions do reach the model


def test_mean_excludes_instruction_tokens(tiny_dream: Any) -> None:
    """The query vector is the mean over text positions only, recomputed from the states."""
    enc = load_encoder("dream", weights=tiny_dream.path)
    text_ids = enc.tokenizer(QUERY, add_special_tokens=False)["input_ids"]
    vectors = []
    for instruction in INSTRUCTIONS:
        (seq,) = enc.builder.build(0, text_ids, "query", instruction)
        with torch.inference_mode():
            hidden, _, pool = enc._states([seq])
        text_only = torch.nn.functional.normalize(hidden[0, pool[0].bool()].mean(0), dim=0)
        everything = torch.nn.functional.normalize(hidden[0].mean(0), dim=0)
        got = torch.from_numpy(enc.encode_queries([QUERY], instruction=instruction)[0])
        torch.testing.assert_close(got, text_only, atol=1e-5, rtol=0)
        assert (got - everything).abs().max() > 1e-3  # including them would show
        vectors.append(got)
    # Bidirectional: the instruction still shapes the text tokens' states.
    assert (vectors[0] - vectors[1]).abs().max() > 1e-4


def test_default_and_empty_instruction(tiny_dream: Any) -> None:
    enc = load_encoder("dream", weights=tiny_dream.path)
    assert enc.default_instruction
    default = enc.encode_queries([QUERY])
    explicit = enc.encode_queries([QUERY], instruction=enc.default_instruction)
    np.testing.assert_allclose(default, explicit, atol=1e-6)
    # instruction="" means none: the query is then built exactly like a document.
    np.testing.assert_allclose(
        enc.encode_queries([QUERY], instruction=""), enc.encode_documents([QUERY]), atol=1e-6
    )


def test_ar_instruction_format_and_eos(tiny_qwen2: Any) -> None:
    builder = SequenceBuilder(
        load_encoder(str(tiny_qwen2.path)).tokenizer,
        query_template="{instruction}{text}",
        doc_template="{text}",
        instruction_format="Instruct: {instruction}\nQuery: ",
        max_tokens=64,
        append_eos=True,
        pool_special_tokens=False,
    )
    tok = builder.tokenizer
    ids = tok("cats", add_special_tokens=False)["input_ids"]
    (seq,) = builder.build(0, ids, "query", "Find pets")
    assert tok.decode(seq.ids) == "Instruct: Find pets\nQuery: cats<|endoftext|>"
    assert [t for t, p in zip(seq.ids, seq.pool, strict=True) if p] == ids


def test_bert_pools_its_specials_like_sentence_transformers(tiny_bert: Any) -> None:
    enc = load_encoder("minilm", weights=tiny_bert.path)  # the minilm preset on tiny weights
    assert enc.dim == 32
    ids = enc.tokenizer("cats", add_special_tokens=False)["input_ids"]
    (seq,) = enc.builder.build(0, ids, "document", None)
    assert enc.tokenizer.convert_ids_to_tokens(seq.ids) == ["[CLS]", "cats", "[SEP]"]
    assert seq.pool == [1, 1, 1]


def test_template_must_hold_text_once(tiny_qwen2: Any) -> None:
    tok = load_encoder(str(tiny_qwen2.path)).tokenizer
    builder = SequenceBuilder(
        tok,
        query_template="{text} and {text}",
        doc_template="{text}",
        instruction_format="{instruction}",
        max_tokens=64,
        append_eos=False,
        pool_special_tokens=False,
    )
    with pytest.raises(ValueError, match="exactly once"):
        builder.build(0, [1, 2], "query", None)


def test_instruction_that_fills_the_budget_is_refused(tiny_dream: Any) -> None:
    enc = load_encoder("dream", weights=tiny_dream.path, max_tokens=16)
    with pytest.raises(ValueError, match="shorten the instruction"):
        enc.encode_queries([QUERY], instruction="word " * 40)


# -- long inputs ----------------------------------------------------------------------------------


def test_split_windows_cover_the_text() -> None:
    ids = list(range(100))
    windows = split_windows(ids, size=30, overlap=5)
    assert all(len(w) == 30 for w in windows)
    assert windows[0][0] == 0 and windows[-1][-1] == 99  # last window aligned to the end
    assert set().union(*map(set, windows)) == set(ids)
    for a, b in itertools.pairwise(windows):
        assert b[0] - a[0] <= 25  # stride = size - overlap at most
    assert split_windows(ids[:10], size=30, overlap=5) == [ids[:10]]
    with pytest.raises(ValueError):
        split_windows(ids, size=0, overlap=0)


LONG = " ".join(
    [
        "Diffusion language models denoise masked tokens in parallel over several steps.",
        "Cats and dogs are common pets; parrots can learn to repeat words.",
        "A search engine ranks documents by the similarity of their embeddings to a query.",
        "The quick brown fox jumps over the lazy dog near the river bank.",
    ]
)


def test_windows_policy_averages_windows(tiny_dream: Any) -> None:
    trunc = load_encoder("dream", weights=tiny_dream.path, max_tokens=24)
    win = load_encoder("dream", weights=tiny_dream.path, max_tokens=24, long_policy="windows")
    assert (trunc.long_policy, win.long_policy) == ("truncate", "windows")
    ids = win.tokenizer(LONG, add_special_tokens=False)["input_ids"]
    seqs = win.builder.build(0, ids, "document", None)
    assert len(seqs) >= 3 and all(len(s.ids) <= 24 for s in seqs)
    v_trunc = trunc.encode_documents([LONG])[0]
    v_win = win.encode_documents([LONG])[0]
    assert np.abs(v_trunc - v_win).max() > 1e-3
    # Truncation keeps the first window only; windows is the weighted mean of unit windows.
    with torch.inference_mode():
        pooled = torch.nn.functional.normalize(win._forward(seqs), dim=1)
    weights = torch.tensor([float(s.weight) for s in seqs])[:, None]
    want = torch.nn.functional.normalize((pooled * weights).sum(0), dim=0).numpy()
    np.testing.assert_allclose(v_win, want, atol=1e-5)
    np.testing.assert_allclose(v_trunc, pooled[0].numpy(), atol=1e-5)
    # Sensible: the average leans towards every window (a random direction would not).
    assert all(float(v_win @ p.numpy()) > 0.2 for p in pooled)
    # A short text is one window: both policies agree.
    short = "Cats and dogs."
    np.testing.assert_allclose(
        win.encode_documents([short]), trunc.encode_documents([short]), atol=1e-6
    )


def test_windows_in_a_mixed_batch_keep_input_order(tiny_dream: Any) -> None:
    win = load_encoder("dream", weights=tiny_dream.path, max_tokens=24, long_policy="windows")
    texts = ["Cats and dogs.", LONG, "Search engines rank documents.", LONG[::-1]]
    batch = win.encode_documents(texts)
    singles = np.concatenate([win.encode_documents([t]) for t in texts])
    np.testing.assert_allclose(batch, singles, atol=1e-5)


def test_token_budget_batches_respect_the_budget() -> None:
    rng = random.Random(7)
    for _ in range(50):
        lengths = [rng.randint(1, 300) for _ in range(rng.randint(1, 200))]
        budget = rng.choice([64, 256, 1000, 4096])
        max_size = rng.choice([1, 8, 512])
        batches = token_budget_batches(lengths, budget, max_batch_size=max_size)
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(len(lengths)))  # each index exactly once
        for b in batches:
            assert len(b) <= max_size
            padded = max(lengths[i] for i in b) * len(b)
            assert padded <= budget or len(b) == 1  # only a lone over-long row may exceed
    assert token_budget_batches([], 100) == []
