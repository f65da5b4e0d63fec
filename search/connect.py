"""Opening an engine: an embedded folder (Edge, or an older qdrant-client local store) or a server.

Resolution: flags, then ``DIFFSEARCH_QDRANT_URL`` (with ``DIFFSEARCH_QDRANT_API_KEY``), then
``DIFFSEARCH_STORE``, then the per-user folder. A folder is detected: ``DIR/edge/store.json``
makes it an Edge store; qdrant-client's ``meta.json`` or ``collection/`` (a store written before
Edge, and not yet migrated) makes it a local-mode store, read and written as before; anything
else (a new or empty folder) becomes an Edge store.
"""

from __future__ import annotations

import os
from pathlib import Path

from search.engines.base import ClusterLayout, Engine
from search.engines.errors import locked_error, translate
from search.errors import StoreError, StoreUnreachableError
from search.layout import default_store_dir
from search.records import ENGINES


def detect_engine(path: Path) -> str:
    """``"edge"`` or ``"qdrant-local"``: which engine the store folder ``path`` is (or becomes)."""
    from search.engines.edge import is_edge_store

    if is_edge_store(path):
        return "edge"
    if (path / "meta.json").is_file() or (path / "collection").is_dir():
        return "qdrant-local"
    return "edge"


def connect(
    path: str | Path | None = None,
    url: str | None = None,
    api_key: str | None = None,
    engine: str | None = None,
    layout: ClusterLayout | None = None,
) -> Engine:
    """The engine for the store folder ``path`` or the Qdrant server at ``url``.

    Args:
        engine: Force ``"edge"`` or ``"qdrant-local"`` for a folder (default: detected, see the
            module doc); ``"server"`` is implied by a URL.
        layout: Shards / replicas / write consistency for the collections created: a server
            only (an embedded store is one shard on one machine, and says so).

    Raises:
        StoreLockedError: Another process holds the embedded folder.
        StoreUnreachableError: No server answered at the URL.
        StoreError: Both a path and a URL were given, an unknown engine, or an unusable folder.
    """
    if path is not None and url is not None:
        raise StoreError(
            "give either a store folder (--store) or a server URL (--qdrant-url), not both"
        )
    if engine is not None and engine not in ENGINES:
        raise StoreError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    source = "--qdrant-url"
    if path is None and url is None:
        url = os.environ.get("DIFFSEARCH_QDRANT_URL") or None
        source = "DIFFSEARCH_QDRANT_URL"
        if url is None:
            path = os.environ.get("DIFFSEARCH_STORE") or default_store_dir()
    layout = layout or ClusterLayout()
    if not layout.is_default():
        if url is None:
            raise StoreError(
                "--shards, --replicas and --write-consistency lay out collections on a Qdrant "
                "server (--qdrant-url); the embedded store is one shard on this machine: leave "
                "them out, or see README 'When one machine is not enough'"
            )
        if layout.problem():
            raise StoreError(str(layout.problem()))
    if url is not None:
        return _open_server(
            url, api_key or os.environ.get("DIFFSEARCH_QDRANT_API_KEY") or None, source, layout
        )
    folder = Path(str(path)).expanduser()
    if engine == "server":
        raise StoreError("the server engine needs --qdrant-url, not a store folder")
    if (engine or detect_engine(folder)) == "edge":
        return open_edge(folder)
    return open_local(folder)


def open_edge(folder: Path) -> Engine:
    from search.engines.edge import EdgeEngine, edge_root

    return EdgeEngine(edge_root(folder), f"embedded store at {folder}")


def open_local(folder: Path) -> Engine:
    from qdrant_client import QdrantClient

    from search.engines.qdrant import QdrantEngine

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the store folder {folder}: {exc.strerror}") from None
    try:
        client = QdrantClient(path=str(folder))
    except RuntimeError as exc:
        if "already accessed" not in str(exc):
            raise
        raise locked_error(folder) from None
    except OSError as exc:  # e.g. a full disk (ENOSPC)
        raise translate(exc, f"embedded store at {folder}", "opening the store") from None
    return QdrantEngine(client, f"embedded store at {folder}", local=True)


def _open_server(url: str, api_key: str | None, source: str, layout: ClusterLayout) -> Engine:
    import warnings

    from qdrant_client import QdrantClient

    from search.engines.qdrant import QdrantEngine

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Api key is used with an insecure connection"
            # The library's own version check runs in a thread and warns late when the server
            # is down; reachability is checked here and the version after it.
            client = QdrantClient(url=url, api_key=api_key, timeout=30, check_compatibility=False)
        client.get_collections()
    except Exception as exc:
        raise StoreUnreachableError(
            f"no Qdrant server answered at {url} (from {source}): {type(exc).__name__}: {exc}. "
            "Start one with `docker compose up -d qdrant`, check the URL and API key "
            "(DIFFSEARCH_QDRANT_API_KEY), or leave the URL out to use the embedded store"
        ) from None
    _warn_if_incompatible(client, url)
    return QdrantEngine(client, f"Qdrant server at {url}", local=False, layout=layout)


def _warn_if_incompatible(client: object, url: str) -> None:
    """Warn when server and client versions differ by a major or more than one minor version."""
    import importlib.metadata
    import warnings

    try:
        server = str(client.info().version)  # type: ignore[attr-defined]
        mine = importlib.metadata.version("qdrant-client")
        (sa, sb), (ma, mb) = (tuple(int(x) for x in v.split(".")[:2]) for v in (server, mine))
    except Exception:
        return
    if sa != ma or abs(sb - mb) > 1:
        warnings.warn(f"the Qdrant server at {url} is version {server} and qdrant-client {mine}; "
                      "use versions at most one minor release apart", UserWarning, stacklevel=3)  # fmt: skip
