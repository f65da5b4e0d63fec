"""BM25 as an encoder: sparse term vectors, scored inside Qdrant with its IDF modifier.

BM25 (Robertson et al.; Lucene's form) scores a document ``d`` for a query ``q`` as::

    sum over terms t of q:  idf(t) * tf(t, d) / (tf(t, d) + k1 * (1 - b + b * |d| / avg_len))
    idf(t) = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))

The document side (term frequency with saturation ``k1`` and length normalisation ``b``) is a
pure function of the text, so it is written as the weights of a sparse vector. The corpus side
(``N`` points, ``n(t)`` of them holding the term) changes with every document added, so it is
left to Qdrant: the sparse vector is declared with ``modifier=idf``, and Qdrant multiplies each
query term by exactly the ``idf`` above at query time, over the collection as it is then (Edge,
qdrant-client's local mode and a server compute the same). A query vector is the query's terms
with their counts (a repeated term counts twice, as in a Lucene boolean query); the dot product
with a document's weights times the IDFs is the BM25 score.

``avg_len`` (the mean document length in terms) is the one corpus statistic fixed in advance:
it is recorded with the index, so every vector of an index uses the same one and later documents
do not rescale earlier ones. Lucene takes the live mean instead; see the README for what this
costs on SciFact and NFCorpus.

Analysis follows Lucene's ``EnglishAnalyzer`` (what Elasticsearch's ``english`` analyzer, the BEIR
BM25 baseline, runs): words, lower-cased, English possessives dropped, Lucene's 33 English stop
words removed, Porter-stemmed (PyStemmer's C Snowball implementation of Porter's algorithm).
Terms become sparse indices by CRC-32 of the stem (2^32 buckets: a collision merges two rare
stems, about one pair in a 100k-term vocabulary). Nothing here imports torch.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import Stemmer

from encoders.spec import EncoderSpec

#: The encoder name an index keys BM25 vectors by; ``-e bm25``.
BM25_NAME = "bm25"
#: The sparse vector's name inside a Qdrant collection.
SPARSE_VECTOR = "bm25"
#: Elasticsearch's (and so the BEIR baseline's) defaults.
K1 = 1.2
B = 0.75
#: Mean document length in terms (after stop words), fixed per index and recorded with it: a
#: round figure below a 256-token chunk of prose (~130 terms). Measured means: SciFact 162,
#: NFCorpus 176; using them instead moves nDCG@10 by -0.006 and -0.006 (README).
AVG_LEN = 100.0
STEMMER = "porter"

#: Lucene's ``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`` (also Elasticsearch's ``_english_``).
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    ]
)

# Letters/digits, joined across an inner apostrophe or dot (don't, u.s, 0.05), roughly the
# words of Unicode's word-break rules that Lucene's StandardTokenizer implements.
_WORD = re.compile(r"[^\W_]+(?:['’.][^\W_]+)*")
_POSSESSIVE = re.compile(r"['’]s$")


@dataclass(frozen=True)
class SparseVector:
    """A sparse vector: strictly increasing ``indices`` with their ``values`` (same length)."""

    indices: tuple[int, ...]
    values: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.indices)

    def as_dict(self) -> dict[int, float]:
        return dict(zip(self.indices, self.values, strict=True))


@dataclass(frozen=True)
class SparseInfo:
    """What an index records about its BM25 vectors (the fields of ``EncoderInfo`` and more).

    Attributes:
        kind: ``"sparse"``: what the store keys its sparse handling by.
        k1, b, avg_len: BM25 parameters baked into the document weights.
        analyzer: Tokeniser, stop words and stemmer, with the stemmer library's version.
    """

    name: str
    family: str
    model_id: str
    revision: str
    dim: int
    attention: str
    pooling: str
    max_tokens: int
    long_policy: str
    spec: dict[str, Any]
    kind: str
    k1: float
    b: float
    avg_len: float
    analyzer: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_sparse(info: Any) -> bool:
    """Whether a recorded encoder (``EncoderInfo`` dict) holds sparse vectors."""
    return bool(info) and info.get("kind") == "sparse"


class Analyzer:
    """Text to BM25 terms (see the module doc). Thread-safe: the stemmer is per thread."""

    def __init__(self, stemmer: str = STEMMER) -> None:
        self.stemmer_name = stemmer
        self._local = threading.local()

    def _stemmer(self) -> Any:
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = self._local.stemmer = Stemmer.Stemmer(self.stemmer_name)
        return stemmer

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of every word (stop words included): the chunker's tokens."""
        return [m.span() for m in _WORD.finditer(text)]

    def terms(self, text: str) -> list[str]:
        """The stemmed, stop-worded terms of ``text``, in order."""
        words = [_POSSESSIVE.sub("", w) for w in _WORD.findall(text.lower())]
        kept = [w for w in words if w and w not in STOP_WORDS]
        return list(self._stemmer().stemWords(kept))


