"""Pooling and normalisation: pure tensor functions, separate from any model.

Shapes: ``hidden`` is ``(B, L, H)``; ``attention_mask`` and ``pool_mask`` are ``(B, L)`` with
1 for real tokens. Padding may be on either side: every function finds positions from the
masks, never from the sequence length.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def mean_pool(
    hidden: torch.Tensor, attention_mask: torch.Tensor, pool_mask: torch.Tensor
) -> torch.Tensor:
    """Average the states where ``pool_mask`` is 1 (text tokens, never instruction or pad).

    Returns:
        ``(B, H)`` float32.
    """
    weights = (pool_mask * attention_mask).to(torch.float32).unsqueeze(-1)  # (B, L, 1)
    total = (hidden.to(torch.float32) * weights).sum(dim=1)
    count = weights.sum(dim=1).clamp(min=1.0)
    return total / count


def last_pool(
    hidden: torch.Tensor, attention_mask: torch.Tensor, pool_mask: torch.Tensor
) -> torch.Tensor:
    """State of the last real token of each row, found from ``attention_mask``.

    Correct for left padding (last column) and right padding (last 1 before the pads).

    Returns:
        ``(B, H)`` float32.
    """
    del pool_mask  # the last real token is always pooled, whatever it is
    length = attention_mask.shape[1]
    # argmax on the flipped mask gives the distance of the last 1 from the end.
    last = length - 1 - attention_mask.flip(dims=[1]).to(torch.int64).argmax(dim=1)
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, last].to(torch.float32)


def cls_pool(
    hidden: torch.Tensor, attention_mask: torch.Tensor, pool_mask: torch.Tensor
) -> torch.Tensor:
    """State of the first real token of each row (the [CLS] token for BERT-style models).

    Returns:
        ``(B, H)`` float32.
    """
    del pool_mask
    first = attention_mask.to(torch.int64).argmax(dim=1)
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, first].to(torch.float32)


def mask_pool(
    hidden: torch.Tensor, attention_mask: torch.Tensor, pool_mask: torch.Tensor
) -> torch.Tensor:
    """State at the [MASK] slot of a DiffRetriever prompt (the mean over K slots when K > 1).

    The sequence builder marks the slot's mask positions, and only those, in ``pool_mask``
    (``pool_target="slot"``), so this is the mean over the marked positions.

    Returns:
        ``(B, H)`` float32.
    """
    return mean_pool(hidden, attention_mask, pool_mask)


PoolFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

POOLERS: dict[str, PoolFn] = {
    "mean": mean_pool,
    "last": last_pool,
    "cls": cls_pool,
    "mask": mask_pool,
}


def l2_normalize(vectors: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Scale each row of ``(N, H)`` to unit length."""
    return vectors / vectors.norm(dim=-1, keepdim=True).clamp(min=eps)
