"""Length-sorted batches under a token budget, and padding them into tensors.

A fixed batch size either wastes the machine on short queries or runs out of memory on long
documents; a budget on padded tokens (rows x longest row) does neither.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq

import torch

from encoders.inputs import Sequence


def token_budget_batches(
    lengths: Seq[int], max_batch_tokens: int, max_batch_size: int = 512
) -> list[list[int]]:
    """Group indices into batches whose padded size stays within ``max_batch_tokens``.

    Indices are sorted longest first, so the biggest batch (the one that could run out of
    memory) runs first and padding inside a batch is small. A single sequence longer than the
    budget gets a batch of its own.

    Returns:
        Lists of indices into ``lengths``.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        # Sorted longest first: the batch's padded width is its first row's length.
        if current and (
            lengths[current[0]] * (len(current) + 1) > max_batch_tokens
            or len(current) >= max_batch_size
        ):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def collate(
    sequences: Seq[Sequence], pad_id: int, padding_side: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad sequences to one tensor.

    Returns:
        ``input_ids`` (B, L) int64, ``attention_mask`` (B, L) int64 with 1 for real tokens,
        ``pool_mask`` (B, L) int64, and ``position_ids`` (B, L) int64 counted over real tokens
        only, so a left-padded row gets the same positions as the unpadded text.
    """
    width = max(len(s.ids) for s in sequences)
    batch = len(sequences)
    ids = torch.full((batch, width), pad_id, dtype=torch.int64)
    attn = torch.zeros((batch, width), dtype=torch.int64)
    pool = torch.zeros((batch, width), dtype=torch.int64)
    for row, seq in enumerate(sequences):
        n = len(seq.ids)
        cols = slice(width - n, width) if padding_side == "left" else slice(0, n)
        ids[row, cols] = torch.tensor(seq.ids, dtype=torch.int64)
        attn[row, cols] = 1
        pool[row, cols] = torch.tensor(seq.pool, dtype=torch.int64)
    positions = (attn.cumsum(dim=1) - 1).clamp(min=0)
    return ids, attn, pool, positions


def attention_bias(attention_mask: torch.Tensor, causal: bool, dtype: torch.dtype) -> torch.Tensor:
    """Explicit additive 4-D mask: 0 where a query may attend to a key, dtype-min elsewhere.

    Pad keys are masked; with ``causal`` so are future keys. Each position may always attend
    to itself, so rows of pad queries are never fully masked (no NaN from softmax).

    Args:
        attention_mask: (B, L), 1 for real tokens.

    Returns:
        (B, 1, L, L) in ``dtype``.
    """
    batch, length = attention_mask.shape
    device = attention_mask.device
    keep = attention_mask.bool()[:, None, None, :].expand(batch, 1, length, length)
    if causal:
        keep = keep & torch.ones(length, length, dtype=torch.bool, device=device).tril()
    keep = keep | torch.eye(length, dtype=torch.bool, device=device)
    bias = torch.zeros((batch, 1, length, length), dtype=dtype, device=device)
    return bias.masked_fill_(~keep, torch.finfo(dtype).min)
