"""Command-line options shared by several subcommands (store location, encoders)."""

from __future__ import annotations

import argparse
from typing import Any


def add_store_args(parser: argparse.ArgumentParser) -> None:
    """``--store DIR`` | ``--qdrant-url URL`` (+ ``--qdrant-api-key``), defaults from the env."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--store",
        metavar="DIR",
        help="embedded Qdrant folder (default: $DIFFSEARCH_STORE or the per-user data folder)",
    )
    group.add_argument(
        "--qdrant-url", metavar="URL", help="Qdrant server URL (default: $DIFFSEARCH_QDRANT_URL)"
    )
    parser.add_argument(
        "--qdrant-api-key",
        metavar="KEY",
        help="Qdrant API key (default: $DIFFSEARCH_QDRANT_API_KEY)",
    )


def _pair(value: str) -> tuple[str, str]:
    name, sep, path = value.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise argparse.ArgumentTypeError(
            f"expected NAME=DIR (e.g. dream=/models/dream), got {value!r}"
        )
    return name.strip(), path.strip()


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """``--weights NAME=DIR`` and ``--adapter NAME=DIR``: local weights for encoder presets."""
    parser.add_argument(
        "--weights",
        action="append",
        default=[],
        type=_pair,
        metavar="NAME=DIR",
        help="local weights folder for an encoder (a preset or an index's encoder name), "
        "repeatable; wins over DIFFSEARCH_WEIGHTS_<NAME> and over the folder an index recorded; "
        "e.g. --weights dream=/models/dream",
    )
    parser.add_argument(
        "--adapter",
        action="append",
        default=[],
        type=_pair,
        metavar="NAME=DIR",
        help="LoRA adapter folder for an encoder preset, or a `diffsearch train` output folder "
        "under a new name, repeatable (same as DIFFSEARCH_ADAPTER_<NAME>=DIR); e.g. "
        "--adapter diffembed=/models/lora, --adapter minilm@scifact=runs/minilm-scifact",
    )


def model_paths(args: argparse.Namespace) -> Any:
    """``--weights`` / ``--adapter`` as an ``encoders.ModelPaths``, for the specs a command builds.

    They go into the encoder specs (ingest, search, evaluation, the web UI), never into the
    environment: a worker process is handed the specs, with the folders in them.
    """
    import os

    from encoders.spec import ModelPaths

    def absolute(pairs: list[tuple[str, str]]) -> dict[str, str]:
        return {name: os.path.abspath(os.path.expanduser(path)) for name, path in pairs}

    return ModelPaths(
        weights=absolute(getattr(args, "weights", None) or []),
        adapters=absolute(getattr(args, "adapter", None) or []),
    )


def open_store_from_args(args: argparse.Namespace) -> Any:
    """Open the store the flags (or environment) point at."""
    from search.store import open_store

    return open_store(path=args.store, url=args.qdrant_url, api_key=args.qdrant_api_key)
