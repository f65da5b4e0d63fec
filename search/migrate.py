"""``diffsearch store migrate``: copy a store written by qdrant-client's local mode into Edge.

The copy is built beside the old files in ``DIR/edge.partial``: every collection with the same
name, dimension, point ids, vectors and payloads (meta collections included, so index records
and manifests come along unchanged). It is then verified point by point against the source
(counts, ids, payloads exactly, vectors to within 1e-6: Edge re-normalises the stored unit
vectors in float32) and only then renamed to ``DIR/edge`` with its marker, in one step: a
migration killed at any moment leaves the old store in use and is simply run again. The old
files stay unless ``remove_old``; from then on the folder opens as an Edge store.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from encoders.bm25 import SparseVector
from search.connect import detect_engine, open_local
from search.engines.base import Engine
from search.engines.edge import EdgeEngine, edge_root, is_edge_store, write_marker
from search.errors import StoreError
from search.records import StoredPoint

BATCH = 1024
#: Largest difference allowed between a source vector and its copy (see module doc).
VECTOR_ATOL = 1e-6
#: Files qdrant-client's local mode keeps in a store folder (removed with ``remove_old``).
LOCAL_FILES = ("collection", "meta.json", ".lock")

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class MigrationReport:
    """What a migration copied and checked."""

    store: str
    collections: dict[str, int] = field(default_factory=dict)
    points: int = 0
    max_vector_diff: float = 0.0
    seconds: float = 0.0
    removed_old: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def has_local_files(path: Path) -> bool:
    return (path / "meta.json").is_file() or (path / "collection").is_dir()


def migrate_store(
    path: str | Path, *, remove_old: bool = False, progress: Progress | None = None
) -> MigrationReport:
    """Copy the local-mode store at ``path`` into an Edge store in the same folder.

    Args:
        path: The store folder.
        remove_old: Delete qdrant-client's files once the copy is verified.
        progress: Called ``(collection, points done, points total)``.

    Raises:
        StoreError: Nothing to migrate, the copy differs from the source, or the folder is
            held by another process (StoreLockedError).
    """
    folder = Path(path).expanduser()
    t0 = time.perf_counter()
    if is_edge_store(folder):
        if not has_local_files(folder):
            raise StoreError(f"the store at {folder} is already an Edge store; nothing to migrate")
        raise StoreError(
            f"the store at {folder} was already migrated to Edge (qdrant-client's old files are "
            f"still there: {', '.join(n for n in LOCAL_FILES if (folder / n).exists())}); "
            "delete them by hand if you no longer need them"
        )
    if detect_engine(folder) != "qdrant-local":
        raise StoreError(f"no store written by qdrant-client's local mode at {folder}")
    source = open_local(folder)
    partial = folder / "edge.partial"
    try:
        if partial.exists():
            shutil.rmtree(partial)  # an earlier migration that was interrupted
        target = EdgeEngine(partial, f"embedded store at {folder}", mark=False)
        try:
            counts, diff = _copy_all(source, target, progress)
        finally:
            target.close()
        write_marker(partial)
        os.replace(partial, edge_root(folder))
    finally:
        source.close()
    if remove_old:
        for name in LOCAL_FILES:
            old = folder / name
            if old.is_dir():
                shutil.rmtree(old)
            elif old.exists():
                old.unlink()
    return MigrationReport(str(folder), counts, sum(counts.values()), diff,
                           time.perf_counter() - t0, remove_old)  # fmt: skip


def _copy_all(
    source: Engine, target: Engine, progress: Progress | None
) -> tuple[dict[str, int], float]:
    counts: dict[str, int] = {}
    worst = 0.0
    for name in source.collections():
        state = source.index_state(name)
        target.create(name, state.dim, filter_fields=not name.endswith("__meta"),
                      quantize=state.quantization, sparse=state.sparse)  # fmt: skip
        done = 0
        page: list[StoredPoint] = []
        for p in source.scroll(name, with_vectors=True):
            page.append(p)
            if len(page) == BATCH:
                _write_page(target, name, state.dim, page)
                done += len(page)
                page = []
                if progress is not None:
                    progress(name, done, state.points)
        if page:
            _write_page(target, name, state.dim, page)
            done += len(page)
        target.sync([name])
        if progress is not None:
            progress(name, done, state.points)
        counts[name] = done
        worst = max(worst, _verify(source, target, name))
    return counts, worst


def _write_page(target: Engine, name: str, dim: int, page: list[StoredPoint]) -> None:
    """Copy a page of points: dense vectors and payloads, then BM25 vectors where they are."""
    ids, payloads = [p.id for p in page], [p.payload for p in page]
    if not dim:  # a BM25 collection: sparse vectors only
        rows = [p.sparse or SparseVector((), ()) for p in page]
        target.write(name, ids, None, payloads, sparse=rows)
        return
    target.write(name, ids, np.asarray([p.vector or [] for p in page], np.float32), payloads)
    with_sparse = [p for p in page if p.sparse is not None]
    if with_sparse:
        target.set_sparse(name, [p.id for p in with_sparse], [p.sparse for p in with_sparse])  # type: ignore[misc]


def _same_sparse(a: SparseVector | None, b: SparseVector | None) -> bool:
    if a is None or b is None:
        return not a and not b  # absent, or empty: the same
    return a.indices == b.indices and np.allclose(a.values, b.values, rtol=0, atol=VECTOR_ATOL)


def _verify(source: Engine, target: Engine, name: str) -> float:
    """Every source point is in the copy with the same payload and vector; no extra points."""
    if (a := source.count(name)) != (b := target.count(name)):
        raise StoreError(f"migration check failed: {name} has {a} points but its copy {b}")
    worst = 0.0
    page: list[Any] = []

    def check(page: list[Any]) -> float:
        got = {p.id: p for p in target.retrieve(name, [p.id for p in page], with_vectors=True)}
        diff = 0.0
        for p in page:
            copy = got.get(p.id)
            if copy is None or copy.payload != p.payload:
                raise StoreError(
                    f"migration check failed: point {p.id} of {name} differs in its copy"
                )
            if not _same_sparse(copy.sparse, p.sparse):
                raise StoreError(
                    f"migration check failed: the BM25 vector of {p.id} in {name} differs"
                )
            if p.vector is None and copy.vector is None:
                continue
            d = float(np.max(np.abs(np.asarray(copy.vector) - np.asarray(p.vector))))
            if not d <= VECTOR_ATOL:
                raise StoreError(
                    f"migration check failed: the vector of {p.id} in {name} moved by {d:g}"
                )
            diff = max(diff, d)
        return diff

    for p in source.scroll(name, with_vectors=True):
        page.append(p)
        if len(page) == BATCH:
            worst, page = max(worst, check(page)), []
    if page:
        worst = max(worst, check(page))
    return worst
