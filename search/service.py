"""The search service: the one place that embeds a query and asks Qdrant.

The command line, the web UI, the LangChain retriever and the evaluation harness all call it.
Encoders are loaded once per process (``encoders.load_encoder`` caches them), so a query on a
warm process costs one query embedding and one Qdrant call per encoder.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from search.compare import Agreement, agreement
from search.errors import QueryError
from search.filters import Filters, resolve_filters

if TYPE_CHECKING:
    import numpy as np

    from encoders.spec import ModelPaths
    from search.records import Hit, IndexInfo, Where
    from search.vectorstore import VectorStore

Level = Literal["doc", "chunk"]
EncoderLoader = Callable[[dict[str, Any]], Any]


# EncoderInfo fields that decide what the vectors mean; a rebuilt encoder must agree on all of
# them (not model_id or revision: the same model may sit in another folder on this machine).
_MUST_MATCH = ("name", "dim", "attention", "pooling", "max_tokens", "long_policy")


def load_index_encoder(info: dict[str, Any], paths: ModelPaths | None = None) -> Any:
    """Rebuild the encoder an index recorded, from its recorded spec (cached per process).

    Args:
        info: The index's entry for the encoder (``EncoderInfo.as_dict()``; indexes written
            before specs were recorded are rebuilt from the info's name and model id).
        paths: Folders the user named now (``--weights`` / ``--adapter``); they win over the
            folders the index recorded.

    Raises:
        EncoderError: The weights are missing, or the encoder built differs from the recorded
            one in a setting that changes the vectors.
    """
    from encoders import EncoderError, load_encoder, spec_from_record
    from encoders.spec import identity_diff

    encoder = load_encoder(spec_from_record(info, paths))
    built = encoder.info.as_dict()
    diff = [(k, info[k], built[k]) for k in _MUST_MATCH
            if k in info and k in built and info[k] != built[k]]  # fmt: skip
    recorded, spec = info.get("spec"), getattr(encoder, "spec", None)
    if isinstance(recorded, dict) and spec is not None:  # e.g. an adapter that is not found now
        diff += identity_diff(recorded, spec)
    if diff:
        said = ", ".join(f"{k} {a!r} in the index vs {b!r} now" for k, a, b in diff)
        raise EncoderError(
            f"encoder {info.get('name')!r} built here differs from the one the index was "
            f"written with ({said}): pass the right --weights / --adapter NAME=DIR"
        )
    return encoder


@dataclass(frozen=True)
class RankedHit:
    """A hit with its 1-based rank and the key comparisons use (doc id or chunk id)."""

    rank: int
    key: str
    hit: Hit

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self.hit)
        data.pop("payload", None)
        return {"rank": self.rank, "key": self.key, **data}


@dataclass(frozen=True)
class SearchResult:
    """One encoder's answer to one query."""

    query: str
    index: str
    encoder: dict[str, Any]
    level: Level
    k: int
    hits: tuple[RankedHit, ...]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        return [h.key for h in self.hits]

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "index": self.index,
            "encoder": self.encoder,
            "level": self.level,
            "k": self.k,
            "seconds": self.seconds,
            "hits": [h.as_dict() for h in self.hits],
        }


@dataclass(frozen=True)
class Comparison:
    """Two encoders' answers to the same query, and how far they agree."""

    left: SearchResult
    right: SearchResult
    agreement: Agreement

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.left.query,
            "index": self.left.index,
            "level": self.left.level,
            "k": self.left.k,
            "left": self.left.as_dict(),
            "right": self.right.as_dict(),
            "agreement": self.agreement.as_dict(),
        }


def _check_query(query: str, k: int) -> str:
    if not isinstance(query, str) or not query.strip():
        raise QueryError("the query is empty: type a question or some keywords")
    if not isinstance(k, int) or k < 1:
        raise QueryError(f"k must be a whole number >= 1, not {k!r}")
    return query.strip()


def _check_level(level: str) -> Level:
    if level not in ("doc", "chunk"):
        raise QueryError(f"level must be 'doc' or 'chunk', not {level!r}")
    return level  # type: ignore[return-value]


