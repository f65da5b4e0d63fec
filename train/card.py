"""The training card: what was trained from what, how, on which data, and how well.

``training_card.json`` is what ``load_encoder`` reads to rebuild the encoder (see
``encoders.trained``); ``README.md`` says the same for people.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from encoders.trained import CARD_FILE, CARD_FORMAT


def versions() -> dict[str, str]:
    """Versions of the libraries that shape the trained weights."""
    import importlib.metadata as md

    out = {}
    for pkg in ("torch", "transformers", "peft", "diffsearch"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            continue
    return out


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically (a kill leaves the old file or the new one)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_raw(folder: Path) -> dict[str, Any] | None:
    """The card in ``folder`` whatever its status, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == CARD_FORMAT else None


def make_card(*, status: str, **fields: Any) -> dict[str, Any]:
    """A card: the format tag, the status (``running`` or ``done``), the time, ``fields``."""
    return {
        "format": CARD_FORMAT,
        "status": status,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **fields,
    }


def _score(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def readme(card: dict[str, Any]) -> str:
    """The card as Markdown."""
    base, recipe, data = card["base"], card["recipe"], card["data"]
    dev = card.get("dev") or {}
    lines = [
        f"# {card['name']}",
        "",
        f"Trained by `diffsearch train` from `{base['encoder']}` ({base['model_id']}, revision "
        f"{base['revision']}; {base['attention']} attention, {base['pooling']} pooling, "
        f"{base['max_tokens']} tokens).",
        "",
        "Load it on any command with `--adapter "
        f"{card['name']}={card.get('out', 'DIR')}` and `-e {card['name']}`, or in Python with "
        f"`load_encoder({card['name']!r}, adapter=DIR)`.",
        "",
        "## Recipe",
        "",
        "| setting | value |",
        "|---|---|",
    ]
    if card["method"] == "lora":
        lora = card["lora"]
        lines.append(
            f"| method | LoRA r={lora['r']}, alpha {lora['alpha']}, dropout {lora['dropout']} on "
            f"{', '.join(lora['target_modules'])} |"
        )
    else:
        lines.append("| method | full fine-tuning |")
    for key in ("temperature", "hard_negatives", "lr", "warmup_ratio", "warmup_steps", "epochs",
                "batch_size", "max_tokens", "weight_decay", "seed", "gradient_checkpointing",
                "bf16"):  # fmt: skip
        lines.append(f"| {key} | {recipe.get(key)} |")
    neg = card.get("negatives") or {}
    lines += [
        f"| negatives | in-batch + {recipe['hard_negatives']} mined by `{neg.get('encoder')}` "
        f"(depth {neg.get('depth')}, skip {neg.get('skip')}) |",
        "",
        "## Data",
        "",
        f"{data['kind']} `{data['path']}`"
        + (f", split `{data['split']}`" if data.get("split") else "")
        + f"; {data['examples']} training pairs from {data['train_queries']} queries; dev: "
        f"{data['dev']} ({data['dev_queries']} queries); hash `{data['hash']}`.",
        "",
        "## Training",
        "",
        f"{card['steps']} steps, {card.get('train_seconds', 0):.0f} s of training, "
        f"{card.get('tokens_per_second', 0):.0f} tokens/s.",
        "",
    ]
    if dev:
        lines += [
            f"Dev {dev['metric']}: {dev.get('set', '')}",
            "",
            "| when | " + dev["metric"] + " | mean loss |",
            "|---|---|---|",
            f"| before training | {_score(dev.get('before'))} | |",
        ]
        for row in dev.get("epochs", []):
            lines.append(
                f"| after epoch {row['epoch']} | {_score(row['score'])} | {row['loss']:.4f} |"
            )
        lines += [
            f"| kept: epoch {dev.get('best_epoch')}, reloaded from this folder | "
            f"{_score(dev.get('end'))} | |",
            "",
        ]
    return "\n".join(lines)
