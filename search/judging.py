"""Pooled, blind relevance judging: the candidates a person marks to write a judgements file.

To measure which encoder retrieves *your* documents better you need questions with their
relevant documents. Judging the pooled top documents of every encoder under comparison (TREC's
pooling) finds most relevant documents at a fraction of the cost of reading the whole folder,
and the pool is shown in an order that depends only on the question and the document (a hash),
never on which encoder found it or at what rank, so the judge cannot favour a side.

The file written is the JSONL that ``diffsearch eval --judgments`` reads, one line per judged
question; a question judged to have no relevant document is kept (``"relevant": {}``), so that
a resumed session does not ask it again, and is left out of scoring.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Candidate:
    """One pooled document.

    Attributes:
        doc_id: Path relative to the ingested folder (what the judgements file names).
        title: Document title.
        snippets: The text of the best chunk of each encoder that found it (distinct ones).
    """

    doc_id: str
    title: str
    snippets: tuple[str, ...]


def pool(results: Sequence[Any], question: str) -> list[Candidate]:
    """Merge several encoders' document-level results into one blind list.

    Args:
        results: ``search.service.SearchResult`` objects (any number, any order).
        question: The question (it seeds the order).

    Returns:
        Every document found by any encoder once, ordered by a hash of (question, document).
    """
    found: dict[str, tuple[str, list[str]]] = {}
    for result in results:
        for ranked in result.hits:
            hit = ranked.hit
            _, snippets = found.setdefault(hit.doc_id, (hit.title or hit.source or hit.doc_id, []))
            if hit.text not in snippets:
                snippets.append(hit.text)
    order = sorted(found, key=lambda d: hashlib.sha256(f"{question}\0{d}".encode()).hexdigest())
    return [Candidate(d, found[d][0], tuple(sorted(found[d][1]))) for d in order]


def pool_encoders(service: Any, index: str, encoders: Sequence[str] = ()) -> list[str]:
    """The encoders to pool: those given, else all of the index's; each checked against it.

    Raises:
        IndexNotFoundError, EncoderNotInIndexError: With the command that fixes it.
    """
    names = list(encoders) or list(service.index(index).encoders)
    for name in names:
        service.encoder_info(index, name)
    return names


def pooled(
    service: Any, index: str, question: str, encoders: Sequence[str], k: int
) -> list[Candidate]:
    """The blind pool of ``encoders``' top ``k`` documents for ``question`` (a SearchService)."""
    return pool([service.search(question, index=index, encoder=e, k=k) for e in encoders], question)


def parse_marks(text: str, n: int) -> dict[int, int]:
    """``"1 3:2, 4"`` -> ``{1: 1, 3: 2, 4: 1}``: candidate numbers (1-based) and grades.

    Raises:
        ValueError: With a sentence for the judge (a number out of range, a bad grade).
    """
    marks: dict[int, int] = {}
    for token in text.replace(",", " ").split():
        number, _, grade = token.partition(":")
        try:
            i, g = int(number), int(grade) if grade else 1
        except ValueError:
            raise ValueError(f"{token!r}: write candidate numbers, e.g. 1 3 or 1 3:2") from None
        if not 1 <= i <= n:
            raise ValueError(f"{i} is not a candidate (1 to {n})")
        if g < 1:
            raise ValueError(f"{token!r}: a grade is a whole number >= 1")
        marks[i] = max(g, marks.get(i, 0))
    return marks


def judged_questions(path: str | Path) -> set[str]:
    """Questions already in a judgements file (to resume a session); empty if there is none."""
    p = Path(path)
    if not p.is_file():
        return set()
    found = (_question_of(line) for line in p.read_text(encoding="utf-8").splitlines())
    return {q for q in found if q is not None}


def _question_of(line: str) -> str | None:
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    if isinstance(row, dict) and isinstance(row.get("query"), str):
        return str(row["query"]).strip()
    return None


def append_judgement(
    path: str | Path, question: str, relevant: dict[str, int], *, replace: bool = False
) -> None:
    """Add one judged question to the JSONL file (created if needed), flushed at once.

    Args:
        replace: Drop the question's earlier lines first (judged again), so that it is scored
            once. The file is rewritten through a temporary file and an atomic rename.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if replace and p.is_file():
        keep = [line for line in p.read_text(encoding="utf-8").splitlines(keepends=True)
                if _question_of(line) != question.strip()]  # fmt: skip
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text("".join(keep), encoding="utf-8")
        tmp.replace(p)
    with p.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"query": question, "relevant": relevant}, ensure_ascii=False) + "\n")
