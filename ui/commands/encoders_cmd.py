"""``diffsearch encoders``: list the presets and whether their weights are here."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from ui.render import table


def register(sub: Any) -> None:
    p = sub.add_parser("encoders", help="list encoder presets and whether their weights are here")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def _size(gb: float) -> str:
    if not gb:
        return "?"
    return f"{gb * 1000:.0f} MB" if gb < 1 else f"{gb:.1f} GB"


def _extras(row: Any) -> str:
    extra = []
    if row.quantize:
        extra.append(f"--quantize {'/'.join(row.quantize)}")
    if row.late_chunking == "default":
        extra.append("late chunking by default")
    return f" ({'; '.join(extra)})" if extra else ""


def run(args: argparse.Namespace) -> int:
    from encoders import list_encoders

    rows = list_encoders()
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return 0
    print(
        table(
            [
                "name",
                "family",
                "attention",
                "pooling",
                "dim",
                "max tokens",
                "download",
                "weights",
                "model / note",
            ],
            [
                [
                    r.name,
                    r.family,
                    r.attention,
                    r.pooling,
                    r.dim if r.dims == str(r.dim) else f"{r.dim} ({r.dims})",
                    r.max_tokens,
                    _size(r.download_gb),
                    "here" if r.available else "missing",
                    f"{r.model_id} - {r.note}{_extras(r)}",
                ]
                for r in rows
            ],
            max_width=110,
        )
    )
    print(
        "\ndim (a-b): Matryoshka, --dim N in that range. download: size of the weights "
        "(parameters x bytes per parameter of the published checkpoint)."
        "\nMissing weights: pass --weights NAME=DIR or set DIFFSEARCH_WEIGHTS_<NAME> (see README)."
    )
    return 0
