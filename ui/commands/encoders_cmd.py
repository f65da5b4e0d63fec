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
                "weights",
                "model / note",
            ],
            [
                [
                    r.name,
                    r.family,
                    r.attention,
                    r.pooling,
                    r.dim,
                    r.max_tokens,
                    "here" if r.available else "missing",
                    f"{r.model_id} - {r.note}",
                ]
                for r in rows
            ],
            max_width=110,
        )
    )
    print(
        "\nMissing weights: pass --weights NAME=DIR or set DIFFSEARCH_WEIGHTS_<NAME> (see README)."
    )
    return 0
