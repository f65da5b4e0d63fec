"""Training data: queries, the texts they are matched against, and a held-out dev part.

Three sources, one shape (:class:`TrainingData`):

* a BEIR folder and a qrels split (``from_beir``): documents are embedded as ``diffsearch eval``
  embeds them (title and text, through the same parse and whole-document chunking);
* judged questions over an ingested index (``from_judgments``, the file ``diffsearch judge``
  writes): the index's stored chunks are the texts, relevance is per document;
* a JSONL file of ``{"query", "positive", "negatives"}`` lines (``from_pairs``).

A *unit* is one text the encoder embeds as a document: a whole document, or one chunk of it.
Relevance is judged per document; ``doc_of`` maps each unit to its document.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from train.errors import TrainError


@dataclass(frozen=True)
class Example:
    """One training pair.

    Attributes:
        qid: Query id (its text is ``TrainingData.queries[qid]``).
        positive: The relevant document.
        negatives: Unit ids given as hard negatives by the data (``--pairs``), best first.
    """

    qid: str
    positive: str
    negatives: tuple[str, ...] = ()


@dataclass
class TrainingData:
    """Everything training reads, already checked.

    Attributes:
        name: Short name of the data (the BEIR folder, the index, the pairs file's stem).
        source: Where it came from, for the training card.
        units: Unit id -> the text embedded as a document.
        doc_of: Unit id -> document id (a unit is a whole document or one of its chunks).
        queries: Query id -> text, for training and dev queries.
        qrels: Training queries' relevant documents: ``{qid: {doc_id: grade}}``.
        dev_qrels: Dev queries' relevant documents (empty: no dev part).
        examples: One per (training query, relevant document), in a fixed order.
        skipped: Queries left out because nothing relevant was judged for them.
    """

    name: str
    source: dict[str, Any]
    units: dict[str, str]
    doc_of: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    dev_qrels: dict[str, dict[str, int]]
    examples: list[Example]
    skipped: int = 0
    fingerprint: str = field(default="", init=False)

    def __post_init__(self) -> None:
        if not self.examples:
            raise TrainError(f"{self.source.get('path', self.name)}: no training examples")
        h = hashlib.sha256()
        for part in (
            sorted(self.units.items()),
            sorted((u, d) for u, d in self.doc_of.items() if u != d),
            sorted(self.queries.items()),
            sorted((q, sorted(r.items())) for q, r in self.qrels.items()),
            sorted((q, sorted(r.items())) for q, r in self.dev_qrels.items()),
            [(e.qid, e.positive, list(e.negatives)) for e in self.examples],
        ):
            h.update(json.dumps(part, ensure_ascii=False).encode("utf-8"))
        self.fingerprint = h.hexdigest()[:16]

    def units_of(self) -> dict[str, list[str]]:
        """Document id -> its unit ids."""
        out: dict[str, list[str]] = {}
        for unit, doc in self.doc_of.items():
            out.setdefault(doc, []).append(unit)
        return out

    def summary(self) -> dict[str, Any]:
        """Sizes and the hash, for the training card."""
        return {
            **self.source,
            "name": self.name,
            "hash": self.fingerprint,
            "examples": len(self.examples),
            "train_queries": len(self.qrels),
            "dev_queries": len(self.dev_qrels),
            "documents": len(set(self.doc_of.values())),
            "units": len(self.units),
            "skipped_queries": self.skipped,
        }


def _positives(rels: dict[str, int]) -> dict[str, int]:
    return {d: g for d, g in rels.items() if g > 0}


def split_dev(qids: Sequence[str], fraction: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """``(train, dev)`` query ids: a seeded ``fraction`` of them is held out.

    At least one query is held out when ``fraction > 0`` and one stays for training.

    Raises:
        TrainError: ``fraction`` is not in [0, 1), or too few queries to hold any out.
    """
    if not 0 <= fraction < 1:
        raise TrainError(f"the dev fraction must be in [0, 1), not {fraction}")
    if fraction == 0:
        return list(qids), []
    if len(qids) < 2:
        raise TrainError("too few queries to hold out a dev part; use --dev-fraction 0")
    n_dev = min(len(qids) - 1, max(1, round(fraction * len(qids))))
    order = list(qids)
    random.Random(seed).shuffle(order)
    dev = set(order[:n_dev])
    return [q for q in qids if q not in dev], [q for q in qids if q in dev]


def _examples(qrels: dict[str, dict[str, int]]) -> list[Example]:
    return [Example(q, d) for q, rels in qrels.items() for d in sorted(rels)]


def _whole_texts(corpus: Iterable[Any]) -> dict[str, str]:
    """doc id -> the text ``diffsearch eval`` embeds for it (parse + whole-document chunk)."""
    from ingest.chunk import chunk_document
    from ingest.parse import parse_text

    out: dict[str, str] = {}
    for doc in corpus:
        chunks = chunk_document(parse_text(doc.text, doc.doc_id, title=doc.title or None), "whole")
        if chunks:
            out[doc.doc_id] = chunks[0].text
    return out


def from_beir(
    folder: str | Path,
    split: str = "train",
    *,
    dev_split: str | None = None,
    dev_fraction: float = 0.1,
    dev_seed: int = 0,
) -> TrainingData:
    """Training pairs from a BEIR folder's ``qrels/<split>.tsv``.

    Args:
        folder: BEIR layout (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``).
        split: Training qrels split.
        dev_split: Hold out the queries of this qrels split (they are removed from training).
        dev_fraction: Without ``dev_split``: hold out this share of the training queries.
        dev_seed: Seed of that hold-out.

    Raises:
        TrainError: Missing split or files, malformed lines, no usable pair.
    """
    from search.errors import SearchError
    from search.evaluation.beir import load_beir, read_qrels

    root = Path(folder).expanduser()
    try:
        ds = load_beir(root, split)
        dev_raw = read_qrels(_split_path(root, dev_split)) if dev_split else None
    except SearchError as exc:
        raise TrainError(str(exc)) from None
    units = _whole_texts(ds.corpus)
    skipped = 0
    qrels: dict[str, dict[str, int]] = {}
    for qid in ds.queries:
        rels = {d: g for d, g in _positives(ds.qrels.get(qid, {})).items() if d in units}
        if rels:
            qrels[qid] = rels
        else:
            skipped += 1
    queries = dict(ds.queries)
    if dev_raw is not None:
        all_queries = _beir_queries(root)
        dev_qrels = {
            q: {d: g for d, g in _positives(r).items() if d in units}
            for q, r in dev_raw.items()
            if q in all_queries
        }
        dev_qrels = {q: r for q, r in dev_qrels.items() if r}
        if not dev_qrels:
            raise TrainError(f"{root}: no query of qrels/{dev_split}.tsv has a relevant document")
        qrels = {q: r for q, r in qrels.items() if q not in dev_qrels}
        queries.update({q: all_queries[q] for q in dev_qrels})
        dev_desc = f"qrels split {dev_split!r}"
    else:
        train_ids, dev_ids = split_dev(list(qrels), dev_fraction, dev_seed)
        dev_qrels = {q: qrels[q] for q in dev_ids}
        qrels = {q: qrels[q] for q in train_ids}
        dev_desc = f"{dev_fraction:g} of the {split!r} queries (seed {dev_seed})"
    return TrainingData(
        name=ds.name, source={"kind": "beir", "path": str(root.resolve()), "split": split, "dev": dev_desc},
        units=units, doc_of={u: u for u in units}, queries=queries, qrels=qrels,
        dev_qrels=dev_qrels, examples=_examples(qrels), skipped=skipped,
    )  # fmt: skip


def _split_path(root: Path, split: str | None) -> Path:
    path = root / "qrels" / f"{split}.tsv"
    if not path.is_file():
        have = sorted(p.stem for p in (root / "qrels").glob("*.tsv"))
        raise TrainError(
            f"{root} has no qrels split {split!r} (splits here: {', '.join(have) or 'none'})"
        )
    return path


def _beir_queries(root: Path) -> dict[str, str]:
    from search.evaluation.beir import jsonl_objects

    path = root / "queries.jsonl"
    out: dict[str, str] = {}
    with path.open(encoding="utf-8") as fh:
        for _, row in jsonl_objects(fh, path, "an '_id'"):
            if "_id" in row and str(row.get("text") or "").strip():
                out[str(row["_id"])] = str(row["text"])
    return out


def _text_id(text: str) -> str:
    return "t" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _texts(value: Any, where: str, what: str, required: bool) -> list[str]:
    if value is None or value == [] or value == "":
        if required:
            raise TrainError(f"{where}: '{what}' is missing or empty: every query needs a positive")
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(t, str) and t.strip() for t in items):
        raise TrainError(f"{where}: '{what}' must be a non-empty string or a list of them")
    return [t.strip() for t in items]


def from_pairs(path: str | Path, *, dev_fraction: float = 0.1, dev_seed: int = 0) -> TrainingData:
    """Training pairs from JSONL lines ``{"query", "positive", "negatives"}``.

    ``positive`` is a text or a list of texts; ``negatives`` (optional) a list of texts used as
    hard negatives before any mined ones; ``id`` (optional) names the query. The texts of all
    lines form the corpus that mining and the dev evaluation search.

    Raises:
        TrainError: Unreadable file, a line that is not such an object, a query with no positive.
    """
    from search.errors import SearchError
    from search.evaluation.beir import jsonl_objects

    p = Path(path).expanduser()
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TrainError(f"cannot read {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TrainError(f"{p}: not UTF-8 text") from None
    units: dict[str, str] = {}
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    given: dict[str, tuple[str, ...]] = {}
    try:
        rows = list(jsonl_objects(lines, p, "'query' and 'positive'"))
    except SearchError as exc:
        raise TrainError(str(exc)) from None
    for n, row in rows:
        where = f"{p}:{n}"
        query = row.get("query")
        if not isinstance(query, str) or not query.strip():
            raise TrainError(f"{where}: 'query' must be a non-empty string")
        qid = str(row.get("id", f"l{n}"))
        if qid in queries:
            raise TrainError(f"{where}: query id {qid!r} used twice")
        positives = _texts(row.get("positive"), where, "positive", True)
        negatives = _texts(row.get("negatives"), where, "negatives", False)
        for text in positives + negatives:
            units.setdefault(_text_id(text), text)
        queries[qid] = query.strip()
        qrels[qid] = {_text_id(t): 1 for t in positives}
        given[qid] = tuple(
            dict.fromkeys(_text_id(t) for t in negatives if _text_id(t) not in qrels[qid])
        )
    if not queries:
        raise TrainError(f"{p}: no training pairs in the file")
    train_ids, dev_ids = split_dev(list(qrels), dev_fraction, dev_seed)
    examples = [Example(q, d, given[q]) for q in train_ids for d in sorted(qrels[q])]
    return TrainingData(
        name=p.stem, source={"kind": "pairs", "path": str(p.resolve()),
                             "dev": f"{dev_fraction:g} of the queries (seed {dev_seed})"},
        units=units, doc_of={u: u for u in units}, queries=queries,
        qrels={q: qrels[q] for q in train_ids}, dev_qrels={q: qrels[q] for q in dev_ids},
        examples=examples,
    )  # fmt: skip


def from_judgments(
    path: str | Path, index: str, store: Any, *, dev_fraction: float = 0.1, dev_seed: int = 0
) -> TrainingData:
    """Training pairs from your judged questions over an index you ingested.

    The texts are the index's stored chunks (what its encoders embedded); a relevant document
    with several chunks is represented by the chunk the mining encoder ranks highest for the
    question. Questions judged to have nothing relevant are skipped.

    Args:
        path: The judgements file (JSONL as ``diffsearch judge`` writes it, or TSV).
        index: The index the documents were ingested into.
        store: An open :class:`search.store.Store`.

    Raises:
        TrainError: No such index, a malformed file, names that match no document.
    """
    from search.errors import SearchError
    from search.evaluation.judgments import load_judgments

    try:
        info = store.index_info(index)
        if not info.encoders:
            raise TrainError(f"index {index!r} has no encoders yet")
        docs = [d.doc_id for d in store.documents(index)]
        ds = load_judgments(path, docs, name=index)
        chunks = store.stored_chunks(index, next(iter(info.encoders)), docs)
    except SearchError as exc:
        raise TrainError(str(exc)) from None
    units: dict[str, str] = {}
    doc_of: dict[str, str] = {}
    for doc, payloads in chunks.items():
        for c in payloads:
            if str(c.get("text") or "").strip():
                unit = f"{doc}#{int(c['chunk'])}" if len(payloads) > 1 else doc
                units[unit], doc_of[unit] = str(c["text"]), doc
    judged = {q: _positives(r) for q, r in ds.qrels.items()}
    qrels = {q: r for q, r in judged.items() if r}
    train_ids, dev_ids = split_dev(list(qrels), dev_fraction, dev_seed)
    return TrainingData(
        name=index, source={"kind": "judgments", "path": str(Path(path).expanduser().resolve()),
                            "index": index, "store": store.location,
                            "dev": f"{dev_fraction:g} of the questions (seed {dev_seed})"},
        units=units, doc_of=doc_of, queries=dict(ds.queries),
        qrels={q: qrels[q] for q in train_ids}, dev_qrels={q: qrels[q] for q in dev_ids},
        examples=_examples({q: qrels[q] for q in train_ids}),
        skipped=len(judged) - len(qrels),
    )  # fmt: skip
