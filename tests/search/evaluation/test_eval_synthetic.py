"""Passkey and needle generators: determinism, counts, one answer per query, lengths."""

from __future__ import annotations

import re

import pytest

from search.evaluation import haystack
from search.evaluation.synthetic import generate


def words(text: str) -> int:
    return len(text.split())


@pytest.mark.parametrize("task", ["passkey", "needle"])
def test_shape_and_determinism(task):
    a = generate(task, 300, words, seed=3)
    assert len(a.corpus) == 100 and len(a.queries) == 50
    assert all(len(r) == 1 and list(r.values()) == [1] for r in a.qrels.values())
    assert len({next(iter(r)) for r in a.qrels.values()}) == 50  # each query its own document
    assert len({d.doc_id for d in a.corpus}) == 100
    b = generate(task, 300, words, seed=3)
    assert [d.text for d in a.corpus] == [d.text for d in b.corpus] and a.queries == b.queries
    c = generate(task, 300, words, seed=4)
    assert [d.text for d in a.corpus] != [d.text for d in c.corpus]
    small = generate(task, 300, words, n_docs=10, n_queries=4)
    assert len(small.corpus) == 10 and len(small.queries) == 4


def test_passkey_recipe():
    ds = generate("passkey", 400, words, n_docs=20, n_queries=10)
    docs = {d.doc_id: d.text for d in ds.corpus}
    for qid, query in ds.queries.items():
        name = re.fullmatch(r"what is the passkey for (.+)\?", query).group(1)
        holders = [d for d, text in docs.items() if f"{name}'s pass key is" in text]
        assert holders == list(ds.qrels[qid])
        text = docs[holders[0]]
        key = re.search(
            rf"{name}'s pass key is (\d+)\. Remember it\. (\d+) is the pass key for {name}\.", text
        )
        assert key and key.group(1) == key.group(2)
    assert all(
        d.text.startswith("The grass is green.") or "pass key" in d.text[:80] for d in ds.corpus
    )


def test_needle_uses_the_given_haystack(tmp_path):
    prose = tmp_path / "prose.txt"
    prose.write_text(" ".join(f"Sentence number {i} of the haystack." for i in range(500)))
    ds = generate("needle", 200, words, n_docs=8, n_queries=4, haystack=str(prose))
    assert "prose.txt" in ds.info["haystack"]
    docs = {d.doc_id: d.text for d in ds.corpus}
    for qid, query in ds.queries.items():
        name = re.search(r"([A-Z][a-z]+ [A-Z][a-z]+)", query).group(1)
        holders = [d for d, text in docs.items() if name in text]
        assert holders == list(ds.qrels[qid])
        assert "haystack" in docs[holders[0]]


def test_builtin_haystack_when_no_file(monkeypatch):
    monkeypatch.setattr(haystack, "default_haystack_path", lambda: None)
    source, sentences = haystack.load_haystack(None)
    assert "Declaration of Independence" in source and len(sentences) > 30
    ds = generate("needle", 300, words, n_docs=5, n_queries=2)
    assert "Declaration" in ds.info["haystack"]


@pytest.mark.parametrize("task", ["passkey", "needle"])
def test_lengths_within_five_percent_in_model_tokens(task, minilm):
    for length in (256, 1024, 4096):
        ds = generate(task, length, minilm.count_tokens, n_docs=12, n_queries=6)
        for d in ds.corpus:
            n = minilm.count_tokens(d.text)
            assert abs(n - length) <= 0.05 * length, (task, length, n)


def test_bad_arguments():
    with pytest.raises(ValueError):
        generate("haystack", 256, words)
    with pytest.raises(ValueError):
        generate("passkey", 256, words, n_docs=5, n_queries=6)
