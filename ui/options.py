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
        "--qdrant-api-key", metavar="KEY", help="Qdrant API key (default: $DIFFSEARCH_QDRANT_API_KEY)"
    )


def open_store_from_args(args: argparse.Namespace) -> Any:
    """Open the store the flags (or environment) point at."""
    from search.store import open_store

    return open_store(path=args.store, url=args.qdrant_url, api_key=args.qdrant_api_key)
