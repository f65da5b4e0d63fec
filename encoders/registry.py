"""``load_encoder`` and ``list_encoders``: presets or local folders, loaded once per process."""

from __future__ import annotations

import dataclasses
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from encoders.errors import EncoderError, UnknownEncoderError
from encoders.presets import ATTENTIONS, LONG_POLICIES, POOLINGS, PRESETS, Preset
from encoders.weights import adapter_env_var_for, find_adapter, find_weights, require_weights

if TYPE_CHECKING:
    from encoders.model import TransformerEncoder

_ENCODER_MODEL_TYPES = {
    "bert",
    "roberta",
    "xlm-roberta",
    "distilbert",
    "mpnet",
    "electra",
    "modernbert",
}
# Padded tokens per forward pass on the CPU. Small batches keep activations in cache: for
# MiniLM on SciFact, 4096 used 15-25% less CPU time than 16384 (benchmarks/encode.py).
CPU_BATCH_TOKENS = 4096
_CACHE: dict[tuple[Any, ...], TransformerEncoder] = {}
_CACHE_LOCK = threading.Lock()


@dataclass(frozen=True)
class EncoderListing:
    """A row of ``diffsearch encoders``."""

    name: str
    family: str
    attention: str
    pooling: str
    dim: int
    max_tokens: int
    model_id: str
    available: bool
    note: str


def list_encoders() -> list[EncoderListing]:
    """Every preset, with whether its weights are on this machine (nothing is loaded)."""
    rows = []
    for p in PRESETS.values():
        note = f"ablation: {p.ablation}" if p.ablation else p.description
        if p.needs_adapter:
            note += f"; needs --adapter or ${adapter_env_var_for(p.name)}"
        rows.append(
            EncoderListing(
                name=p.name,
                family=p.family,
                attention=p.attention,
                pooling=p.pooling,
                dim=p.dim,
                max_tokens=p.max_tokens,
                model_id=p.hub_id,
                available=find_weights(p) is not None,
                note=note,
            )
        )
    return rows


def _preset_for_folder(path: Path) -> Preset:
    """An ad-hoc preset for a local model folder, from its config.json."""
    from encoders.backbone import detect_arch, read_config

    raw = read_config(path)
    arch = detect_arch(raw)
    model_type = str(raw.get("model_type", "")).lower()
    if arch in ("dream", "llada"):
        family, attention, pooling, eos = "diffusion", "bidirectional", "mean", False
    elif model_type in _ENCODER_MODEL_TYPES:
        family, attention, pooling, eos = "encoder", "bidirectional", "mean", False
    else:
        family, attention, pooling, eos = "ar", "causal", "last", True
    dim = int(raw.get("hidden_size") or raw.get("d_model") or 0)
    positions = int(raw.get("max_position_embeddings") or raw.get("max_sequence_length") or 512)
    return Preset(
        name=path.name,
        family=family,  # type: ignore[arg-type]
        hub_id=str(path),
        arch=arch,  # type: ignore[arg-type]
        attention=attention,  # type: ignore[arg-type]
        pooling=pooling,  # type: ignore[arg-type]
        dim=dim,
        max_tokens=min(positions, 8192),
        append_eos=eos,
        pool_special_tokens=family == "encoder",
        description=f"local folder {path}",
    )


# The config.json model types each preset architecture accepts ("auto" accepts anything).
_ARCH_MODEL_TYPES: dict[str, tuple[str, ...]] = {
    "bert": ("bert",),
    "qwen2": ("qwen2",),
    "mistral": ("mistral",),
    "llama": ("llama",),
    "dream": ("dream",),
    "llada": ("llada",),
}


