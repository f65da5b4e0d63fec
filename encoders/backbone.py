"""Loading checkpoints into transformers' native model classes, without remote code.

Diffusion LMs ship custom modelling code. Their weights, though, fit native classes:
Dream is Qwen2 with bidirectional attention; LLaDA is Llama after renaming its parameters;
pplx-embed (``bidirectional_pplx_qwen3``) is Qwen3 with bidirectional attention, its tensors
saved without the ``model.`` prefix (which is what the bare ``Qwen3Model`` expects).
Attention direction is set through the public ``config.is_causal``; for causal runs of
BERT-style models, which ignore that flag, the encoder also passes an explicit 4-D mask.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from encoders.errors import EncoderError
from encoders.resolve import read_config

# LLaDA (OLMo-style) parameter names -> LlamaModel's. Regexes for `from_pretrained(key_mapping=)`.
LLADA_KEY_MAPPING: dict[str, str] = {
    r"^model\.transformer\.wte\.": "embed_tokens.",
    r"^model\.transformer\.blocks\.(\d+)\.attn_norm\.": r"layers.\1.input_layernorm.",
    # One group per pattern: transformers combines the patterns, so a second group misnumbers.
    r"^model\.transformer\.blocks\.(\d+)\.q_proj\.": r"layers.\1.self_attn.q_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.k_proj\.": r"layers.\1.self_attn.k_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.v_proj\.": r"layers.\1.self_attn.v_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.attn_out\.": r"layers.\1.self_attn.o_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.ff_norm\.": r"layers.\1.post_attention_layernorm.",
    r"^model\.transformer\.blocks\.(\d+)\.ff_proj\.": r"layers.\1.mlp.gate_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.up_proj\.": r"layers.\1.mlp.up_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.ff_out\.": r"layers.\1.mlp.down_proj.",
    r"^model\.transformer\.ln_f\.": "norm.",
    # The LM head is not part of an encoder; park it under a name the model ignores.
    r"^model\.transformer\.ff_out\.": "unused_lm_head.",
}

# Checkpoint tensors an encoder leaves out on purpose (names after renaming).
_LM_HEADS = frozenset({"lm_head.weight", "unused_lm_head.weight"})

# Encoders whose constructor takes ``add_pooling_layer`` (a [CLS] dense + tanh head).
_POOLER_MODEL_TYPES = frozenset({"bert", "roberta", "xlm-roberta", "camembert"})

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


# pplx-embed's config.json: Qwen3's fields under a custom model_type.
_QWEN3_FIELDS = (
    *_QWEN2_FIELDS,
    "head_dim",
    "attention_bias",
    "use_sliding_window",
    "sliding_window",
    "max_window_layers",
    "layer_types",
)


def _native_fields(raw: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The architecture fields of a custom config.json, RoPE settings in transformers 5 form."""
    fields = {k: raw[k] for k in names if k in raw and raw[k] is not None}
    if "rope_parameters" not in fields:
        # transformers 5 reads RoPE settings from one dict; these configs have the v4 fields.
        rope: dict[str, Any] = dict(fields.pop("rope_scaling", None) or {"rope_type": "default"})
        rope.setdefault("rope_type", rope.pop("type", "default"))
        rope["rope_theta"] = float(fields.pop("rope_theta", 10000.0))
        fields["rope_parameters"] = rope
    return fields


def dream_config(raw: dict[str, Any]) -> Any:
    """A ``Qwen2Config`` carrying Dream's architecture fields."""
    from transformers import Qwen2Config

    return Qwen2Config(**_native_fields(raw, _QWEN2_FIELDS))


def pplx_config(raw: dict[str, Any]) -> Any:
    """A ``Qwen3Config`` carrying pplx-embed's architecture fields (its own code is not run)."""
    from transformers import Qwen3Config

    return Qwen3Config(**_native_fields(raw, _QWEN3_FIELDS))


def llada_config(raw: dict[str, Any]) -> Any:
    """A ``LlamaConfig`` carrying LLaDA's architecture (OLMo-style field names)."""
    from transformers import LlamaConfig

    n_heads = int(raw["n_heads"])
    return LlamaConfig(
        vocab_size=int(raw.get("embedding_size") or raw["vocab_size"]),
        hidden_size=int(raw["d_model"]),
        intermediate_size=int(
            raw.get("mlp_hidden_size") or raw["d_model"] * raw.get("mlp_ratio", 4)
        ),
        num_hidden_layers=int(raw["n_layers"]),
        num_attention_heads=n_heads,
        num_key_value_heads=int(raw.get("n_kv_heads") or n_heads),
        max_position_embeddings=int(raw.get("max_sequence_length", 4096)),
        rms_norm_eps=float(raw.get("rms_norm_eps", 1e-5)),
        rope_parameters={
            "rope_type": "default",
            "rope_theta": float(raw.get("rope_theta", 10000.0)),
        },
        attention_bias=bool(raw.get("include_bias", False)),
        mlp_bias=bool(raw.get("include_bias", False)),
        tie_word_embeddings=bool(raw.get("weight_tying", False)),
        hidden_act="silu",
    )


