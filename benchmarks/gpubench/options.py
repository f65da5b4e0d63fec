"""The throughput options the GPU run measures against the encoder as it ships.

* **Token budget**: ``batch_tokens`` (padded tokens per forward pass) above the CUDA default.
* **Packing**: no padding at all. The sequences of a batch are laid end to end in one row,
  positions restart at 0 for each, and attention is kept inside each sequence by a
  variable-length kernel (PyTorch's ``torch.nn.attention.varlen.varlen_attn``, FlashAttention
  with ``cu_seqlens``). It is plugged in through transformers' public ``AttentionInterface``
  under its own name; the sequence boundaries reach it as the standard ``cu_seq_lens_*`` /
  ``max_length_*`` keyword arguments of the model's forward. Where that kernel is missing (the
  CPU), the same function runs SDPA on each sequence in turn: same result, no speed-up, so the
  ``--tiny`` run checks the packing logic on the CPU.
* **torch.compile** of the backbone (``dynamic=True``: one graph for every batch shape).

Each is checked against the plain encoder's vectors for the same texts in the same run.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

PACKED_ATTENTION = "diffsearch_packed"


def _varlen() -> Any:
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn


def packed_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention over packed sequences (an ``AttentionInterface`` function).

    Args:
        query: (1, Hq, T, D): every sequence of the batch end to end.
        key, value: (1, Hkv, T, D).
        attention_mask: Unused (None): the boundaries come from ``cu_seq_lens_q``.
        kwargs: ``cu_seq_lens_q`` (N + 1,) int32 offsets, ``max_length_q`` and ``is_causal``.

    Returns:
        ``(1, T, Hq, D)`` and no weights, as transformers' SDPA function returns.
    """
    del attention_mask, dropout  # inference only
    cu = kwargs["cu_seq_lens_q"]
    longest = int(kwargs["max_length_q"])
    causal = kwargs.get("is_causal")
    causal = bool(getattr(module, "is_causal", True) if causal is None else causal)
    q, k, v = (t[0].transpose(0, 1).contiguous() for t in (query, key, value))  # (T, H, D)
    varlen = _varlen()
    if q.is_cuda and varlen is not None:
        out = _call_varlen(varlen, q, k, v, cu, longest, scaling, causal)
    else:  # reference path (CPU): one SDPA call per sequence
        out = torch.empty_like(q)
        bounds = cu.tolist()
        for a, b in itertools.pairwise(bounds):
            part = torch.nn.functional.scaled_dot_product_attention(
                q[a:b].transpose(0, 1), k[a:b].transpose(0, 1), v[a:b].transpose(0, 1),
                is_causal=causal, scale=scaling, enable_gqa=True,
            )  # fmt: skip
            out[a:b] = part.transpose(0, 1)
    return out.unsqueeze(0), None


def _call_varlen(
    varlen: Any,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu: torch.Tensor,
    longest: int,
    scale: float | None,
    causal: bool,
) -> torch.Tensor:
    """``varlen_attn`` on (T, H, D) tensors, across the keyword sets PyTorch releases have had.

    torch 2.13 takes ``window_size`` ((-1, 0) is causal) and ``enable_gqa``; where a keyword is
    missing, grouped KV heads are repeated here and ``is_causal`` is used instead.
    """
    import inspect

    params = inspect.signature(varlen).parameters
    kwargs: dict[str, Any] = {}
    if "scale" in params:
        kwargs["scale"] = scale
    if "enable_gqa" in params:
        kwargs["enable_gqa"] = True
    elif k.shape[1] != q.shape[1]:  # query head i uses KV head i // group, as repeat_kv does
        group = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    if "window_size" in params:
        kwargs["window_size"] = (-1, 0) if causal else (-1, -1)
    elif "is_causal" in params:
        kwargs["is_causal"] = causal
    elif causal:
        raise RuntimeError("this torch's varlen_attn has no causal mode")
    out: torch.Tensor = varlen(q, k, v, cu, cu, longest, longest, **kwargs)
    return out


def kernel_name(device: torch.device) -> str:
    """Which attention kernel packing uses on ``device``."""
    if device.type == "cuda" and _varlen() is not None:
        return "torch varlen_attn (FlashAttention)"
    return "SDPA per sequence (reference, no speed-up)"


def _register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(PACKED_ATTENTION, packed_attention)


