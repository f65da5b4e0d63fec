"""qdrant-client local mode (``path=``) specifics: one SQLite transaction per write call.

qdrant-client's local mode stores each collection in SQLite and commits every point separately
(``qdrant_client/local/persistence.py``: each ``persist``/``delete`` is its own
``with connection:`` block). So a process killed during one ``upsert`` call can leave part of
its points on disk, and every point pays a commit (the "path-backed upload is slow" of
FACTS.md). :func:`one_transaction` makes the connection's ``with`` block a no-op for the
duration of one call and commits once at the end: all of the call's points reach disk together
(SQLite's journal rolls back an interrupted commit), and writing is ~10x faster. Memory and disk
stay equal: on an error, the points applied so far are committed, as the library would have
done. With a server, or a qdrant-client whose internals differ, it does nothing.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any


class _NoCommit:
    """Stands in for a sqlite3 connection whose ``with`` block must not commit."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self._conn

    def __exit__(self, *exc: object) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@contextlib.contextmanager
def one_transaction(client: Any, collection: str, *, embedded: bool) -> Iterator[None]:
    """Within this block, the embedded collection's writes form one SQLite transaction."""
    local = getattr(client, "_client", None)
    coll = getattr(local, "collections", {}).get(collection) if embedded else None
    persistence = getattr(coll, "storage", None)
    conn = getattr(persistence, "storage", None)
    if not isinstance(conn, sqlite3.Connection):
        yield
        return
    persistence.storage = _NoCommit(conn)  # type: ignore[union-attr]
    try:
        yield
    finally:
        persistence.storage = conn  # type: ignore[union-attr]
        conn.commit()
