"""Reading BEIR-layout folders: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.

The same layout serves BEIR sets (SciFact, NFCorpus, ...) and the long-document QMSum set.
A corpus line is ``{"_id", "title", "text"}`` (title optional), a query line ``{"_id", "text"}``,
and a qrels file is tab-separated ``query-id corpus-id score`` with a header line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search.errors import SearchError


@dataclass(frozen=True)
class Document:
    """One corpus entry."""

    doc_id: str
    text: str
    title: str = ""


@dataclass
class Dataset:
    """An evaluation set: documents, the queries of one split and their judgements.

    Attributes:
        name: Short name, used in index names and report titles (the folder name).
        corpus: Documents in file order.
        queries: ``{query_id: text}`` for the queries that have qrels in this split.
        qrels: ``{query_id: {doc_id: relevance}}``.
        split: The qrels split, e.g. ``test``.
        source: Where it was read from (or how it was generated).
        fingerprint: Short hash of the corpus content; the eval index is reused while it matches.
        info: Free-form facts for the report (e.g. the synthetic length).
    """

    name: str
    corpus: list[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    split: str = "test"
    source: str = ""
    fingerprint: str = ""
    info: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = corpus_fingerprint(self.corpus)


def corpus_fingerprint(corpus: list[Document]) -> str:
    """12 hex digits of SHA-256 over ids, titles and texts."""
    h = hashlib.sha256()
    for d in corpus:
        for part in (d.doc_id, d.title, d.text):
            h.update(part.encode("utf-8"))
            h.update(b"\0")
    return h.hexdigest()[:12]


def jsonl_objects(
    lines: Iterable[str], path: Path, wanted: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a JSONL file.

    Raises:
        SearchError: A line is not JSON, or not an object (``wanted`` says what it should hold).
    """
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SearchError(f"{path}:{n}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise SearchError(f"{path}:{n}: expected an object with {wanted}")
        yield n, row


def _read_jsonl(path: Path) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8") as fh:
        for n, row in jsonl_objects(fh, path, "an '_id'"):
            if "_id" not in row:
                raise SearchError(f"{path}:{n}: expected an object with an '_id'")
            yield row


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``{query_id: {doc_id: relevance}}`` from a BEIR qrels TSV (header line optional)."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            parts = line.rstrip("\n").split("\t")
            if not line.strip():
                continue
            if len(parts) == 4:  # TREC format: qid 0 docid rel
                parts = [parts[0], parts[2], parts[3]]
            if len(parts) != 3:
                raise SearchError(f"{path}:{n}: expected 'query-id<TAB>corpus-id<TAB>score'")
            try:
                rel = int(float(parts[2]))
            except ValueError:
                if n == 1:
                    continue  # header
                raise SearchError(f"{path}:{n}: score {parts[2]!r} is not a number") from None
            qrels.setdefault(parts[0], {})[parts[1]] = rel
    return qrels


def load_beir(
    folder: str | Path, split: str = "test", *, max_queries: int | None = None
) -> Dataset:
    """Load a BEIR-layout folder; only queries judged in ``split`` are kept, in file order.

    Args:
        folder: Folder with ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.
        split: Qrels split.
        max_queries: Keep only the first N judged queries (quick checks).

    Raises:
        SearchError: A file is missing or malformed.
    """
    root = Path(folder).expanduser()
    corpus_path, queries_path = root / "corpus.jsonl", root / "queries.jsonl"
    qrels_path = root / "qrels" / f"{split}.tsv"
    for p in (corpus_path, queries_path, qrels_path):
        if not p.is_file():
            splits = (
                sorted(x.stem for x in (root / "qrels").glob("*.tsv"))
                if (root / "qrels").is_dir()
                else []
            )
            hint = f" (splits here: {', '.join(splits)})" if splits and p == qrels_path else ""
            raise SearchError(
                f"{p} not found: a BEIR folder needs corpus.jsonl, queries.jsonl and qrels/<split>.tsv{hint}"
            )
    corpus = []
    seen: set[str] = set()
    for row in _read_jsonl(corpus_path):
        doc_id = str(row["_id"])
        if doc_id in seen:
            continue
        seen.add(doc_id)
        corpus.append(Document(doc_id, str(row.get("text") or ""), str(row.get("title") or "")))
    qrels = read_qrels(qrels_path)
    queries: dict[str, str] = {}
    for row in _read_jsonl(queries_path):
        qid = str(row["_id"])
        if qid in qrels and str(row.get("text") or "").strip():
            queries[qid] = str(row["text"])
    if max_queries is not None:
        queries = dict(list(queries.items())[:max_queries])
    qrels = {q: r for q, r in qrels.items() if q in queries}
    if not queries:
        raise SearchError(f"{root}: no query in queries.jsonl has judgements in qrels/{split}.tsv")
    return Dataset(
        name=root.resolve().name, corpus=corpus, queries=queries, qrels=qrels, split=split,
        source=str(root.resolve()),
    )  # fmt: skip


def document_text(doc: Document) -> str:
    """A document's title and text joined by a blank line (ingest embeds the title first too)."""
    if doc.title and doc.text:
        return f"{doc.title}\n\n{doc.text}"
    return doc.title or doc.text
