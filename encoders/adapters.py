"""Merging a LoRA adapter (peft) into a loaded backbone, refusing adapters that do not fit.

peft loads an adapter whose tensor names do not match the model's modules with a warning at
most, leaving the LoRA deltas at zero: the "fine-tuned" encoder would silently be the base
model. Adapters trained on a causal-LM wrapper (``DreamModel``, ``Qwen2ForCausalLM``: modules
under ``model.``) are common, while the encoder loads the bare body; their names are mapped
here, and every tensor of the adapter file is checked to have arrived in the model.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from encoders.errors import EncoderError

_PREFIX = "base_model.model."
# LLaDA module names (as LoRA target_modules) -> LlamaModel's.
_LLADA_TARGETS = {"attn_out": "o_proj", "ff_proj": "gate_proj", "ff_out": "down_proj"}
# Renamed adapter tensors that belong to an LM head: an encoder has none, so they are dropped.
_HEAD_PREFIXES = ("unused_lm_head.", "lm_head.")


def _module_path(key: str) -> str | None:
    """``base_model.model.layers.0.mlp.up_proj.lora_A.weight`` -> ``layers.0.mlp.up_proj``."""
    if ".lora_" not in key:
        return None
    return key.removeprefix(_PREFIX).split(".lora_", 1)[0]


def adapter_key_mapping(model: torch.nn.Module, saved: dict[str, torch.Tensor]) -> dict[str, str]:
    """Regexes for peft's ``key_mapping`` that fit the adapter's names to ``model``'s modules.

    Args:
        model: The backbone the adapter goes into.
        saved: The adapter's tensors, as stored (``base_model.model.`` prefixed names).

    Returns:
        ``{}`` when the names already fit; ``{"^model\\.": ""}`` for an adapter saved from a
        wrapper whose body is ``.model``.
    """
    from encoders.backbone import LLADA_KEY_MAPPING

    modules = {name for name, _ in model.named_modules()}
    paths = {p for p in map(_module_path, saved) if p is not None}
    if not paths or paths <= modules:
        return {}
    if all(p.startswith("model.") and p.removeprefix("model.") in modules for p in paths):
        return {r"^model\.": ""}
    if _llada_named(saved):
        return dict(LLADA_KEY_MAPPING)
    return {}


def _llada_named(saved: dict[str, torch.Tensor]) -> bool:
    """Whether the adapter names LLaDA's own modules (``model.transformer.blocks...``)."""
    return any((p or "").startswith("model.transformer.") for p in map(_module_path, saved))


def _rename(key: str, mapping: dict[str, str]) -> str:
    import re

    body = key.removeprefix(_PREFIX)
    for pattern, replacement in mapping.items():
        body, n = re.subn(pattern, replacement, body)
        if n:
            break
    return _PREFIX + body if key.startswith(_PREFIX) else body


def _native_targets(adapter: Path) -> Any:
    """The adapter's peft config with LLaDA's target module names turned into Llama's.

    Raises:
        EncoderError: ``target_modules`` is a regex, which cannot be renamed reliably.
    """
    from peft import PeftConfig

    config: Any = PeftConfig.from_pretrained(str(adapter))
    targets = config.target_modules
    if isinstance(targets, str):
        raise EncoderError(
            f"{adapter}: target_modules is a pattern ({targets!r}); a LLaDA-named adapter needs "
            "a list of module names to be mapped onto the native Llama body"
        )
    config.target_modules = {_LLADA_TARGETS.get(t, t) for t in targets}
    return config


def merge_adapter(model: torch.nn.Module, adapter: Path) -> torch.nn.Module:
    """Load the LoRA adapter at ``adapter`` into ``model`` and merge it into the weights.

    Returns:
        The same kind of module as ``model``, with the LoRA deltas folded in.

    Raises:
        EncoderError: peft is missing, or the adapter does not fit the model (its target
            modules are absent, or some of its tensors would be left out).
    """
    try:
        from peft import PeftModel
        from peft.utils import get_peft_model_state_dict, load_peft_weights
    except ImportError as exc:
        raise EncoderError("a LoRA adapter needs peft: pip install 'diffsearch[lora]'") from exc

    saved: dict[str, torch.Tensor] = load_peft_weights(str(adapter), device="cpu")
    mapping = adapter_key_mapping(model, saved)
    config = _native_targets(adapter) if _llada_named(saved) else None
    try:
        with warnings.catch_warnings():  # left-out tensors are reported below, as an error
            warnings.filterwarnings("ignore", message="Found missing adapter keys")
            warnings.filterwarnings("ignore", message=".*unexpected.*keys", category=UserWarning)
            # peft calls a transformers API that transformers 5 deprecates: not ours to fix.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing")
            peft_model: Any = PeftModel.from_pretrained(
                model, str(adapter), key_mapping=mapping, config=config
            )
    except ValueError as exc:  # e.g. "Target modules {...} not found in the base model"
        raise EncoderError(f"{adapter}: this LoRA adapter does not fit the model: {exc}") from exc
    loaded = get_peft_model_state_dict(peft_model)
    left_out = []
    for key, tensor in saved.items():
        name = _rename(key, mapping)
        if name.removeprefix(_PREFIX).startswith(_HEAD_PREFIXES):
            continue  # LoRA on the LM head: not part of an encoder
        got = loaded.get(name)
        if got is None or got.shape != tensor.shape or not torch.equal(got.to(tensor), tensor):
            left_out.append(key)
    if left_out:
        raise EncoderError(
            f"{adapter}: {len(left_out)} of the adapter's {len(saved)} tensors do not fit the "
            f"model (e.g. {left_out[0]}); it was trained on another architecture or naming."
        )
    merged: torch.nn.Module = peft_model.merge_and_unload()
    return merged
