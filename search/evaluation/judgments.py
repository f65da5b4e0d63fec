"""Your own judged queries over an index you ingested: the file formats and their checks.

JSONL, one query per line (``id`` optional; grades are whole numbers >= 1, default 1; a query
whose ``relevant`` is empty was judged to have no relevant document and is not scored)::

    {"query": "how do I rotate the API keys?", "relevant": ["security/keys.md"]}
    {"id": "q7", "query": "which stores scale past 20k chunks?", "relevant": {"ops/qdrant.md": 2, "faq/*.md": 1}}

TSV, one judgement per line, ``query<TAB>document[<TAB>grade]``; lines with the same query text
are one query; blank lines and lines starting with ``#`` are skipped.

A document is named by its path relative to the ingested folder, as ``diffsearch search``
prints it, or by a glob over those paths (``*`` also crosses ``/``). Every name must match a
document of the index: a typo would otherwise score as a miss. Where two entries of one query
name the same document, the higher grade counts.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from search.errors import SearchError
from search.evaluation.beir import Dataset, jsonl_objects

_GLOB_CHARS = frozenset("*?[")


def load_judgments(path: str | Path, documents: Sequence[str], *, name: str) -> Dataset:
    """Read a judgements file and resolve its document names against an index's documents.

    Args:
        path: A ``.jsonl`` or ``.tsv`` file (other names: JSONL if the first line is an object).
        documents: The index's document ids (relative paths).
        name: The dataset name for reports (the index name).

    Returns:
        A :class:`Dataset` without a corpus: queries and qrels by document id.

    Raises:
        SearchError: Unreadable or malformed file, a name that matches no document, no query.
    """
    p = Path(path).expanduser()
    try:
        raw = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SearchError(f"cannot read the judgements file {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SearchError(f"{p}: not UTF-8 text") from None
    rows = list(_jsonl(raw, p) if _is_jsonl(p, raw) else _tsv(raw, p))
    known = set(documents)
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    unknown: list[str] = []
    for qid, text, refs in rows:
        if not refs:  # nothing relevant: no score can be computed for it
            continue
        judged = qrels.setdefault(qid, {})
        queries[qid] = text
        for ref, grade in refs:
            matches = [ref] if ref in known else _glob(ref, documents)
            if not matches:
                unknown.append(ref)
            for doc in matches:
                judged[doc] = max(grade, judged.get(doc, 0))
    if unknown:
        raise SearchError(_unknown_message(p, name, unknown, documents))
    if not queries:
        raise SearchError(f"{p}: no judged query in the file")
    return Dataset(
        name=name, corpus=[], queries=queries, qrels=qrels, split=p.name, source=str(p.resolve()),
        fingerprint=hashlib.sha256(raw.encode("utf-8")).hexdigest()[:12],
        info={"judgments": str(p.resolve()), "documents": len(known)},
    )  # fmt: skip


Row = tuple[str, str, list[tuple[str, int]]]


def _is_jsonl(path: Path, raw: str) -> bool:
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return True
    if path.suffix.lower() in (".tsv", ".txt"):
        return False
    first = next((line for line in raw.splitlines() if line.strip()), "")
    return first.lstrip().startswith("{")


def _jsonl(raw: str, path: Path) -> Iterator[Row]:
    seen: set[str] = set()
    for n, row in jsonl_objects(raw.splitlines(), path, "'query' and 'relevant'"):
        text = row.get("query")
        if not isinstance(text, str) or not text.strip():
            raise SearchError(f"{path}:{n}: 'query' must be a non-empty string")
        qid = str(row.get("id", f"q{n}"))
        if qid in seen:
            raise SearchError(f"{path}:{n}: query id {qid!r} used twice")
        seen.add(qid)
        yield qid, text.strip(), _relevant(row.get("relevant"), f"{path}:{n}")


def _relevant(value: Any, where: str) -> list[tuple[str, int]]:
    if value == {} or value == []:  # judged: nothing relevant (kept by `diffsearch judge`)
        return []
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [(v, 1) for v in value]
    if isinstance(value, dict) and value:
        out = []
        for doc, grade in value.items():
            if not isinstance(grade, int) or isinstance(grade, bool) or grade < 1:
                raise SearchError(f"{where}: the grade of {doc!r} must be a whole number >= 1")
            out.append((str(doc), grade))
        return out
    raise SearchError(
        f"{where}: 'relevant' must be a document path, a list of them, or {{path: grade}}"
    )


def _tsv(raw: str, path: Path) -> Iterator[Row]:
    grouped: dict[str, list[tuple[str, int]]] = {}
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [x.strip() for x in line.split("\t")]
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise SearchError(f"{path}:{n}: expected 'query<TAB>document[<TAB>grade]'")
        grade = 1
        if len(parts) == 3:
            try:
                grade = int(parts[2])
            except ValueError:
                grade = 0
            if grade < 1:
                raise SearchError(f"{path}:{n}: grade {parts[2]!r} is not a whole number >= 1")
        grouped.setdefault(parts[0], []).append((parts[1], grade))
    for i, (text, refs) in enumerate(grouped.items(), 1):
        yield f"q{i}", text, refs


def _glob(pattern: str, documents: Sequence[str]) -> list[str]:
    if not _GLOB_CHARS & set(pattern):
        return []
    return [d for d in documents if fnmatch.fnmatchcase(d, pattern)]


def _unknown_message(path: Path, index: str, unknown: list[str], documents: Sequence[str]) -> str:
    shown = []
    for ref in dict.fromkeys(unknown):
        close = difflib.get_close_matches(ref, documents, n=1, cutoff=0.6)
        shown.append(f"{ref!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    more = f" and {len(shown) - 5} more" if len(shown) > 5 else ""
    return (
        f"{path}: {len(shown)} document name(s) match no document of index {index!r}: "
        f"{', '.join(shown[:5])}{more}. Name documents by their path relative to the ingested "
        "folder, as `diffsearch search` prints them (globs allowed), and ingest them first."
    )
