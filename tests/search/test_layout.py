"""Point ids: the store's own uuid5 is the standard library's, byte for byte."""

from __future__ import annotations

import uuid

import pytest

from search import layout


@pytest.mark.parametrize("name", ["", "docs\x00a.pdf\x000", "ünï\x00cödé\x0017", "x" * 500])
def test_uuid5_is_the_standard_one(name: str) -> None:
    assert layout._uuid5(name) == str(uuid.uuid5(layout._NS, name))


def test_ids_are_uuid5_of_their_names() -> None:
    ns = layout._NS
    assert layout.point_id("docs", "a.pdf", 3) == str(uuid.uuid5(ns, "docs\x00a.pdf\x003"))
    assert layout.doc_point_id("docs", "a.pdf") == str(uuid.uuid5(ns, "docs\x00a.pdf\x00manifest"))
    assert layout.record_id("docs") == str(uuid.uuid5(ns, "docs\x00__index__"))
