"""The one place where engine exceptions become messages a user can act on.

Qdrant Edge raises plain ``Exception`` ("Service runtime error: ..."), qdrant-client raises
``UnexpectedResponse``, ``ResponseHandlingException``, ``ValueError`` or ``RuntimeError``, and
any of them may surface an ``OSError``. Every engine call runs inside :func:`engine_errors`,
which re-raises them as :class:`search.errors.StoreError` (one line, saying where and what was
being done), so a new case is handled here once for every engine: a full disk (SQLite's
"database or disk is full", ENOSPC, a server's "No space left on device") becomes
:class:`search.errors.DiskFullError` with the free space (``search.engines.space``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from search.engines.space import disk_full, is_disk_full, server_detail
from search.errors import SearchError, StoreError, StoreLockedError

# Our own bugs stay tracebacks: they are not the store's fault and hiding them helps no one.
_PROGRAMMING = (TypeError, AttributeError, NameError, KeyError, IndexError, AssertionError)


def locked_error(path: Path | str) -> StoreLockedError:
    """The message for an embedded store held by another process (any embedded engine)."""
    return StoreLockedError(
        f"the embedded store at {path} is in use by another process (a running `diffsearch ui`, "
        "or another ingest); an embedded store serves one process at a time. Either stop that "
        "process and retry, ingest from the running UI (its Ingest tab), or run a Qdrant server "
        "(`docker compose up -d qdrant`) and use --qdrant-url http://localhost:6333 "
        "(or DIFFSEARCH_QDRANT_URL) for every diffsearch process"
    )


def translate(exc: BaseException, location: str, doing: str) -> SearchError:
    """A :class:`StoreError` for an engine exception raised while ``doing`` something."""
    if is_disk_full(exc):
        where = location.split(" at ", 1)[-1]
        folder = Path(where) if location.startswith("embedded store at ") else None
        return disk_full(location, doing, folder=folder, detail=server_detail(exc))
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "WouldBlock" in text or "already accessed by another instance" in text:
        return locked_error(location.split(" at ", 1)[-1])
    if len(text) > 300:
        text = text[:297] + "..."
    return StoreError(f"the {location} failed while {doing}: {text}")


@contextlib.contextmanager
def engine_errors(location: str, doing: str) -> Iterator[None]:
    """Run engine calls; their exceptions leave as :class:`StoreError` (see module doc)."""
    try:
        yield
    except (SearchError, *_PROGRAMMING):
        raise
    except Exception as exc:
        raise translate(exc, location, doing) from None
