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
        help="local weights folder for an encoder preset, repeatable "
        "(same as DIFFSEARCH_WEIGHTS_<NAME>=DIR); e.g. --weights dream=/models/dream",
    )
    parser.add_argument(
        "--adapter",
        action="append",
        default=[],
        type=_pair,
        metavar="NAME=DIR",
        help="LoRA adapter folder for an encoder preset, repeatable "
        "(same as DIFFSEARCH_ADAPTER_<NAME>=DIR); e.g. --adapter diffembed=/models/lora",
    )


def apply_model_args(args: argparse.Namespace) -> None:
    """Make ``--weights`` / ``--adapter`` visible to every encoder load in this process.

    They are set as the environment variables the weights lookup already reads, so ingest,
    search, evaluation and the web UI all find the same folders.
    """
    import os

    from encoders.weights import adapter_env_var_for, env_var_for

    for name, path in getattr(args, "weights", None) or []:
        os.environ[env_var_for(name)] = os.path.abspath(os.path.expanduser(path))
    for name, path in getattr(args, "adapter", None) or []:
        os.environ[adapter_env_var_for(name)] = os.path.abspath(os.path.expanduser(path))


def open_store_from_args(args: argparse.Namespace) -> Any:
    """Open the store the flags (or environment) point at (after applying model flags)."""
    from search.store import open_store

    apply_model_args(args)

    return open_store(path=args.store, url=args.qdrant_url, api_key=args.qdrant_api_key)
