"""LLaDA under bf16 rotates queries and keys in float32, as its own code does.

The reference is written out here from LLaDA's math (a Llama block: RMSNorm computed in
float32, bf16 projections, rotary embedding computed *and applied* in float32 then cast back
to bf16, bidirectional attention, SwiGLU), independently of transformers' modules.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from encoders import load_encoder

TEXT = "Diffusion language models denoise masked tokens in parallel over several steps."


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    h = x.to(torch.float32)
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


def _llada_forward(state: dict[str, torch.Tensor], ids: list[int], cfg: Any) -> torch.Tensor:
    """Last-layer states (L, H) of a bf16 LLaDA body with full-precision rotary embeddings."""
    w = {k: v.to(torch.bfloat16) for k, v in state.items()}
    heads, dim = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
    length = len(ids)
    inv_freq = 1.0 / (500_000.0 ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    freqs = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)
    cos, sin = torch.cat((freqs, freqs), -1).cos(), torch.cat((freqs, freqs), -1).sin()
    h = w["embed_tokens.weight"][torch.tensor(ids)].unsqueeze(0)
    for i in range(cfg.num_hidden_layers):
        p = f"layers.{i}."
        x = _rms(h, w[p + "input_layernorm.weight"], cfg.rms_norm_eps)

        def proj(name: str, x: torch.Tensor = x, p: str = p) -> torch.Tensor:
            return F.linear(x, w[p + name + ".weight"]).view(1, length, heads, dim).transpose(1, 2)

        q, k, v = proj("self_attn.q_proj"), proj("self_attn.k_proj"), proj("self_attn.v_proj")
        q = (q.float() * cos + _rotate_half(q.float()) * sin).to(torch.bfloat16)
        k = (k.float() * cos + _rotate_half(k.float()) * sin).to(torch.bfloat16)
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=False)
        h = h + F.linear(
            attn.transpose(1, 2).reshape(1, length, -1), w[p + "self_attn.o_proj.weight"]
        )
        x = _rms(h, w[p + "post_attention_layernorm.weight"], cfg.rms_norm_eps)
        gate = F.silu(F.linear(x, w[p + "mlp.gate_proj.weight"]))
        h = h + F.linear(
            gate * F.linear(x, w[p + "mlp.up_proj.weight"]), w[p + "mlp.down_proj.weight"]
        )
    return _rms(h, w["norm.weight"], cfg.rms_norm_eps)[0].float()


def test_llada_bf16_rotates_in_float32(tiny_llada: Any) -> None:
    enc = load_encoder("llada", weights=tiny_llada.path, dtype="bfloat16")
    assert next(enc.backbone.parameters()).dtype == torch.bfloat16
    ids = enc.tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    (seq,) = enc.builder.build(0, ids, "document", None)
    want = _llada_forward(tiny_llada.source, seq.ids, tiny_llada.reference.config)
    hidden, _, _ = enc._states([seq])
    got = hidden[0].float()
    # The same weights with transformers' own bf16 rotation, for scale.
    plain = tiny_llada.reference.to(torch.bfloat16)
    try:
        with torch.no_grad():
            native = plain(input_ids=torch.tensor([seq.ids])).last_hidden_state[0].float()
    finally:
        tiny_llada.reference.to(torch.float32)
    ours, theirs = (got - want).abs().max().item(), (native - want).abs().max().item()
    # Measured: ours 0.0 (the same ops in the same order), transformers' bf16 rotation 0.039.
    assert ours < 1e-3, ours
    assert theirs > 0.01, theirs  # so the two rotations do differ at this size
    # float32 models are untouched: plain SDPA, no wrapper.
    f32 = load_encoder("llada", weights=tiny_llada.path)
    assert f32.backbone.config._attn_implementation == "sdpa"
