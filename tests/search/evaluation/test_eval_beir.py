"""Reading BEIR-layout folders."""

from __future__ import annotations

import pytest

from search.errors import SearchError
from search.evaluation.beir import document_text, load_beir, read_qrels


def test_load_keeps_only_judged_queries(tmp_path, make_beir):
    root = make_beir(
        tmp_path / "tiny",
        {"d1": ("T1", "one"), "d2": ("", "two"), "d1b": ("Only title", "")},
        {"q1": "first?", "q2": "second?", "q3": "unjudged?"},
        [("q1", "d1", 1), ("q2", "d2", 2), ("q2", "d1", 0), ("q9", "d1", 1)],
    )
    ds = load_beir(root)
    assert ds.name == "tiny" and ds.split == "test"
    assert [d.doc_id for d in ds.corpus] == ["d1", "d2", "d1b"]
    assert ds.queries == {"q1": "first?", "q2": "second?"}
    assert ds.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2, "d1": 0}}
    assert (
        document_text(ds.corpus[0]) == "T1\n\none" and document_text(ds.corpus[2]) == "Only title"
    )
    assert len(ds.fingerprint) == 12
    assert load_beir(root, max_queries=1).queries == {"q1": "first?"}


def test_missing_split_lists_the_ones_there(tmp_path, make_beir):
    root = make_beir(tmp_path / "x", {"d": ("", "t")}, {"q": "?"}, [("q", "d", 1)], split="dev")
    with pytest.raises(SearchError, match="splits here: dev"):
        load_beir(root, "test")


def test_qrels_trec_format_and_bad_lines(tmp_path):
    p = tmp_path / "q.tsv"
    p.write_text("q1\t0\td1\t1\nq1\t0\td2\t0\n")
    assert read_qrels(p) == {"q1": {"d1": 1, "d2": 0}}
    p.write_text("query-id\tcorpus-id\tscore\nq1\td1\tx\n")
    with pytest.raises(SearchError, match="not a number"):
        read_qrels(p)


def test_real_scifact_layout(shared_data):
    ds = load_beir(shared_data / "beir" / "scifact", "test")
    assert len(ds.corpus) == 5183 and len(ds.queries) == 300
    assert sum(len(r) for r in ds.qrels.values()) == 339
