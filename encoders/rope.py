"""Rotary embeddings in float32 for a half-precision Llama body (LLaDA's ``rope_full_precision``).

LLaDA's own modelling code rotates queries and keys in float32 and casts them back to the
model's dtype before attention; transformers' native ``LlamaModel`` rotates in bf16 (a
difference of up to 0.13 in the states of a tiny model). Two public transformers extension
points reproduce LLaDA without touching transformers' code:

1. the model's ``rotary_emb`` submodule is wrapped so that it returns cos/sin in float32 (the
   wrapped module already computes them in float32 and only casts to the dtype of the tensor
   it is given, so it is handed a float32 probe). ``apply_rotary_pos_emb`` then multiplies the
   bf16 queries and keys by float32 factors, which type promotion carries out in float32:
   exactly ``q.float() * cos + rotate_half(q.float()) * sin``;
2. an attention function registered under its own name through ``AttentionInterface`` (and the
   matching mask builder through ``AttentionMaskInterface``) casts the rotated queries and keys
   back to the values' dtype and calls transformers' own SDPA attention.
"""

from __future__ import annotations

from typing import Any

import torch

ATTN_NAME = "diffsearch_sdpa_fp32_rope"


class Float32Rotary(torch.nn.Module):
    """Wraps a transformers rotary embedding so that cos/sin come back in float32."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor, position_ids: torch.Tensor) -> Any:
        """Same as the wrapped module's ``forward``, with float32 outputs.

        Args:
            x: Hidden states (only their device and dtype are read by the wrapped module).
            position_ids: ``(B, L)``.

        Returns:
            ``(cos, sin)``, each ``(B, L, head_dim)`` float32.
        """
        probe = torch.empty(0, device=x.device, dtype=torch.float32)
        return self.inner(probe, position_ids)


def _sdpa_back_to_value_dtype(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,
) -> Any:
    """transformers' SDPA attention after casting the float32-rotated q/k to ``value.dtype``."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    return sdpa_attention_forward(
        module, query.to(value.dtype), key.to(value.dtype), value, attention_mask, **kwargs
    )


def register_attention() -> str:
    """Register the attention function and its mask builder; returns the name to load with."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTN_NAME, _sdpa_back_to_value_dtype)
    AttentionMaskInterface.register(ATTN_NAME, sdpa_mask)
    return ATTN_NAME


def use_float32_rope(model: torch.nn.Module) -> None:
    """Make a loaded half-precision Llama body rotate in float32 (see module docs).

    The model must have been loaded with ``attn_implementation=register_attention()``.
    """
    rotary = getattr(model, "rotary_emb", None)
    if rotary is not None and not isinstance(rotary, Float32Rotary):
        model.rotary_emb = Float32Rotary(rotary)
