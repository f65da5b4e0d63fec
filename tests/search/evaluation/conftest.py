"""Builders shared by the evaluation tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

Docs = dict[str, tuple[str, str]]


def write_beir(root: Path, docs: Docs, queries: dict[str, str], qrels: list[tuple[str, str, int]],
               split: str = "test") -> Path:  # fmt: skip
    """A BEIR-layout folder: ``docs`` maps id -> (title, text); qrels are (query, doc, rel)."""
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    with (root / "corpus.jsonl").open("w") as fh:
        for doc_id, (title, text) in docs.items():
            fh.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (root / "queries.jsonl").open("w") as fh:
        for qid, text in queries.items():
            fh.write(json.dumps({"_id": qid, "text": text}) + "\n")
    lines = ["query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t{s}" for q, d, s in qrels)]
    (root / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def make_beir() -> Callable[..., Path]:
    """The :func:`write_beir` builder."""
    return write_beir
