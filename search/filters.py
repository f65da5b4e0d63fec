"""Metadata filters: ``--where`` expressions, resolved into a Qdrant-side filter.

Qdrant matches exact values, not globs. A source glob is therefore resolved against the index's
own document list (one scroll of the manifest) into the set of matching document ids, and that
set goes into the Qdrant query, so filtering happens before ranking, never after it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from search.errors import QueryError

if TYPE_CHECKING:
    from search.records import Where
    from search.vectorstore import VectorStore

_EXPR = re.compile(r"^\s*(source|filetype|page)\s*(=|==|>=|<=)\s*(.+?)\s*$")
_RANGE = re.compile(r"^(\d+)\s*\.\.\s*(\d+)$")


@dataclass(frozen=True)
class Filters:
    """What a user may filter on.

    Attributes:
        source: Globs on the document's path relative to the ingested folder (any may match);
            ``*`` also matches ``/``, so ``*.pdf`` finds PDFs at any depth.
        filetype: File types without the dot (``pdf``, ``md``, ...).
        page_min: Lowest page number (inclusive).
        page_max: Highest page number (inclusive).
    """

    source: tuple[str, ...] = ()
    filetype: tuple[str, ...] = ()
    page_min: int | None = None
    page_max: int | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.source or self.filetype or self.page_min is not None or self.page_max is not None
        )


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _int(value: str, expr: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise QueryError(f"page must be a whole number in {expr!r}") from None


def parse_where(expressions: Iterable[str]) -> Filters:
    """Parse ``source='*.pdf'``, ``filetype=pdf,md``, ``page=3``, ``page=2..5``, ``page>=2``.

    Several expressions are combined with AND; commas inside one give alternatives.

    Raises:
        QueryError: An expression that is not one of the forms above.
    """
    source: list[str] = []
    filetype: list[str] = []
    page_min: int | None = None
    page_max: int | None = None
    for expr in expressions:
        match = _EXPR.match(expr)
        if not match:
            raise QueryError(
                f"cannot read filter {expr!r}; use source='GLOB', filetype=pdf,md, "
                "page=N, page=N..M, page>=N or page<=N"
            )
        key, op, raw = match.group(1), match.group(2), _unquote(match.group(3))
        if key == "source":
            if op not in ("=", "=="):
                raise QueryError(f"source takes '=' with a glob, in {expr!r}")
            source.extend(part.strip() for part in raw.split(",") if part.strip())
        elif key == "filetype":
            if op not in ("=", "=="):
                raise QueryError(f"filetype takes '=', in {expr!r}")
            filetype.extend(p.strip().lstrip(".").lower() for p in raw.split(",") if p.strip())
        else:
            span = _RANGE.match(raw)
            if op == ">=":
                page_min = _int(raw, expr)
            elif op == "<=":
                page_max = _int(raw, expr)
            elif span:
                page_min, page_max = int(span.group(1)), int(span.group(2))
            else:
                page_min = page_max = _int(raw, expr)
    if page_min is not None and page_max is not None and page_min > page_max:
        raise QueryError(f"empty page range {page_min}..{page_max}")
    return Filters(tuple(source), tuple(filetype), page_min, page_max)


def resolve_filters(
    store: VectorStore, index: str, filters: Filters | Where | None
) -> Where | None:
    """Turn user filters into the store's pushed-down ``Where`` (``None`` when unfiltered).

    A source glob that matches no document gives ``doc_ids=()``: the caller returns no hits.
    """
    from search.records import Where

    if filters is None:
        return None
    if isinstance(filters, Where):
        return filters
    if filters.empty:
        return None
    doc_ids: tuple[str, ...] | None = None
    if filters.source:
        docs = store.documents(index)
        doc_ids = tuple(
            d.doc_id for d in docs if any(fnmatch.fnmatchcase(d.source, g) for g in filters.source)
        )
        if len(doc_ids) == len(docs):
            doc_ids = None  # every document matches: no need to ship the id list
    return Where(
        doc_ids=doc_ids,
        filetypes=filters.filetype or None,
        page_min=filters.page_min,
        page_max=filters.page_max,
    )


def filters_from_mapping(mapping: dict[str, Any] | None) -> Filters | None:
    """``{"source": "*.pdf", "filetype": ["pdf"], "page": "1..3"}`` -> :class:`Filters`."""
    if not mapping:
        return None
    exprs = []
    for key, value in mapping.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        exprs.append(f"{key}={value}")
    return parse_where(exprs)
