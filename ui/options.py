"""Command-line options shared by several subcommands (store location, encoders)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
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


def add_vector_args(parser: argparse.ArgumentParser) -> None:
    """``--dim N``, ``--quantize int8|binary``, ``--pool-template``: settings of every ``-e``.

    They rename each ``-e`` to the encoder that carries them (``pplx-embed-0.6b+dim256+int8``),
    which is also the per-encoder form (``-e pplx-embed-0.6b+dim256 -e qwen3-embedding``).
    """
    from encoders.presets import QUANTIZATIONS

    group = parser.add_argument_group(
        "vector settings, for models trained for them (per encoder: -e NAME+dimN+int8)"
    )
    group.add_argument(
        "--dim",
        type=int,
        metavar="N",
        help="Matryoshka: keep the first N dimensions (pplx-embed-*: 128 up, qwen3-embedding*: "
        "32 up, to their size)",
    )
    group.add_argument(
        "--quantize",
        choices=QUANTIZATIONS,
        help="quantized vectors as pplx-embed-* were trained for: int8 = round(tanh(x)*127), "
        "binary = sign",
    )
    group.add_argument(
        "--pool-template",
        action="store_true",
        help="mean pooling also averages template and instruction tokens (DiffEmbed's own "
        "training code does; use it for adapters trained with that code)",
    )


def apply_vector_args(args: argparse.Namespace) -> None:
    """Rewrite ``args.encoders`` / ``args.encoder`` into names that carry the vector flags."""
    from encoders.naming import canonical_name

    settings = {
        "dim": getattr(args, "dim", None),
        "quantize": getattr(args, "quantize", None),
        "pool_template": getattr(args, "pool_template", False),
    }
    if not any(v for v in settings.values()):
        return
    if getattr(args, "encoders", None):
        args.encoders = [canonical_name(name, **settings) for name in args.encoders]
    if isinstance(getattr(args, "encoder", None), str):
        args.encoder = canonical_name(args.encoder, **settings)


def add_cluster_args(parser: argparse.ArgumentParser) -> None:
    """``--shards``, ``--replicas``, ``--write-consistency``: a new index on a Qdrant cluster."""
    group = parser.add_argument_group("a new index on a Qdrant server or cluster (--qdrant-url)")
    group.add_argument("--shards", type=int, metavar="N",
                       help="shards per collection, spread over the cluster's nodes (default 1)")  # fmt: skip
    group.add_argument("--replicas", type=int, metavar="N",
                       help="copies of each shard on different nodes (default 1)")  # fmt: skip
    group.add_argument("--write-consistency", type=int, metavar="N",
                       help="replicas that must confirm each write (default 1, at most --replicas)")  # fmt: skip


def open_store_from_args(args: argparse.Namespace) -> Any:
    """Open the store the flags (or environment) point at."""
    from search.engines.base import ClusterLayout
    from search.store import open_store

    layout = ClusterLayout(getattr(args, "shards", None), getattr(args, "replicas", None),
                           getattr(args, "write_consistency", None))  # fmt: skip
    return open_store(
        path=args.store, url=args.qdrant_url, api_key=args.qdrant_api_key, layout=layout
    )


def add_ray_args(parser: argparse.ArgumentParser) -> None:
    """``--ray [ADDRESS]`` and ``--ray-cpus-per-replica N``: parse and embed on a Ray cluster."""
    parser.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="parse and embed on a Ray cluster (pip install 'diffsearch[ray]'): 'auto' (the "
        "default) joins the running one, 'local' starts one in this process, or a head's "
        "HOST:PORT / ray://HOST:PORT; one encoder replica per GPU (or per "
        "--ray-cpus-per-replica CPUs); this process still writes the index",
    )
    parser.add_argument(
        "--ray-cpus-per-replica",
        type=float,
        metavar="N",
        help="with --ray on CPUs: CPUs per encoder replica (default 2)",
    )


@contextlib.contextmanager
def ray_stages(args: argparse.Namespace, parse: bool = True) -> Iterator[tuple[Any, Any]]:
    """``(embedder factory, parser)`` on the cluster ``--ray`` names, or ``(None, None)``.

    Connected for the duration of the block (a ``local`` cluster stops at its end).
    """
    address, per = getattr(args, "ray", None), getattr(args, "ray_cpus_per_replica", None)
    from ingest.errors import IngestError

    if address is None:
        if per is not None:
            raise IngestError("--ray-cpus-per-replica goes with --ray")
        yield None, None
        return
    from ingest.distributed import RayParser, ray_embedder, ray_session

    if per is not None and per <= 0:
        raise IngestError("--ray-cpus-per-replica must be more than 0")
    with ray_session(address):
        yield ray_embedder(per), RayParser() if parse else None
