"""When a collection gets its HNSW graph (see docs/architecture.md, "HNSW").

Edge has no background optimizer: :func:`build_where_due` builds a graph for each collection of
an index that has passed :data:`search.engines.base.HNSW_MIN_FLOATS` (or all of them when
``force``), and reports what it did; engines without on-demand graphs are reported with a note.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from search.engines.base import (
    HNSW_MIN_FLOATS,
    HNSW_MIN_NEW_FLOATS,
    SCAN_MIN_FLOATS,
    Engine,
    VectorIndexState,
)

_NO_GRAPH = {
    "qdrant-local": "qdrant-client's local mode has no HNSW index; "
    "`diffsearch store migrate` moves the store to Edge",
    "server": "the server builds HNSW in the background",
}


@dataclass(frozen=True)
class OptimizeReport:
    """What an optimize run did to one encoder collection."""

    index: str
    encoder: str
    points: int
    dim: int
    indexed_before: int
    indexed_after: int
    built: bool
    seconds: float
    note: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_due(state: VectorIndexState) -> bool:
    """Past the size where the collection's index pays (a graph: :data:`HNSW_MIN_FLOATS`; the
    int8 scan index: :data:`SCAN_MIN_FLOATS`), with enough points outside it."""
    least = HNSW_MIN_FLOATS if state.graph else SCAN_MIN_FLOATS
    floats, new = state.points * state.dim, (state.points - state.indexed) * state.dim
    return floats >= least and new >= HNSW_MIN_NEW_FLOATS


def build_where_due(
    engine: Engine,
    index: str,
    record: dict[str, Any],
    *,
    force: bool = False,
    on_start: Callable[[str, str, int, int], None] | None = None,
) -> list[OptimizeReport]:
    """Build the graphs of ``index``'s encoder collections that are due (all when ``force``)."""
    out = []
    for enc, collection in sorted(record.get("collections", {}).items()):
        state = engine.index_state(collection)

        report = partial(OptimizeReport, index, enc, state.points, state.dim, state.indexed)

        if not state.hnsw:
            out.append(report(state.indexed, False, 0.0, _NO_GRAPH.get(engine.name, "")))
            continue
        if not (force or is_due(state)):
            note = "up to date" if state.indexed else "small enough to scan exactly"
            out.append(report(state.indexed, False, 0.0, note))
            continue
        if on_start is not None:
            on_start(index, enc, state.points, state.dim)
        t0 = time.perf_counter()
        engine.build_index(collection)
        after = engine.index_state(collection).indexed
        built = after > state.indexed
        what = "HNSW built" if state.graph else f"{state.scan or 'quantized'} scan index built"
        note = what if built else "nothing to build (segments under Edge's indexing threshold)"
        out.append(report(after, built, time.perf_counter() - t0, note))
    return out