class SearchService:
    """Embeds queries with an index's encoders and queries the store.

    Args:
        store: An open :class:`search.vectorstore.VectorStore` (``search.store.Store``).
        encoder_loader: Turns an index's recorded encoder info into an encoder; the default
            rebuilds it from its recorded spec (:func:`load_index_encoder`).
        paths: Weights and adapter folders the user named (``--weights NAME=DIR``), for the
            default loader.
    """

    def __init__(
        self,
        store: VectorStore,
        encoder_loader: EncoderLoader | None = None,
        paths: ModelPaths | None = None,
    ) -> None:
        self.store = store
        self.paths = paths
        self._load_part = encoder_loader or functools.partial(load_index_encoder, paths=paths)

    def _load(self, info: dict[str, Any]) -> Any:
        """The encoder of a recorded ``info``; a hybrid retriever's embeds queries both ways."""
        if info.get("kind") == "hybrid":
            from search.hybrid import HybridEncoder

            return HybridEncoder(info, self._load_part)
        return self._load_part(info)

    # -- catalogue ---------------------------------------------------------------------------

    def indexes(self) -> list[IndexInfo]:
        return self.store.list_indexes()

    def index(self, name: str) -> IndexInfo:
        return self.store.index_info(name)

    def drop(self, name: str) -> IndexInfo:
        info = self.store.index_info(name)  # raises IndexNotFoundError with the list
        self.store.drop_index(name)
        return info

    def document(self, index: str, doc_id: str) -> list[Hit]:
        """All chunks of one document, in order (only what the index holds)."""
        return self.store.document_chunks(index, doc_id)

    def encoder_info(self, index: str, encoder: str) -> dict[str, Any]:
        """The index's record of ``encoder``: from the store's cache, so a warm query costs one
        embedding and one engine call (no manifest read)."""
        return self.store.encoder_info(index, encoder)

    def encoder(self, index: str, encoder: str) -> Any:
        """The loaded encoder behind ``encoder`` in ``index`` (cached per process)."""
        return self._load(self.encoder_info(index, encoder))

    # -- queries -----------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        index: str,
        encoder: str,
        k: int = 10,
        level: str = "doc",
        instruction: str | None = None,
        where: Filters | None = None,
    ) -> SearchResult:
        """Top ``k`` documents (``level="doc"``, best chunk each) or chunks for ``query``."""
        query = _check_query(query, k)
        lvl = _check_level(level)
        info = self.encoder_info(index, encoder)
        t0 = time.perf_counter()
        vector = self._load(info).encode_queries([query], instruction=instruction)[0]
        resolved = resolve_filters(self.store, index, where)
        return self._query(query, index, info, vector, k, lvl, resolved, time.perf_counter() - t0)

    def search_many(
        self,
        queries: Sequence[str],
        *,
        index: str,
        encoder: str,
        k: int = 10,
        level: str = "doc",
        instruction: str | None = None,
        where: Filters | None = None,
    ) -> list[SearchResult]:
        """Like :meth:`search` for many queries, embedded in one batched call (evaluation)."""
        cleaned = [_check_query(q, k) for q in queries]
        lvl = _check_level(level)
        info = self.encoder_info(index, encoder)
        t0 = time.perf_counter()
        vectors = (
            self._load(info).encode_queries(cleaned, instruction=instruction) if cleaned else []
        )
        per_query = (time.perf_counter() - t0) / max(1, len(cleaned))
        resolved = resolve_filters(self.store, index, where)
        return [
            self._query(q, index, info, v, k, lvl, resolved, per_query)
            for q, v in zip(cleaned, vectors, strict=True)
        ]

    def compare(
        self,
        query: str,
        *,
        index: str,
        encoders: Sequence[str],
        k: int = 10,
        level: str = "doc",
        instruction: str | None = None,
        where: Filters | None = None,
        p: float = 0.9,
    ) -> Comparison:
        """Run ``query`` with two encoders (embedded concurrently) and measure agreement."""
        if len(encoders) != 2:
            raise QueryError(f"compare takes exactly two encoders, got {len(encoders)}")
        if encoders[0] == encoders[1]:
            raise QueryError("compare needs two different encoders")
        query = _check_query(query, k)
        lvl = _check_level(level)
        infos = [self.encoder_info(index, name) for name in encoders]
        models = [self._load(info) for info in infos]  # load (or fetch cached) before timing

        def embed(model: Any) -> tuple[np.ndarray, float]:
            t0 = time.perf_counter()
            return model.encode_queries([query], instruction=instruction)[
                0
            ], time.perf_counter() - t0

        with ThreadPoolExecutor(max_workers=2) as pool:
            embedded = list(pool.map(embed, models))
        resolved = resolve_filters(self.store, index, where)
        left, right = (
            self._query(query, index, info, vec, k, lvl, resolved, secs)
            for info, (vec, secs) in zip(infos, embedded, strict=True)
        )
        return Comparison(left=left, right=right, agreement=agreement(left.keys, right.keys, k, p))

    def _query(
        self,
        query: str,
        index: str,
        info: dict[str, Any],
        vector: np.ndarray,
        k: int,
        level: Level,
        resolved: Where | None,
        embed_seconds: float,
    ) -> SearchResult:
        t0 = time.perf_counter()
        if resolved is not None and resolved.doc_ids == ():
            hits: list[Hit] = []  # the source glob matched no document
        else:
            hits = self.store.query(
                index, str(info["name"]), vector, k, group_by_doc=level == "doc", where=resolved
            )
        ranked = tuple(
            RankedHit(rank=i + 1, key=h.doc_id if level == "doc" else h.id, hit=h)
            for i, h in enumerate(hits[:k])
        )
        return SearchResult(
            query=query,
            index=index,
            encoder=info,
            level=level,
            k=k,
            hits=ranked,
            seconds={"embed": embed_seconds, "search": time.perf_counter() - t0},
        )
