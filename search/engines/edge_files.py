"""Qdrant Edge's files: the store folder's marker and lock, and each shard's write-ahead log
made durable without a full flush (:class:`WalSyncer`). Split from :mod:`search.engines.edge`,
which holds the engine itself; layout and durability rules are in its module docstring.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FORMAT = 1
MARKER = "store.json"
#: A shard's write-ahead log: the ``wal`` crate's segment files (``open-N``, ``closed-N``).
WAL_DIR = "wal"
#: Seconds between full flushes (segments too) of a shard that keeps being written.
CHECKPOINT_S = 30.0


def edge_root(store_dir: Path) -> Path:
    """Where an Edge store keeps its shards inside the store folder."""
    return store_dir / "edge"


def is_edge_store(store_dir: Path) -> bool:
    return (edge_root(store_dir) / MARKER).is_file()


def write_marker(root: Path) -> None:
    """Mark ``root`` as an Edge store (written last when a store is migrated into it)."""
    import importlib.metadata

    data = {"engine": "edge", "format": FORMAT,
            "qdrant-edge-py": importlib.metadata.version("qdrant-edge-py")}  # fmt: skip
    tmp = root / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(data) + "\n")
    os.replace(tmp, root / MARKER)


def _fdatasync(path: str) -> bool:
    try:  # the wal crate's thread may rename or retire a segment meanwhile
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)
    return True


class WalSyncer:
    """Makes one shard's write-ahead log durable: ``fdatasync`` of its files, ``fsync`` of its folder.

    The log's segments are memory mapped; Linux writes back pages dirtied through a shared
    mapping on an ``fsync`` of any descriptor of the file. ``open-*`` segments (the one being
    appended to, and the next, pre-created) are synced every time; a ``closed-*`` segment no
    longer changes, so it is synced once (again only if its size or mtime moves); the folder
    only when the set of names changed (a rotation: a new or renamed segment).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._names: frozenset[str] = frozenset()
        self._done: dict[str, tuple[int, int]] = {}

    def __call__(self) -> None:
        names = set()
        for entry in os.scandir(self.folder):
            if not entry.is_file(follow_symlinks=False):
                continue
            if entry.name.startswith("open-"):
                if _fdatasync(entry.path):
                    names.add(entry.name)
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # renamed meanwhile (``tmp-open-N`` -> ``open-N``)
                continue
            names.add(entry.name)
            sig = (st.st_size, st.st_mtime_ns)
            if self._done.get(entry.name) != sig and _fdatasync(entry.path):
                self._done[entry.name] = sig
        if names != self._names:
            fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._names = frozenset(names)
            self._done = {n: sig for n, sig in self._done.items() if n in names}