def _check_model_type(preset: Preset, path: Path) -> None:
    """Refuse a weights folder whose architecture is not the preset's (a wrong ``--weights``).

    Raises:
        EncoderError: ``config.json``'s ``model_type`` does not fit ``preset.arch``.
    """
    from encoders.backbone import read_config

    accepted = _ARCH_MODEL_TYPES.get(preset.arch)
    model_type = str(read_config(path).get("model_type", "")).lower()
    if accepted and model_type not in accepted:
        raise EncoderError(
            f"{path} holds a {model_type or 'unknown'!r} model, but encoder {preset.name!r} "
            f"needs {' or '.join(repr(a) for a in accepted)} weights ({preset.hub_id}): "
            "wrong weights folder?"
        )


def _check_choice(what: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise EncoderError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")


def _snapshot_revision(path: Path, fallback: str) -> str:
    # The HF cache stores snapshots under .../snapshots/<commit>; record it when we can.
    return path.name if path.parent.name == "snapshots" else fallback


def load_encoder(
    name_or_path: str,
    *,
    attention: str | None = None,
    pooling: str | None = None,
    max_tokens: int | None = None,
    long_policy: str = "truncate",
    weights: str | os.PathLike[str] | None = None,
    adapter: str | os.PathLike[str] | None = None,
    device: str | None = None,
    dtype: str | None = None,
    batch_tokens: int | None = None,
    trust_remote_code: bool = False,
) -> TransformerEncoder:
    """Load a preset or a local Hugging Face folder as an encoder (cached per process).

    Args:
        name_or_path: A preset name (see :func:`list_encoders`) or a local model folder.
        attention: Override the preset's ``bidirectional`` / ``causal`` attention.
        pooling: Override the pooling: ``mean``, ``last`` or ``cls``.
        max_tokens: Override the longest model input.
        long_policy: ``truncate`` (keep the first tokens) or ``windows`` (average overlapping
            windows) for texts longer than ``max_tokens``.
        weights: Local folder with the preset's weights (else see ``encoders.weights``).
        adapter: LoRA adapter folder (required by ``diffembed``).
        device: ``cpu``, ``cuda``, ... (default: ``DIFFSEARCH_DEVICE``, else CUDA if present).
        dtype: ``float32``, ``bfloat16``, ... (default: bf16 on CUDA, fp32 on CPU).
        batch_tokens: Padded tokens per forward pass (default: ``DIFFSEARCH_BATCH_TOKENS``,
            else 4096 on CPU, 65536 on CUDA).
        trust_remote_code: Allow a folder's own modelling code (off unless asked for).

    Raises:
        UnknownEncoderError: Not a preset and not a folder.
        WeightsNotFoundError: The weights are not on this machine.
        EncoderError: An invalid option.
    """
    _check_choice("attention", attention, ATTENTIONS)
    _check_choice("pooling", pooling, POOLINGS)
    _check_choice("long_policy", long_policy, LONG_POLICIES)
    if max_tokens is not None and max_tokens < 8:
        raise EncoderError("max_tokens must be at least 8")
    # Paths as strings so that str and Path spellings of one folder share a cache entry.
    key = (
        name_or_path, attention, pooling, max_tokens, long_policy,
        None if weights is None else str(weights), None if adapter is None else str(adapter),
        device, dtype, batch_tokens, trust_remote_code,
    )  # fmt: skip
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = _load(key)
        return _CACHE[key]


def clear_cache() -> None:
    """Forget loaded encoders (frees their memory once nothing else holds them)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _load(key: tuple[Any, ...]) -> TransformerEncoder:
    (name, attention, pooling, max_tokens, long_policy, weights, adapter, device, dtype,
     batch_tokens, trust_remote_code) = key  # fmt: skip
    if name in PRESETS:
        preset = PRESETS[name]
        path = require_weights(preset, weights)
    elif Path(name).expanduser().is_dir():
        path = Path(name).expanduser().resolve()
        if not (path / "config.json").is_file():
            raise UnknownEncoderError(f"{path} has no config.json: not a Hugging Face model folder")
        preset = _preset_for_folder(path)
    else:
        raise UnknownEncoderError(
            f"unknown encoder {name!r}. Presets: {', '.join(PRESETS)}; "
            "or give the path of a local Hugging Face model folder."
        )
    adapter_path = find_adapter(preset, adapter)
    if preset.needs_adapter and adapter_path is None:
        raise EncoderError(
            f"encoder {preset.name!r} needs its LoRA adapter: pass --adapter {preset.name}=DIR "
            f"(Python: adapter='DIR') or set {adapter_env_var_for(preset.name)}=DIR. "
            "Use the 'dream' preset for the zero-shot backbone."
        )
    overrides = {"attention": attention, "pooling": pooling, "max_tokens": max_tokens}
    changed = {k: v for k, v in overrides.items() if v is not None and v != getattr(preset, k)}
    if changed:
        suffix = "".join(f"+{v}" for v in changed.values())
        preset = dataclasses.replace(preset, name=preset.name + suffix, **changed)
    return _build(
        preset, path, adapter_path, long_policy, device, dtype, batch_tokens, trust_remote_code
    )


def _fuse_on_cpu(backbone: Any, tokenizer: Any) -> None:
    """Use the fused oneDNN linear layers on the CPU (see ``encoders.fastpath``)."""
    import torch

    from encoders.fastpath import fuse_cpu_linears

    ids = tokenizer("The quick brown fox jumps over the lazy dog.")["input_ids"]
    fuse_cpu_linears(backbone, torch.tensor([ids], dtype=torch.int64))


def _build(
    preset: Preset,
    path: Path,
    adapter: Path | None,
    long_policy: str,
    device: str | None,
    dtype: str | None,
    batch_tokens: int | None,
    trust_remote_code: bool,
) -> TransformerEncoder:
    from encoders.backbone import load_backbone
    from encoders.inputs import SequenceBuilder
    from encoders.model import TransformerEncoder, default_device, load_tokenizer, resolve_dtype

    _check_model_type(preset, path)
    dev = device or default_device()
    torch_dtype = resolve_dtype(preset.dtype, dev, dtype)
    tokenizer = load_tokenizer(path, preset.padding_side, trust_remote_code)
    backbone = load_backbone(
        path,
        preset.arch,
        causal=preset.attention == "causal",
        dtype=torch_dtype,
        device=dev,
        adapter=adapter,
        trust_remote_code=trust_remote_code,
    )
    _fuse_on_cpu(backbone, tokenizer)
    hidden = int(getattr(backbone.config, "hidden_size", 0))
    if preset.dim and hidden and hidden != preset.dim and preset.hub_id != str(path):
        # Same architecture, other size (a smaller sibling, a test model): usable, but say so,
        # because indexes record the dimension.
        warnings.warn(
            f"{path} has hidden size {hidden}; preset {preset.name!r} describes {preset.dim}. "
            f"Vectors will have {hidden} dimensions.",
            stacklevel=4,
        )
    positions = getattr(backbone.config, "max_position_embeddings", None)
    limit = min(preset.max_tokens, int(positions)) if positions else preset.max_tokens
    builder = SequenceBuilder(
        tokenizer,
        query_template=preset.query_template,
        doc_template=preset.doc_template,
        instruction_format=preset.instruction_format,
        max_tokens=limit,
        append_eos=preset.append_eos,
        pool_special_tokens=preset.pool_special_tokens,
        long_policy=long_policy,
    )
    env_budget = os.environ.get("DIFFSEARCH_BATCH_TOKENS")
    budget = batch_tokens or (
        int(env_budget) if env_budget else (65536 if dev.startswith("cuda") else CPU_BATCH_TOKENS)
    )
    return TransformerEncoder(
        name=preset.name,
        family=preset.family,
        model_id=preset.hub_id,
        revision=_snapshot_revision(path, preset.revision),
        tokenizer=tokenizer,
        backbone=backbone,
        builder=builder,
        attention=preset.attention,
        pooling=preset.pooling,
        explicit_mask=preset.arch == "bert"
        or (preset.arch == "auto" and preset.family == "encoder"),
        default_instruction=preset.default_instruction,
        padding_side=preset.padding_side,
        batch_tokens=budget,
    )
