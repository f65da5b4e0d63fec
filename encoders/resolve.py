"""From an :class:`~encoders.spec.EncoderSpec` to the preset it runs, without loading anything.

The one place where a spec's ``model`` is interpreted (a preset name or a model folder) and
where its overrides become a preset and an encoder name (``minilm+causal``). Nothing here
imports torch: the ingest planner, the web UI and a remote worker's scheduler can all name an
encoder from its spec without loading it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from encoders.errors import EncoderError, UnknownEncoderError
from encoders.naming import join_name
from encoders.presets import POOLINGS, PRESETS, QUANTIZATIONS, Preset
from encoders.spec import EncoderSpec
from encoders.trained import CARD_FILE, TrainedSetup, has_card, trained_setup
from encoders.vectors import VectorFormat, check_vector_format
from encoders.weights import adapter_env_var_for

# Overrides a spec may apply to its preset, in the order they are spelled in a name.
OVERRIDES = ("attention", "pooling", "max_tokens")
# pplx-embed's config.json model type (its own code; the weights fit transformers' Qwen3).
PPLX_MODEL_TYPE = "bidirectional_pplx_qwen3"

_ENCODER_MODEL_TYPES = {
    "bert",
    "roberta",
    "xlm-roberta",
    "distilbert",
    "mpnet",
    "electra",
    "modernbert",
}


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
    if model_type == PPLX_MODEL_TYPE:
        return "pplx"
    return "auto"


def preset_for_folder(path: Path, name: str | None = None, model_id: str | None = None) -> Preset:
    """An ad-hoc preset for a local model folder, from its config.json.

    Args:
        path: The folder read.
        name: The encoder's name (default: the folder's name).
        model_id: What ``EncoderInfo.model_id`` records (default: the folder's path).
    """
    raw = read_config(path)
    arch = detect_arch(raw)
    model_type = str(raw.get("model_type", "")).lower()
    extra: dict[str, Any] = {}
    if arch == "pplx":
        bidirectional = raw.get("use_bidirectional_attention", True) is not False
        family, pooling, eos = "diffusion", "mean", False
        attention = "bidirectional" if bidirectional else "causal"
        hidden = int(raw.get("hidden_size") or 0)
        extra = {"quantizations": QUANTIZATIONS, "pool_special_tokens": True}
        if hidden >= 128:
            extra["matryoshka"] = (128, hidden)
    elif arch in ("dream", "llada"):
        family, attention, pooling, eos = "diffusion", "bidirectional", "mean", False
    elif model_type in _ENCODER_MODEL_TYPES:
        family, attention, pooling, eos = "encoder", "bidirectional", "mean", False
    else:
        family, attention, pooling, eos = "ar", "causal", "last", True
    dim = int(raw.get("hidden_size") or raw.get("d_model") or 0)
    positions = int(raw.get("max_position_embeddings") or raw.get("max_sequence_length") or 512)
    return Preset(
        name=name or path.name,
        family=family,  # type: ignore[arg-type]
        hub_id=model_id or str(path),
        arch=arch,  # type: ignore[arg-type]
        attention=attention,  # type: ignore[arg-type]
        pooling=pooling,  # type: ignore[arg-type]
        dim=dim,
        max_tokens=min(positions, 8192),
        append_eos=eos,
        **{"pool_special_tokens": family == "encoder", **extra},
        description=f"local folder {path}",
    )


@dataclass(frozen=True)
class Resolved:
    """What a spec names, before anything is loaded.

    Attributes:
        spec: The canonical spec: overrides equal to the preset's own values dropped, so that
            ``EncoderSpec("minilm", attention="bidirectional")`` and ``EncoderSpec("minilm")``
            are one cache entry and one recorded identity.
        base: The preset (or the folder's ad-hoc preset) before overrides.
        preset: ``base`` with the overrides applied and its name suffixed (``minilm+causal``).
        folder: For a folder model, the folder to load from (``spec.weights`` when given);
            None for presets (their weights are looked up at load time) and trained encoders.
        trained: For a ``diffsearch train`` output folder given as the model or, under a new
            name, as ``adapter``: what the card says (``base`` is then the card's base preset
            under the trained encoder's name).
        vectors: Matryoshka truncation and quantization of the pooled vectors.
    """

    spec: EncoderSpec
    base: Preset
    preset: Preset
    folder: Path | None
    trained: TrainedSetup | None = None
    vectors: VectorFormat = field(default_factory=VectorFormat)

    @property
    def name(self) -> str:
        return self.preset.name


def resolve(spec: EncoderSpec) -> Resolved:
    """Interpret ``spec.model`` and apply the spec's overrides.

    Raises:
        UnknownEncoderError: Not a preset and not a model folder on this machine.
    """
    folder: Path | None = None
    trained: TrainedSetup | None = None
    if spec.model in PRESETS:
        base = PRESETS[spec.model]
    elif has_card(spec.model):  # a training output folder, loaded under the card's name
        trained = trained_setup(spec.model)
        base = trained.preset
    elif not Path(spec.model).expanduser().is_dir() and _named_adapter(spec) is not None:
        trained = trained_setup(_named_adapter(spec) or "", spec.model)
        base = trained.preset
        spec = spec.replace(adapter=str(trained.root))
    else:
        folder = Path(spec.weights or spec.model).expanduser()
        if not folder.is_dir():
            if Path(spec.model).is_absolute() or spec.weights:
                raise UnknownEncoderError(
                    f"model folder {folder} is not on this machine: pass the folder that holds "
                    f"it now with --weights {spec.base_name}=DIR (Python: weights='DIR')"
                )
            hint = (
                f" A trained encoder needs its folder: --adapter {spec.model}=DIR "
                "(Python: adapter='DIR')."
                if "@" in spec.model
                else ""
            )
            raise UnknownEncoderError(
                f"unknown encoder {spec.model!r}. Presets: {', '.join(PRESETS)}; "
                "or give the path of a local Hugging Face model folder." + hint
            )
        if not (folder / "config.json").is_file():
            raise UnknownEncoderError(
                f"{folder} has no config.json: not a Hugging Face model folder"
            )
        base = preset_for_folder(folder, name=spec.base_name, model_id=spec.model)
    requested = {k: getattr(spec, k) for k in OVERRIDES}
    changed = {k: v for k, v in requested.items() if v is not None and v != getattr(base, k)}
    noop = {k: None for k, v in requested.items() if v is not None and k not in changed}
    if base.matryoshka and spec.dim == base.matryoshka[1]:
        noop["dim"] = None  # the full vector is no truncation
    canonical = spec.replace(**noop) if noop else spec
    preset, vectors = _apply_settings(base, canonical, changed)
    return Resolved(canonical, base, preset, folder, trained=trained, vectors=vectors)


def _apply_settings(
    base: Preset, spec: EncoderSpec, changed: dict[str, Any]
) -> tuple[Preset, VectorFormat]:
    """``base`` with the spec's overrides, renamed by them; refuses what it cannot take.

    Raises:
        EncoderError: A setting this encoder cannot take; the message lists the allowed values.
    """
    pooling = changed.get("pooling", base.pooling)
    if pooling == "mask" and base.mask_slot is None:
        allowed = ", ".join(p for p in POOLINGS if p != "mask")
        raise EncoderError(
            f"encoder {base.name!r} cannot take pooling 'mask': it has no [MASK] retrieval "
            f"prompt (that is DiffRetriever's pooling). Allowed: {allowed}"
        )
    if spec.pool_template and pooling != "mean":
        raise EncoderError(
            f"pool_template averages the template tokens into a mean-pooled vector; encoder "
            f"{base.name!r} pools {pooling!r}. Allowed: pool_template with pooling 'mean' only"
        )
    vectors = check_vector_format(
        base.name, spec.dim, spec.quantize, base.matryoshka, base.quantizations
    )
    named = {**changed, "dim": vectors.dim, "quantize": vectors.quantize,
             "pool_template": spec.pool_template}  # fmt: skip
    name = join_name(base.name, named)
    if name == base.name and not changed:
        return base, vectors
    return dataclasses.replace(base, name=name, **changed), vectors


def _named_adapter(spec: EncoderSpec) -> str | None:
    """The training output folder that defines the new encoder ``spec.model``, if one is named.

    Raises:
        EncoderError: The folder named is not a ``diffsearch train`` output folder.
    """
    value = spec.adapter or os.environ.get(adapter_env_var_for(spec.model))
    if not value:
        return None
    if not has_card(value):
        raise EncoderError(
            f"{value} is not a `diffsearch train` output folder (no {CARD_FILE}), so it cannot "
            f"define a new encoder {spec.model!r}; a plain LoRA adapter goes with its preset "
            "(--adapter PRESET=DIR)"
        )
    return value


def encoder_name(spec: EncoderSpec) -> str:
    """The name an index keys this encoder's vectors by (``minilm``, ``minilm+causal``, ...)."""
    if spec.model == "bm25":  # encoders.bm25.BM25_NAME: sparse vectors, no preset
        return spec.model
    return resolve(spec).name
