"""Encoders trained by ``diffsearch train``: an output folder with a training card, as an encoder.

A training output folder holds either a peft LoRA adapter (``adapter_config.json`` +
``adapter_model.safetensors``) or, after full fine-tuning, a model folder ``model/``, and always
a training card (``training_card.json``) that says which encoder it was trained from: the base
preset (or folder), its weights' fingerprint, attention, pooling and input limits. This module
turns such a folder into the preset, weights and adapter that ``load_encoder`` builds, and refuses
a base that does not match the card. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoders.errors import EncoderError
from encoders.presets import PRESETS, Preset

CARD_FILE = "training_card.json"
CARD_FORMAT = "diffsearch-training-card/1"
FULL_MODEL_DIR = "model"
_ADAPTER_FILES = ("adapter_model.safetensors", "adapter_model.bin")


@dataclass(frozen=True)
class TrainedSetup:
    """What ``load_encoder`` needs to build a trained encoder.

    Attributes:
        preset: The base preset under the trained encoder's name, with the card's attention,
            pooling and input limit.
        base: The base encoder's name as training loaded it (a preset or a folder).
        weights: Folder of the weights to load: the base weights (LoRA) or the fine-tuned model.
        adapter: The LoRA adapter folder, or None after full fine-tuning.
        adapter_id: Short hash of the trained weights; indexes record it.
        root: The training output folder (it holds the card).
    """

    preset: Preset
    base: str
    weights: Path | None
    adapter: Path | None
    adapter_id: str
    root: Path


def has_card(folder: str | Path) -> bool:
    """True when ``folder`` is a training output folder (it holds a training card)."""
    return (Path(folder).expanduser() / CARD_FILE).is_file()


def read_card(folder: str | Path) -> dict[str, Any]:
    """The training card of ``folder``.

    Raises:
        EncoderError: No card, or not a card this version reads.
    """
    path = Path(folder).expanduser() / CARD_FILE
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EncoderError(f"{path}: cannot read the training card ({exc})") from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise EncoderError(f"{path}: not a diffsearch training card ({CARD_FORMAT})")
    if card.get("status") != "done":
        raise EncoderError(
            f"{path.parent}: training has not finished (status {card.get('status')!r}); "
            "rerun the same `diffsearch train` command to complete it"
        )
    return card


def weights_fingerprint(folder: str | Path) -> str:
    """12 hex digits identifying a model folder without reading all of its weights.

    Hashes ``config.json`` and, for every weight file, its name, size and first MiB (the
    safetensors header with every tensor's name, dtype and shape, and the first values).
    """
    root = Path(folder)
    h = hashlib.sha256()
    config = root / "config.json"
    if config.is_file():
        h.update(config.read_bytes())
    for path in sorted(root.iterdir()):
        if path.suffix in (".safetensors", ".bin") and path.is_file():
            h.update(f"{path.name}\0{path.stat().st_size}\0".encode())
            with path.open("rb") as fh:
                h.update(fh.read(1 << 20))
    return h.hexdigest()[:12]


def file_hash(path: Path) -> str:
    """12 hex digits of SHA-256 over a whole file."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()[:12]


def adapter_id(adapter: Path) -> str:
    """Short hash of a LoRA adapter folder's weights ("" when it has no weight file)."""
    for name in _ADAPTER_FILES:
        if (adapter / name).is_file():
            return file_hash(adapter / name)
    return ""


def _describe(base: str, model_id: str, attention: str, pooling: str) -> str:
    return f"{base!r} ({model_id}, {attention} attention, {pooling} pooling)"


def check_base(card: dict[str, Any], preset: Preset, folder: Path) -> None:
    """Refuse to put a trained folder on a preset other than the one it was trained from.

    The model, architecture, attention and pooling of ``preset`` must be the card's base's:
    ``diffembed`` takes an adapter trained on ``dream``, but ``minilm`` refuses one trained on
    ``minilm-causal``.

    Raises:
        EncoderError: Naming the card's base and the encoder asked for.
    """
    base = card["base"]
    theirs = (base["model_id"], base["arch"], base["attention"], base["pooling"])
    ours = (preset.hub_id, preset.arch, preset.attention, preset.pooling)
    if theirs != ours:
        raise EncoderError(
            f"{folder} was trained on "
            f"{_describe(base['encoder'], base['model_id'], base['attention'], base['pooling'])}, "
            f"not on {_describe(preset.name, preset.hub_id, preset.attention, preset.pooling)}: "
            f"load it under its own name (e.g. --adapter {card.get('name', 'NAME@data')}={folder})"
        )


def check_weights(card: dict[str, Any], weights: Path, folder: Path) -> None:
    """Refuse base weights other than the ones the adapter was trained on.

    Raises:
        EncoderError: The fingerprints differ; the message names both folders.
    """
    base = card["base"]
    want = base.get("fingerprint")
    got = weights_fingerprint(weights)
    if want and got != want:
        raise EncoderError(
            f"{folder} was trained on {base['encoder']!r} with the weights at {base.get('weights')} "
            f"(fingerprint {want}), but the weights found for it are {weights} (fingerprint "
            f"{got}): another model or revision. Point --weights {base['encoder']}=DIR at the "
            "weights it was trained on."
        )


def base_preset(card: dict[str, Any]) -> Preset:
    """The preset the card's base encoder came from (a preset, or a folder's ad-hoc preset)."""
    base = card["base"]
    name = str(base["preset"])
    if name in PRESETS:
        return PRESETS[name]
    from encoders.resolve import preset_for_folder

    path = Path(name)
    if not (path / "config.json").is_file():
        raise EncoderError(
            f"the training card names base model folder {path}, which is not there any more"
        )
    return preset_for_folder(path)


def trained_setup(folder: str | Path, name: str | None = None) -> TrainedSetup:
    """The preset, weights and adapter of the training output ``folder``, named ``name``.

    Args:
        folder: A ``diffsearch train`` output folder.
        name: The encoder's name (default: the name recorded in the card, e.g.
            ``minilm@scifact``).

    Raises:
        EncoderError: No finished card, or its files are missing.
    """
    root = Path(folder).expanduser().resolve()
    card = read_card(root)
    base = card["base"]
    preset = dataclasses.replace(
        base_preset(card),
        name=name or str(card["name"]),
        attention=base["attention"],
        pooling=base["pooling"],
        max_tokens=int(base["max_tokens"]),
        needs_adapter=False,
        ablation="",
        description=f"{base['encoder']} fine-tuned by diffsearch train ({root})",
    )
    if card.get("method") == "full":
        model = root / FULL_MODEL_DIR
        if not (model / "config.json").is_file():
            raise EncoderError(f"{root}: the fine-tuned model folder {model} is missing")
        # Dream and LLaDA train as native Qwen2 / Llama bodies and are saved in that format.
        native = {"dream": "qwen2", "llada": "llama"}.get(preset.arch, preset.arch)
        preset = dataclasses.replace(preset, arch=native)  # type: ignore[arg-type]
        ident = weights_fingerprint(model)
        return TrainedSetup(preset, str(base["encoder"]), model, None, ident, root)
    ident = adapter_id(root)
    if not ident or not (root / "adapter_config.json").is_file():
        raise EncoderError(f"{root}: the LoRA adapter files are missing")
    return TrainedSetup(preset, str(base["encoder"]), None, root, ident, root)
