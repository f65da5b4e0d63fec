"""The store layout contract (docs/architecture.md): names, point ids, records, filters.

One collection per (index, encoder) ``ds__<index>__<encoder>`` (names sanitized), one unnamed
cosine vector, the same point ids and payloads in each; ``ds__<index>__meta`` holds the index
record and one manifest point per document. Point id: uuid5 of (index, doc_id, chunk number).
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qdrant_client import models

from search.errors import QueryError

PREFIX = "ds__"
_NS = uuid.UUID("6f1c7d2e-8a43-4b0e-9a51-3c2d0f7e5b19")
_INDEX_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SCROLL = 512


# -- names and ids ----------------------------------------------------------------------------


def check_index_name(index: str) -> str:
    """Return ``index`` if usable as an index name, else raise :class:`QueryError`."""
    if not _INDEX_NAME.match(index or "") or "__" in index:
        raise QueryError(
            f"invalid index name {index!r}: use letters, digits, '.', '-' and single '_' "
            "(at most 64 characters, starting with a letter or digit)"
        )
    return index


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_") or "x"
    if slug != name or "__" in slug or slug == "meta":
        slug = f"{slug.replace('__', '_')[:40]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return slug


def collection_name(index: str, encoder: str) -> str:
    """Collection holding ``encoder``'s vectors of ``index``."""
    return f"{PREFIX}{index}__{_slug(encoder)}"


def meta_name(index: str) -> str:
    """Collection holding the index record and the document manifest."""
    return f"{PREFIX}{index}__meta"


def point_id(index: str, doc_id: str, chunk: int) -> str:
    """Stable id of a chunk point: uuid5 of (index, doc_id, chunk number)."""
    return str(uuid.uuid5(_NS, f"{index}\x00{doc_id}\x00{chunk}"))


def doc_point_id(index: str, doc_id: str) -> str:
    return str(uuid.uuid5(_NS, f"{index}\x00{doc_id}\x00manifest"))


def record_id(index: str) -> str:
    return str(uuid.uuid5(_NS, f"{index}\x00__index__"))


def default_store_dir() -> Path:
    """``$XDG_DATA_HOME/diffsearch/store``, else ``~/.local/share/diffsearch/store``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "diffsearch" / "store"


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Where:
    """Filters pushed down into the Qdrant query."""

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
    """What an index holds."""

    name: str
    encoders: dict[str, dict[str, Any]]
    chunking: dict[str, Any]
    documents: int
    chunks: int
    location: str


def to_hit(point: Any, score: float | None = None) -> Hit:
    p = dict(point.payload or {})
    return Hit(
        id=str(point.id), doc_id=str(p.get("doc_id", "")), source=str(p.get("source", "")),
        filetype=str(p.get("filetype", "")), title=p.get("title"), page=p.get("page"),
        section=p.get("section"), chunk=int(p.get("chunk", 0)), n_chunks=int(p.get("n_chunks", 0)),
        text=str(p.get("text", "")), score=float(point.score if score is None else score), payload=p,
    )  # fmt: skip


def match(key: str, value: Any) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def at_least(key: str, value: int) -> models.FieldCondition:
    return models.FieldCondition(key=key, range=models.Range(gte=value))


def where_filter(where: Where | None) -> models.Filter | None:
    if where is None:
        return None
    must: list[Any] = []
    if where.doc_ids is not None:
        must.append(
            models.FieldCondition(key="doc_id", match=models.MatchAny(any=list(where.doc_ids)))
        )
    if where.filetypes is not None:
        types = [t.lower().lstrip(".") for t in where.filetypes]
        must.append(models.FieldCondition(key="filetype", match=models.MatchAny(any=types)))
    if where.page_min is not None or where.page_max is not None:
        if (
            where.page_min is not None
            and where.page_max is not None
            and where.page_min > where.page_max
        ):
            raise QueryError(f"page_min {where.page_min} is above page_max {where.page_max}")
        must.append(
            models.FieldCondition(
                key="page", range=models.Range(gte=where.page_min, lte=where.page_max)
            )
        )
    return models.Filter(must=must) if must else None
