"""Domain records of the store, free of any Qdrant type (docs/architecture.md).

Every engine (Qdrant Edge, qdrant-client's local mode, a Qdrant server) speaks these: the
store hands out :class:`Hit`, :class:`DocRecord` and :class:`IndexInfo`, takes :class:`Where`
filters, and talks to its engine in :class:`StoredPoint`, :class:`ScoredPoint` and
:data:`Condition` tuples, which each engine translates into its own filter objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from encoders.bm25 import SparseVector
from search.errors import QueryError

#: The engines an index can live in: one source of truth for their names.
EngineName = Literal["edge", "qdrant-local", "server"]
ENGINES: tuple[EngineName, ...] = ("edge", "qdrant-local", "server")


@dataclass(frozen=True)
class Where:
    """Filters pushed down into the engine's query (before ranking, never after)."""

    doc_ids: tuple[str, ...] | None = None
    filetypes: tuple[str, ...] | None = None
    page_min: int | None = None
    page_max: int | None = None


@dataclass(frozen=True)
class Hit:
    """One chunk returned by a query (or listed for a document, with score 0)."""

    id: str
    doc_id: str
    source: str
    filetype: str
    title: str | None
    page: int | None
    section: str | None
    chunk: int
    n_chunks: int
    text: str
    score: float
    payload: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class DocRecord:
    """A document's manifest entry."""

    doc_id: str
    source: str
    filetype: str
    title: str | None
    n_chunks: int
    size: int
    mtime_ns: int
    sha256: str


@dataclass(frozen=True)
class IndexInfo:
    """What an index holds, and which engine holds it."""

    name: str
    encoders: dict[str, dict[str, Any]]
    chunking: dict[str, Any]
    documents: int
    chunks: int
    location: str
    engine: str = ""


# -- what the store and its engine exchange ---------------------------------------------------


@dataclass(frozen=True)
class StoredPoint:
    """A point as stored: string id, payload, and its vector when asked for."""

    id: str
    payload: dict[str, Any]
    vector: list[float] | None = None
    sparse: SparseVector | None = None  #: its BM25 vector, when asked for and present


@dataclass(frozen=True)
class ScoredPoint:
    """A point returned by a nearest-neighbour query (cosine similarity, best first)."""

    id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True)
class AnyOf:
    """Payload field ``key`` equals one of ``values``."""

    key: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Between:
    """Payload field ``key`` lies in ``[gte, lte]`` (either end open when None)."""

    key: str
    gte: int | None = None
    lte: int | None = None


Condition = AnyOf | Between
#: Conditions that must all hold (an empty tuple matches every point).
Conditions = tuple[Condition, ...]


def where_conditions(where: Where | None) -> Conditions:
    """The engine conditions of user-level filters.

    Raises:
        QueryError: ``page_min`` above ``page_max``.
    """
    if where is None:
        return ()
    out: list[Condition] = []
    if where.doc_ids is not None:
        out.append(AnyOf("doc_id", tuple(where.doc_ids)))
    if where.filetypes is not None:
        out.append(AnyOf("filetype", tuple(t.lower().lstrip(".") for t in where.filetypes)))
    if where.page_min is not None or where.page_max is not None:
        low, high = where.page_min, where.page_max
        if low is not None and high is not None and low > high:
            raise QueryError(f"page_min {low} is above page_max {high}")
        out.append(Between("page", where.page_min, where.page_max))
    return tuple(out)


def to_hit(point: StoredPoint | ScoredPoint, score: float | None = None) -> Hit:
    """A chunk point as a :class:`Hit` (``score`` overrides the point's, e.g. 0.0 for listings)."""
    p = dict(point.payload or {})
    if score is None:
        score = point.score if isinstance(point, ScoredPoint) else 0.0
    return Hit(
        id=point.id, doc_id=str(p.get("doc_id", "")), source=str(p.get("source", "")),
        filetype=str(p.get("filetype", "")), title=p.get("title"), page=p.get("page"),
        section=p.get("section"), chunk=int(p.get("chunk", 0)), n_chunks=int(p.get("n_chunks", 0)),
        text=str(p.get("text", "")), score=float(score), payload=p,
    )  # fmt: skip
