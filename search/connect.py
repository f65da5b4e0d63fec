"""Connecting to Qdrant: an embedded folder or a server, with errors that say what to do."""

from __future__ import annotations

import os
from pathlib import Path

from qdrant_client import QdrantClient

from search.errors import StoreError, StoreLockedError, StoreUnreachableError
from search.layout import default_store_dir


def connect(
    path: str | Path | None = None, url: str | None = None, api_key: str | None = None
) -> tuple[QdrantClient, str]:
    """A client for the embedded store at ``path`` or the Qdrant server at ``url``.

    Without arguments: ``DIFFSEARCH_QDRANT_URL`` (with ``DIFFSEARCH_QDRANT_API_KEY``), else
    ``DIFFSEARCH_STORE``, else :func:`search.layout.default_store_dir`.

    Returns:
        The client and where it points (``"embedded store at PATH"`` or ``"Qdrant server at URL"``).

    Raises:
        StoreLockedError: Another process holds the embedded folder.
        StoreUnreachableError: No server answered at the URL.
        StoreError: Both a path and a URL were given, or the folder is unusable.
    """
    if path is not None and url is not None:
        raise StoreError(
            "give either a store folder (--store) or a server URL (--qdrant-url), not both"
        )
    source = "--qdrant-url"
    if path is None and url is None:
        url = os.environ.get("DIFFSEARCH_QDRANT_URL") or None
        source = "DIFFSEARCH_QDRANT_URL"
        if url is None:
            path = os.environ.get("DIFFSEARCH_STORE") or default_store_dir()
    if url is not None:
        return _open_server(
            url, api_key or os.environ.get("DIFFSEARCH_QDRANT_API_KEY") or None, source
        )
    return _open_embedded(Path(str(path)).expanduser())


def _open_server(url: str, api_key: str | None, source: str) -> tuple[QdrantClient, str]:
    import warnings

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
    return client, f"Qdrant server at {url}"


def _warn_if_incompatible(client: QdrantClient, url: str) -> None:
    """Warn when server and client versions differ by a major or more than one minor version."""
    import importlib.metadata
    import warnings

    try:
        server = str(client.info().version)
        mine = importlib.metadata.version("qdrant-client")
        (sa, sb), (ma, mb) = (tuple(int(x) for x in v.split(".")[:2]) for v in (server, mine))
    except Exception:
        return
    if sa != ma or abs(sb - mb) > 1:
        warnings.warn(f"the Qdrant server at {url} is version {server} and qdrant-client {mine}; "
                      "use versions at most one minor release apart", UserWarning, stacklevel=3)  # fmt: skip


def _open_embedded(path: Path) -> tuple[QdrantClient, str]:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the store folder {path}: {exc.strerror}") from None
    try:
        client = QdrantClient(path=str(path))
    except RuntimeError as exc:
        if "already accessed" not in str(exc):
            raise
        raise StoreLockedError(
            f"the embedded store at {path} is in use by another process (a running `diffsearch ui`, "
            "or another ingest); an embedded store serves one process at a time. Either stop that "
            "process and retry, ingest from the running UI (its Ingest tab), or run a Qdrant server "
            "(`docker compose up -d qdrant`) and use --qdrant-url http://localhost:6333 "
            "(or DIFFSEARCH_QDRANT_URL) for every diffsearch process"
        ) from None
    return client, f"embedded store at {path}"
