"""Parsing ``--where`` expressions."""

from __future__ import annotations

import pytest

from search.errors import QueryError
from search.filters import Filters, filters_from_mapping, parse_where


def test_parse_each_form():
    f = parse_where(["source='*.pdf'", "filetype=pdf,MD", "page=2..5"])
    assert f == Filters(source=("*.pdf",), filetype=("pdf", "md"), page_min=2, page_max=5)
    assert parse_where(["page=3"]) == Filters(page_min=3, page_max=3)
    assert parse_where(["page>=2", "page<=9"]) == Filters(page_min=2, page_max=9)
    assert parse_where(['source="docs/**,*.md"']).source == ("docs/**", "*.md")
    assert parse_where([]).empty


@pytest.mark.parametrize(
    "bad", ["author=me", "source>=x", "page=two", "page=5..2", "filetype<=pdf", "nonsense"]
)
def test_bad_expressions_say_what_is_allowed(bad):
    with pytest.raises(QueryError):
        parse_where([bad])


def test_mapping_form():
    assert filters_from_mapping(
        {"source": "*.pdf", "filetype": ["pdf"], "page": "1..3"}
    ) == Filters(source=("*.pdf",), filetype=("pdf",), page_min=1, page_max=3)
    assert filters_from_mapping(None) is None
