"""Disk space: the check before an embedded engine touches its files, and the disk-full message.

Qdrant Edge keeps its data in memory-mapped files that grow sparsely (32 MB WAL segments,
vector chunks and payload pages, allocated as pages are first touched). On a full disk a touch
of a new page is not an error it can return but a ``SIGBUS`` that kills the process (measured
on a tmpfs: an ``update``, ``EdgeShard.create`` and ``EdgeShard.load`` of a shard whose vector
chunk is still sparse; ``load`` fills the whole chunk in). So the Edge engine checks the free
space before each of those calls (:func:`ensure_space`) and stops with :class:`DiskFullError`
while the store is still whole. qdrant-client's local mode and a server do report a full disk
(``sqlite3.OperationalError: database or disk is full``, ``OSError`` ENOSPC, HTTP 500 "No space
left on device"); :mod:`search.engines.errors` turns those into the same message.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from search.errors import DiskFullError

#: Kept free beyond a call's own estimate: the engine's small files (segment metadata, id
#: tracker, a new WAL segment's header) and the estimate's slack.
RESERVE = 8 * 2**20
#: Disk bytes a write may take per byte of points (vectors + payload JSON): the WAL entry, then
#: the segment's vector and payload storage when the shard is flushed, each with its framing.
WRITE_FACTOR = 3
#: What creating an Edge shard takes (its deletion flags file is 1 MB, written in full).
CREATE_BYTES = 2 * 2**20
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_MB = 2**20


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the file system holding ``path``."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    st = os.statvfs(probe)
    return st.f_bavail * st.f_frsize


def sparse_bytes(folder: Path, pattern: str = "chunk_*.mmap") -> int:
    """Bytes of the files under ``folder`` matching ``pattern`` not allocated on disk yet."""
    total = 0
    for f in folder.rglob(pattern):
        st = f.stat()
        total += max(0, st.st_size - st.st_blocks * 512)
    return total


#: Payloads serialized to estimate a write's payload bytes (evenly spread over the write).
PAYLOAD_SAMPLE = 32


def payload_bytes(payloads: Sequence[Mapping[str, Any]]) -> int:
    """About how many bytes ``payloads`` take as JSON: the largest of an even sample, times
    their number (serializing each one cost more than Edge's own write of it).

    An over-estimate for the chunks of one write (their sizes are bounded by the chunker); a
    sample's largest misses a larger outlier by its excess only, which :data:`RESERVE` covers.
    """
    n = len(payloads)
    if n == 0:
        return 0
    step = max(1, n // PAYLOAD_SAMPLE)
    largest = max(len(json.dumps(payloads[i], default=str)) for i in range(0, n, step))
    return largest * n


def _mb(n: float) -> str:
    return f"{n / _MB:.1f} MB" if n < 10 * _MB else f"{n / _MB:.0f} MB"


def disk_full(
    location: str,
    doing: str,
    *,
    folder: Path | None = None,
    need: int | None = None,
    detail: str | None = None,
) -> DiskFullError:
    """The one-line message for a full disk under an engine (``location`` as in StoreError).

    Args:
        location: ``"embedded store at DIR"`` or ``"Qdrant server at URL"``.
        doing: What was being done (``"writing to ds__docs__minilm"``).
        folder: The embedded store's folder (its free space is reported).
        need: Bytes the refused call needed (when known before the call).
        detail: The engine's own words (a server's message), kept in brackets.
    """
    said = f" ({detail})" if detail else ""
    if folder is not None:
        free = free_bytes(folder)
        wanted = f"it needs about {_mb(need)} and " if need is not None else ""
        where = (
            f"{wanted}the disk holding {folder} has {_mb(free)} free. Free some space there "
            "(or use a store on a larger disk: --store DIR or DIFFSEARCH_STORE)"
        )
    else:
        where = "free space on the server's storage volume (or give it a larger one)"
    return DiskFullError(
        f"the {location} ran out of disk space while {doing}{said}: {where}, then run the same "
        "command again: an ingest resumes where it stopped (documents written in full are kept, "
        "the others are redone, nothing is duplicated)"
    )


def ensure_space(folder: Path, need: int, location: str, doing: str) -> None:
    """Raise :class:`DiskFullError` unless ``need`` + :data:`RESERVE` bytes are free at ``folder``."""
    if free_bytes(folder) < need + RESERVE:
        raise disk_full(location, doing, folder=folder, need=need + RESERVE)


def is_disk_full(exc: BaseException) -> bool:
    """Whether an engine exception (any engine, any wrapping) says the disk is full."""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return True
    text = _full_text(exc).lower()
    return any(
        s in text
        for s in (
            "database or disk is full",  # sqlite3 (qdrant-client local mode)
            "no space left on device",  # OSError text, Rust io::Error (Edge), a server's 500
            "disk quota exceeded",
            "os error 28",
        )
    )


def _full_text(exc: BaseException) -> str:
    """``str(exc)`` plus what qdrant-client's UnexpectedResponse carries (the server's body)."""
    parts = [str(exc)]
    content = getattr(exc, "content", None)
    if isinstance(content, bytes):
        parts.append(content.decode("utf-8", "replace"))
    return "\n".join(parts)


def server_detail(exc: BaseException) -> str | None:
    """A server's own error text from an UnexpectedResponse body, if it has one."""
    import json

    content = getattr(exc, "content", None)
    if not isinstance(content, bytes):
        return None
    try:
        return str(json.loads(content)["status"]["error"])[:200]
    except (ValueError, KeyError, TypeError):
        return None
