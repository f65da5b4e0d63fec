"""Synthetic long-document retrieval in LongEmbed's recipe: passkey and needle.

For each target length ``L`` (in tokens of a given tokenizer) a task has ``n_docs`` candidate
documents (100 by default) and ``n_queries`` queries (50), each query with exactly one relevant
document. Everything is generated deterministically from ``seed``.

* **passkey**: a neutral filler ("The grass is green. The sky is blue. ...") repeated to length,
  with ``"{name}'s pass key is {n}. Remember it. {n} is the pass key for {name}."`` inserted at a
  random sentence boundary; the query is ``"what is the passkey for {name}?"``.
* **needle**: a stretch of public-domain prose (see :mod:`search.evaluation.haystack`) starting at
  a random sentence, with one fact about a named person inserted at a random sentence boundary;
  the query is the matching question.

Each document holds a different name, so exactly one document answers each query; the other
``n_docs - n_queries`` documents are distractors built the same way.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from search.evaluation.beir import Dataset, Document
from search.evaluation.haystack import load_haystack

TASKS: tuple[str, ...] = ("passkey", "needle")
DEFAULT_LENGTHS: tuple[int, ...] = (256, 512, 1024, 2048, 4096, 8192, 16384, 32768)

PASSKEY_FILLER: tuple[str, ...] = (
    "The grass is green.",
    "The sky is blue.",
    "The sun is yellow.",
    "Here we go.",
    "There and back again.",
)

_FIRST = (
    "Ada", "Boris", "Clara", "Dmitri", "Elena", "Felix", "Greta", "Hugo", "Irene", "Jonas",
    "Katya", "Leon", "Mara", "Nikolai", "Olga", "Pavel", "Quinn", "Rosa", "Stefan", "Tamara",
    "Ulrich", "Vera", "Walter", "Xenia", "Yuri", "Zoe", "Anton", "Bianca", "Cyril", "Dora",
)  # fmt: skip
_LAST = (
    "Abbott", "Brennan", "Castillo", "Delacroix", "Eriksen", "Fontaine", "Galloway", "Hartmann",
    "Ivanova", "Jansen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov",
    "Quiroga", "Rasmussen", "Sokolov", "Takahashi",
)  # fmt: skip

# (fact, question); {name} is the person, {value} the answer.
_NEEDLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("The best thing {name} ever did in Lisbon was {value}.",
     "What was the best thing {name} ever did in Lisbon?",
     ("eat a custard tart at dawn", "ride the old yellow tram", "sail past the lighthouse",
      "listen to fado in a cellar", "climb to the castle walls")),
    ("The secret ingredient in {name}'s soup is {value}.",
     "What is the secret ingredient in {name}'s soup?",
     ("smoked paprika", "a spoonful of honey", "roasted fennel seeds", "fresh lemon zest",
      "dried porcini mushrooms")),
    ("{name} keeps the spare key to the workshop {value}.",
     "Where does {name} keep the spare key to the workshop?",
     ("under the blue flowerpot", "inside a hollow book", "behind the barometer",
      "in the left boot by the door", "taped beneath the workbench")),
    ("{name}'s favourite instrument to play at midnight is {value}.",
     "What is {name}'s favourite instrument to play at midnight?",
     ("the cello", "a brass trumpet", "the harpsichord", "a wooden flute", "the accordion")),
)  # fmt: skip

CountTokens = Callable[[str], int]


@dataclass(frozen=True)
class _Insert:
    sentence: str
    query: str


def _names(rng: random.Random, n: int) -> list[str]:
    pool = [f"{f} {last}" for f in _FIRST for last in _LAST]
    if n > len(pool):
        raise ValueError(f"at most {len(pool)} documents per length")
    return rng.sample(pool, n)


def _inserts(task: str, rng: random.Random, n: int) -> list[_Insert]:
    out = []
    for name in _names(rng, n):
        if task == "passkey":
            key = rng.randint(10000, 99999)
            out.append(
                _Insert(
                    f"{name}'s pass key is {key}. Remember it. {key} is the pass key for {name}.",
                    f"what is the passkey for {name}?",
                )
            )
        else:
            fact, question, values = rng.choice(_NEEDLES)
            value = rng.choice(values)
            out.append(_Insert(fact.format(name=name, value=value), question.format(name=name)))
    return out


class _Counter:
    """Token counts of sentences, cached (the filler repeats)."""

    def __init__(self, count: CountTokens) -> None:
        self.count = count
        self.cache: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        n = self.cache.get(text)
        if n is None:
            n = self.cache[text] = self.count(text)
        return n


def _cut(sentence: str, tokens: int, count: _Counter) -> str:
    """The longest prefix of whole words of ``sentence`` with at most ``tokens`` tokens."""
    words = sentence.split()
    lo, hi = 0, len(words)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count.count(" ".join(words[:mid])) <= tokens:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo])


def _build_document(
    sentences: Sequence[str],
    start: int,
    insert: str,
    target: int,
    count: _Counter,
    rng: random.Random,
) -> str:
    """Sentences from ``start`` (cyclically) plus ``insert`` at a random boundary, ~``target`` tokens."""
    budget = target - count(insert)
    chosen: list[str] = []
    total = 0
    i = start
    while total < budget:
        s = sentences[i % len(sentences)]
        n = count(s)
        if total + n > budget and total + n - budget > max(2, target // 50):
            s = _cut(s, budget - total, count)  # a long sentence: keep its first words
            n = count(s) if s else 0
            if s:
                chosen.append(s)
                total += n
            break
        chosen.append(s)
        total += n
        i += 1
        if i - start > 10 * target + len(sentences):  # pragma: no cover - zero-token sentences
            raise ValueError("haystack sentences have no tokens")
    at = rng.randint(0, len(chosen))
    chosen.insert(at, insert)
    return " ".join(chosen)


def generate(
    task: str,
    length: int,
    count_tokens: CountTokens,
    *,
    n_docs: int = 100,
    n_queries: int = 50,
    seed: int = 0,
    haystack: str | None = None,
) -> Dataset:
    """One synthetic dataset at one target length.

    Args:
        task: ``passkey`` or ``needle``.
        length: Target document length in tokens (as ``count_tokens`` counts them).
        count_tokens: Tokens in a text, e.g. ``load_encoder("minilm").count_tokens``.
        n_docs: Candidate documents.
        n_queries: Queries (at most ``n_docs``); each has one relevant document.
        seed: Everything is a function of ``(task, length, seed, n_docs, n_queries)``.
        haystack: Text file for the needle task (default: War and Peace when present, else
            the built-in Declaration of Independence).

    Raises:
        ValueError: Unknown task or impossible counts.
    """
    if task not in TASKS:
        raise ValueError(f"unknown synthetic task {task!r}: use {' or '.join(TASKS)}")
    if not 1 <= n_queries <= n_docs:
        raise ValueError("need 1 <= queries <= docs")
    if length < 32:
        raise ValueError("length must be at least 32 tokens")
    rng = random.Random(f"diffsearch-{task}-{length}-{seed}-{n_docs}-{n_queries}")
    if task == "passkey":
        source, sentences = "LongEmbed passkey filler", list(PASSKEY_FILLER)
    else:
        source, sentences = load_haystack(haystack)
    count = _Counter(count_tokens)
    inserts = _inserts(task, rng, n_docs)
    corpus = []
    for i, ins in enumerate(inserts):
        start = 0 if task == "passkey" else rng.randrange(len(sentences))
        text = _build_document(sentences, start, ins.sentence, length, count, rng)
        corpus.append(Document(f"{task}-{length}-d{i:03d}", text))
    targets = sorted(rng.sample(range(n_docs), n_queries))
    queries = {f"{task}-{length}-q{j:03d}": inserts[t].query for j, t in enumerate(targets)}
    qrels = {qid: {corpus[t].doc_id: 1} for qid, t in zip(queries, targets, strict=True)}
    return Dataset(
        name=f"{task}-{length}",
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        split="synthetic",
        source=f"{task} generator (seed {seed}); text: {source}",
        info={"task": task, "length": length, "seed": seed, "haystack": source},
    )