def _packs(lengths: list[int], budget: int) -> list[list[int]]:
    """Indices, longest first, grouped so that each pack holds at most ``budget`` tokens."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    packs: list[list[int]] = []
    used = budget + 1
    for i in order:
        if used + lengths[i] > budget:
            packs.append([])
            used = 0
        packs[-1].append(i)
        used += lengths[i]
    return packs


def encode_packed(encoder: Any, texts: list[str], budget: int) -> np.ndarray:
    """``encoder.encode_documents(texts)`` without padding (see the module docstring).

    Uses the encoder's own sequences (template, EOS, pool masks) and pooling rule; only the
    batching and the attention kernel differ. Texts must fit in one window each.

    Returns:
        (n, dim) float32 unit rows, in input order.
    """
    from encoders.pooling import l2_normalize

    _register()
    seqs = encoder._sequences(texts, "document", None)
    if len(seqs) != len(texts):
        raise ValueError("packing is measured on texts that fit in one window")
    backbone = encoder.backbone
    device = next(backbone.parameters()).device
    pooled = torch.empty((len(seqs), encoder.dim), dtype=torch.float32)
    previous = backbone.config._attn_implementation
    backbone.set_attn_implementation(PACKED_ATTENTION)
    try:
        with torch.inference_mode():
            for pack in _packs([len(s.ids) for s in seqs], budget):
                rows = [seqs[i] for i in pack]
                sizes = torch.tensor([len(s.ids) for s in rows])
                cu = torch.zeros(len(rows) + 1, dtype=torch.int32)
                cu[1:] = sizes.cumsum(0)
                ids = torch.tensor([t for s in rows for t in s.ids], device=device)
                pos = torch.cat([torch.arange(n) for n in sizes.tolist()]).to(device)
                cu_dev = cu.to(device)
                hidden = backbone(
                    input_ids=ids[None], position_ids=pos[None], attention_mask=None,
                    cu_seq_lens_q=cu_dev, cu_seq_lens_k=cu_dev,
                    max_length_q=int(sizes.max()), max_length_k=int(sizes.max()),
                ).last_hidden_state[0]  # fmt: skip
                pooled[pack] = _pool_segments(encoder.pooling, hidden, rows, cu_dev).cpu()
    finally:
        backbone.set_attn_implementation(previous)
    return l2_normalize(pooled).numpy()


def _pool_segments(
    pooling: str, hidden: torch.Tensor, rows: list[Any], cu: torch.Tensor
) -> torch.Tensor:
    """Per-sequence vectors from packed states (T, H), by the encoder's pooling rule.

    ``mean`` averages the tokens whose pool mask is 1; ``last`` takes each sequence's last
    token, ``cls`` its first. Returns (N, H) float32.
    """
    if pooling == "last":
        return hidden[cu[1:].long() - 1].float()
    if pooling == "cls":
        return hidden[cu[:-1].long()].float()
    weights = torch.tensor(
        [w for s in rows for w in s.pool], dtype=torch.float32, device=hidden.device
    )
    owner = torch.repeat_interleave(
        torch.arange(len(rows), device=hidden.device), (cu[1:] - cu[:-1]).long()
    )
    total = torch.zeros((len(rows), hidden.shape[1]), dtype=torch.float32, device=hidden.device)
    total.index_add_(0, owner, hidden.float() * weights[:, None])
    count = torch.zeros(len(rows), dtype=torch.float32, device=hidden.device)
    count.index_add_(0, owner, weights)
    return total / count.clamp(min=1.0)[:, None]


@contextlib.contextmanager
def token_budget(encoder: Any, tokens: int) -> Iterator[None]:
    """Run ``encoder`` with another ``batch_tokens`` for the duration of the block."""
    before = encoder.batch_tokens
    encoder.batch_tokens = tokens
    try:
        yield
    finally:
        encoder.batch_tokens = before


@contextlib.contextmanager
def compiled(encoder: Any, backend: str) -> Iterator[None]:
    """Run ``encoder`` through ``torch.compile`` of its backbone for the duration of the block."""
    original = encoder.backbone
    encoder.backbone = torch.compile(original, dynamic=True, backend=backend)
    try:
        yield
    finally:
        encoder.backbone = original


def agreement(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """How far ``other`` is from ``reference`` (both (n, dim) unit rows): max |diff|, min cosine."""
    cos = (reference * other).sum(axis=1)
    return {"max_abs_diff": float(np.abs(reference - other).max()), "min_cosine": float(cos.min())}


def spread(vectors: np.ndarray, sample: int = 64) -> float:
    """Mean cosine between different texts' vectors: an agreement check is only worth something
    when this is well below the agreement's min cosine (random weights can make all vectors
    alike)."""
    v = vectors[:sample]
    if len(v) < 2:
        return float("nan")
    sims = v @ v.T
    n = len(v)
    return float((sims.sum() - np.trace(sims)) / (n * n - n))