@contextlib.contextmanager
def drop_logs(logger_name: str, *needles: str) -> Iterator[None]:
    """Drop the records of one logger whose message contains any of ``needles``.

    A filter rather than a level change: transformers runs extra checks when its loggers'
    levels are raised.
    """

    def keep(record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(n in message for n in needles)

    log = logging.getLogger(logger_name)
    log.addFilter(keep)
    try:
        yield
    finally:
        log.removeFilter(keep)


def _from_pretrained_checked(
    model_cls: Any,
    path: Path,
    config: Any,
    kwargs: dict[str, Any],
    allowed_unused: frozenset[str] | None = None,
) -> Any:
    """``from_pretrained`` that refuses to leave any parameter at its random initialisation.

    transformers only logs missing weights (a mis-renamed checkpoint would embed with random
    layers); here they are an error. A pooler missing from an encoder checkpoint is fine (it
    is never used).

    Args:
        allowed_unused: When given, checkpoint tensors the model did not take must be among
            these names (the LM head); anything else means the mapping onto the native class
            is incomplete (e.g. biases or norms the native class lacks).

    Raises:
        EncoderError: Some parameters of the model were not in the checkpoint, or some
            checkpoint tensors have no place in the model.
    """
    # transformers logs a load report for every unused tensor (the LM head): checked below.
    with drop_logs("transformers.modeling_utils", "LOAD REPORT"):
        model, info = model_cls.from_pretrained(
            path, config=config, output_loading_info=True, **kwargs
        )
    # A pooler head is never used by our pooling; checkpoints saved without one are fine.
    missing = sorted(k for k in info.get("missing_keys") or () if not k.startswith("pooler."))
    if missing:
        shown = ", ".join(missing[:8]) + (
            f", ... ({len(missing)} in all)" if len(missing) > 8 else ""
        )
        raise EncoderError(
            f"{path}: the checkpoint lacks weights the model needs ({shown}); they would be "
            "random. Is this the right folder for this architecture?"
        )
    if allowed_unused is not None:
        unused = sorted(set(info.get("unexpected_keys") or ()) - allowed_unused)
        if unused:
            raise EncoderError(
                f"{path}: {len(unused)} checkpoint tensors have no place in the native "
                f"{model_cls.__name__} (e.g. {unused[0]}): this variant of the architecture "
                "is not supported."
            )
    return model


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
        arch: ``dream``, ``llada``, ``pplx``, or anything else for transformers' ``AutoModel``.
        causal: Declared attention direction; written to ``config.is_causal``.
        dtype: Parameter dtype.
        device: ``cpu``, ``cuda``, ``cuda:1``, ...
        adapter: Optional LoRA adapter folder (peft); merged into the weights after loading.
        trust_remote_code: Only for ``auto`` checkpoints whose class transformers lacks.
    """
    from transformers import AutoConfig, AutoModel, LlamaModel, Qwen2Model, Qwen3Model
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
        if dtype not in (torch.float32, torch.float64):
            from encoders.rope import register_attention

            kwargs["attn_implementation"] = register_attention()
    elif arch == "pplx":
        config, model_cls = pplx_config(raw), Qwen3Model
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
    if arch == "bert" or getattr(config, "model_type", "") in _POOLER_MODEL_TYPES:
        kwargs["add_pooling_layer"] = False  # the [CLS] pooler is dead weight for an embedder
    config.is_causal = causal
    config.use_cache = False  # an encoder runs one pass: a KV cache would only hold memory
    # Custom checkpoints are mapped onto native classes: every tensor but the LM head must land.
    allowed = _LM_HEADS if arch in ("dream", "llada", "pplx") else None
    model = _from_pretrained_checked(model_cls, path, config, kwargs, allowed)
    if kwargs["attn_implementation"] != "sdpa":
        from encoders.rope import use_float32_rope

        use_float32_rope(model)  # LLaDA's rope_full_precision, see encoders.rope
    if adapter is not None:
        from encoders.adapters import merge_adapter

        model = merge_adapter(model, adapter)
    model.config.is_causal = causal
    return model.to(device).eval()
