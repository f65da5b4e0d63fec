"""Loading checkpoints into transformers' native model classes, without remote code.

Diffusion LMs ship custom modelling code. Their weights, though, fit native classes:
Dream is Qwen2 with bidirectional attention; LLaDA is Llama after renaming its parameters.
Attention direction is set through the public ``config.is_causal``; the encoder additionally
passes an explicit 4-D mask to BERT-style models, which ignore that flag on some kernels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from encoders.errors import EncoderError

# LLaDA (OLMo-style) parameter names -> LlamaModel's. Regexes for `from_pretrained(key_mapping=)`.
LLADA_KEY_MAPPING: dict[str, str] = {
    r"^model\.transformer\.wte\.": "embed_tokens.",
    r"^model\.transformer\.blocks\.(\d+)\.attn_norm\.": r"layers.\1.input_layernorm.",
    r"^model\.transformer\.blocks\.(\d+)\.(q|k|v)_proj\.": r"layers.\1.self_attn.\2_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.attn_out\.": r"layers.\1.self_attn.o_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.ff_norm\.": r"layers.\1.post_attention_layernorm.",
    r"^model\.transformer\.blocks\.(\d+)\.ff_proj\.": r"layers.\1.mlp.gate_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.up_proj\.": r"layers.\1.mlp.up_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.ff_out\.": r"layers.\1.mlp.down_proj.",
    r"^model\.transformer\.ln_f\.": "norm.",
    # The LM head is not part of an encoder; park it under a name the model ignores.
    r"^model\.transformer\.ff_out\.": "unused_lm_head.",
}

# Dream's config.json field names are Qwen2's; these are the ones that shape the network.
_QWEN2_FIELDS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "hidden_act",
    "max_position_embeddings",
    "rms_norm_eps",
    "rope_theta",
    "rope_scaling",
    "rope_parameters",
    "attention_dropout",
    "tie_word_embeddings",
    "pad_token_id",
    "bos_token_id",
    "eos_token_id",
)


def read_config(path: Path) -> dict[str, Any]:
    """The checkpoint's ``config.json`` as a dict."""
    with open(path / "config.json", encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def detect_arch(raw: dict[str, Any]) -> str:
    """Map a checkpoint's ``model_type`` to a loader name."""
    model_type = str(raw.get("model_type", "")).lower()
    if model_type == "dream":
        return "dream"
    if model_type == "llada":
        return "llada"
    return "auto"


def dream_config(raw: dict[str, Any]) -> Any:
    """A ``Qwen2Config`` carrying Dream's architecture fields."""
    from transformers import Qwen2Config

    fields = {k: raw[k] for k in _QWEN2_FIELDS if k in raw and raw[k] is not None}
    return Qwen2Config(**fields)


def llada_config(raw: dict[str, Any]) -> Any:
    """A ``LlamaConfig`` carrying LLaDA's architecture (OLMo-style field names)."""
    from transformers import LlamaConfig

    n_heads = int(raw["n_heads"])
    return LlamaConfig(
        vocab_size=int(raw.get("embedding_size") or raw["vocab_size"]),
        hidden_size=int(raw["d_model"]),
        intermediate_size=int(raw.get("mlp_hidden_size") or raw["d_model"] * raw.get("mlp_ratio", 4)),
        num_hidden_layers=int(raw["n_layers"]),
        num_attention_heads=n_heads,
        num_key_value_heads=int(raw.get("n_kv_heads") or n_heads),
        max_position_embeddings=int(raw.get("max_sequence_length", 4096)),
        rms_norm_eps=float(raw.get("rms_norm_eps", 1e-5)),
        rope_theta=float(raw.get("rope_theta", 10000.0)),
        attention_bias=bool(raw.get("include_bias", False)),
        mlp_bias=bool(raw.get("include_bias", False)),
        tie_word_embeddings=bool(raw.get("weight_tying", False)),
        hidden_act="silu",
    )


def load_backbone(
    path: Path,
    arch: str,
    *,
    causal: bool,
    dtype: torch.dtype,
    device: str,
    adapter: Path | None = None,
    trust_remote_code: bool = False,
) -> torch.nn.Module:
    """Load the transformer body (no LM head) of the checkpoint at ``path``.

    Args:
        path: Local folder with ``config.json`` and weights.
        arch: ``dream``, ``llada``, or anything else for transformers' ``AutoModel``.
        causal: Declared attention direction; written to ``config.is_causal``.
        dtype: Parameter dtype.
        device: ``cpu``, ``cuda``, ``cuda:1``, ...
        adapter: Optional LoRA adapter folder (peft); merged into the weights after loading.
        trust_remote_code: Only for ``auto`` checkpoints whose class transformers lacks.
    """
    from transformers import AutoConfig, AutoModel, LlamaModel, Qwen2Model
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a per-tensor bar on every load is noise in a CLI

    raw = read_config(path)
    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": "sdpa"}
    model_cls: Any
    if arch == "dream":
        config, model_cls = dream_config(raw), Qwen2Model
    elif arch == "llada":
        config, model_cls = llada_config(raw), LlamaModel
        kwargs["key_mapping"] = LLADA_KEY_MAPPING
    else:
        try:
            config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
        except ValueError as exc:
            raise EncoderError(
                f"{path}: transformers does not know model_type {raw.get('model_type')!r}. "
                "diffsearch runs no remote code unless you pass --trust-remote-code."
            ) from exc
        model_cls = AutoModel
        kwargs["trust_remote_code"] = trust_remote_code
    config.is_causal = causal
    model = model_cls.from_pretrained(path, config=config, **kwargs)
    if adapter is not None:
        try:
            from peft import PeftModel
        except ImportError as exc:
            raise EncoderError("a LoRA adapter needs peft: pip install 'diffsearch[lora]'") from exc
        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    model.config.is_causal = causal
    return model.to(device).eval()