def term_id(term: str) -> int:
    """A term's sparse index: CRC-32 of its UTF-8 bytes (stable across processes)."""
    return zlib.crc32(term.encode("utf-8"))


def _sparse(weights: dict[int, float]) -> SparseVector:
    keys = sorted(weights)
    return SparseVector(tuple(keys), tuple(float(weights[k]) for k in keys))


class BM25Encoder:
    """The ``bm25`` retriever behind the encoder interface (sparse vectors instead of dense).

    Args:
        k1: Term-frequency saturation.
        b: Length normalisation (0: none, 1: full).
        avg_len: Mean document length in terms that ``b`` normalises against.
    """

    name = BM25_NAME
    family = "sparse"
    dim = 0
    attention = "none"
    pooling = "none"
    max_tokens = 0
    long_policy = "none"

    def __init__(self, k1: float = K1, b: float = B, avg_len: float = AVG_LEN) -> None:
        self.k1, self.b, self.avg_len = float(k1), float(b), float(avg_len)
        self.analyzer = Analyzer()
        self.spec = EncoderSpec(BM25_NAME)

    @property
    def info(self) -> SparseInfo:
        import importlib.metadata

        version = importlib.metadata.version("PyStemmer")
        return SparseInfo(
            name=self.name, family=self.family, model_id=BM25_NAME, revision=f"PyStemmer-{version}",
            dim=0, attention="none", pooling="none", max_tokens=0, long_policy="none",
            spec=self.spec.recorded(), kind="sparse", k1=self.k1, b=self.b, avg_len=self.avg_len,
            analyzer=f"words+lucene-english-stop+{self.analyzer.stemmer_name}",
        )  # fmt: skip

    def document_weights(self, terms: Sequence[str]) -> dict[int, float]:
        """BM25 weight of each term of one document, by sparse index (IDF left to Qdrant)."""
        counts = Counter(term_id(t) for t in terms)
        norm = self.k1 * (1.0 - self.b + self.b * len(terms) / self.avg_len)
        return {i: tf / (tf + norm) for i, tf in counts.items()}

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        """One sparse vector per text (a text with no terms gives an empty one)."""
        return [_sparse(self.document_weights(self.analyzer.terms(t))) for t in texts]

    def encode_queries(
        self, texts: Sequence[str], instruction: str | None = None
    ) -> list[SparseVector]:
        """One sparse vector per query: its terms with their counts (instructions don't apply)."""
        del instruction
        return [
            _sparse({i: float(n) for i, n in Counter(map(term_id, self.analyzer.terms(t))).items()})
            for t in texts
        ]

    def count_tokens(self, text: str) -> int:
        return len(self.analyzer.spans(text))

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return self.analyzer.spans(text)


_ENCODER: BM25Encoder | None = None
_LOCK = threading.Lock()


def load_bm25() -> BM25Encoder:
    """The process's BM25 encoder (stateless apart from its stemmers; built once)."""
    global _ENCODER
    with _LOCK:
        if _ENCODER is None:
            _ENCODER = BM25Encoder()
        return _ENCODER
