"""Evaluation runs through the same ingest and search code as user documents.

A dataset's corpus becomes an index (``eval-<dataset>-<chunking>``, plus the chunk size when
it is not the default; ``-windows`` is appended under the windows long-input policy) written by :func:`ingest.pipeline.ingest_records`, which
skips documents whose content is unchanged, so a second run only embeds the queries. Queries go
through :meth:`search.service.SearchService.search_many` (one batched query-embedding call per
encoder), the hits are scored with :mod:`search.evaluation.metrics`, and every other encoder is
compared with the first by paired tests over queries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from encoders.spec import ModelPaths
from ingest.chunk import CHUNKINGS, DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP
from search.errors import SearchError
from search.evaluation.beir import Dataset, document_text, load_beir
from search.evaluation.metrics import DEFAULT_METRICS, SYNTHETIC_METRICS, evaluate, mean_scores
from search.evaluation.report import (
    DatasetResult,
    EncoderResult,
    Hits,
    write_dataset,
    write_synthetic,
)
from search.evaluation.significance import DEFAULT_RESAMPLES
from search.evaluation.synthetic import generate
from search.hybrid import hybrid_name, hybrid_parts, is_hybrid

if TYPE_CHECKING:
    from search.store import Store

Log = Callable[[str], None]

#: The chunkings an evaluation corpus can be ingested with (``ingest.chunk.CHUNKINGS`` less
#: ``title``: BEIR documents have no headings). The CLI's ``--chunking`` and the web UI offer these.
EVAL_CHUNKINGS: tuple[str, ...] = tuple(c for c in CHUNKINGS if c != "title")


def _quiet(_: str) -> None:
    return None


@dataclass
class EvalOptions:
    """How a run is done.

    Attributes:
        encoders: Encoder names; the first is the baseline of every comparison.
        chunking: ``whole`` (one vector per document), ``tokens`` (token windows, the best
            chunk scores the document) or ``late`` (the same windows, late-chunked: embedded in
            one pass over their document).
        chunk_tokens: Tokens per chunk (``tokens`` and ``late``).
        overlap: Tokens shared by consecutive chunks.
        long_policy: ``truncate`` or ``windows`` for documents longer than the encoder's input.
        k: Documents retrieved per query (100: enough for Recall@100 and MAP@100).
        metrics: Metric names (see :func:`search.evaluation.metrics.parse_metric`).
        instruction: Query instruction (default: the encoder preset's own).
        query_batch: Queries embedded per ``search_many`` call.
        resamples: Bootstrap resamples of the paired test.
        seed: Bootstrap seed.
        index_prefix: Prefix of the evaluation index names.
        extra: More settings recorded with the results.
        model_paths: Weights and adapter folders the user named (``--weights NAME=DIR``).
        embedder: Where the corpus is embedded (an ``ingest.embed.EmbedderFactory``, e.g.
            ``ingest.distributed.ray_embedder()``; default: in this process).
    """

    encoders: list[str]
    chunking: str = "whole"
    long_policy: str = "truncate"
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS
    overlap: int = DEFAULT_OVERLAP
    k: int = 100
    metrics: Sequence[str] = DEFAULT_METRICS
    instruction: str | None = None
    query_batch: int = 512
    resamples: int = DEFAULT_RESAMPLES
    seed: int = 0
    index_prefix: str = "eval"
    extra: dict[str, Any] = field(default_factory=dict)
    model_paths: ModelPaths = field(default_factory=ModelPaths)
    embedder: Any = None

    def __post_init__(self) -> None:
        if not self.encoders:
            raise SearchError("give at least one encoder (-e NAME)")
        if len(set(self.encoders)) != len(self.encoders):
            raise SearchError("each encoder may be given once")
        if self.chunking not in EVAL_CHUNKINGS:
            raise SearchError(
                f"chunking must be one of {', '.join(EVAL_CHUNKINGS)}, not {self.chunking!r}"
            )
        if self.chunking != "whole" and not 0 <= self.overlap < self.chunk_tokens:
            raise SearchError(
                f"need 0 <= overlap < chunk tokens (got {self.overlap} and {self.chunk_tokens})"
            )
        if self.long_policy not in ("truncate", "windows"):
            raise SearchError(
                f"long policy must be 'truncate' or 'windows', not {self.long_policy!r}"
            )
        if self.k < 1:
            raise SearchError("k must be at least 1")

    def index_name(self, dataset: str) -> str:
        """``eval-<dataset>-<chunking>[-<N>o<overlap>][-windows]``, Qdrant-safe characters.

        The chunk size is in the name unless it is the default (256 tokens, overlap 32).
        """
        safe = (
            "".join(c if c.isalnum() or c in "-_." else "-" for c in dataset).strip("-.") or "data"
        )
        name = f"{self.index_prefix}-{safe}-{self.chunking}"
        if self.chunking != "whole" and (self.chunk_tokens, self.overlap) != (
            DEFAULT_CHUNK_TOKENS,
            DEFAULT_OVERLAP,
        ):
            name += f"-{self.chunk_tokens}o{self.overlap}"
        if self.long_policy != "truncate":
            name += f"-{self.long_policy}"
        return name[:64]


class Evaluator:
    """Ingests datasets into a store and scores encoders on them.

    Args:
        store: An open :class:`search.store.Store` (embedded or server).
        options: Encoders and settings.
        log: Progress lines (default: silent).
        progress: Show ingest progress bars (only on a terminal).
    """

    def __init__(
        self, store: Store, options: EvalOptions, log: Log = _quiet, progress: bool | None = None
    ) -> None:
        from search.service import SearchService

        self.store = store
        self.options = options
        self.service = SearchService(store, paths=options.model_paths)
        self.log = log
        self.progress = progress

    def encoder(self, name: str) -> Any:
        """The loaded encoder ``name`` under this run's long-input policy (cached per process)."""
        from encoders import EncoderSpec, load_encoder

        spec = EncoderSpec(name, long_policy=self.options.long_policy)
        return load_encoder(self.options.model_paths.apply(spec))

    def ingest(self, dataset: Dataset, index: str, encoder: str) -> dict[str, Any]:
        """Write the corpus into ``index`` with one encoder; unchanged documents are skipped."""
        from ingest.pipeline import ingest_records
        from ingest.report import Record

        records = (
            Record(doc_id=d.doc_id, text=d.text, title=d.title or None)
            for d in dataset.corpus
            if document_text(d).strip()
        )
        t0 = time.perf_counter()
        report = ingest_records(
            records,
            index=index,
            encoders=[encoder],
            store=self.store,
            chunking=self.options.chunking,
            chunk_tokens=self.options.chunk_tokens if self.options.chunking != "whole" else None,
            overlap=self.options.overlap if self.options.chunking != "whole" else None,
            long_policy=self.options.long_policy,
            bars=self.progress,
            model_paths=self.options.model_paths,
            embedder=self.options.embedder,
        )
        seconds = time.perf_counter() - t0
        summary = report.as_dict()
        added = int(summary.get("encoder_added", {}).get(encoder, 0))
        return {
            "seconds": seconds,
            "embedded": int(summary.get("new", 0)) + int(summary.get("updated", 0)) + added,
            "unchanged": int(summary.get("unchanged", 0)) - added,
            "removed": int(summary.get("removed", 0)),
            "failed": int(summary.get("failed", 0)),
            "chunks": int(summary.get("chunks", 0)),
            "total_documents": int(summary.get("total_documents", 0)),
            "timings": summary.get("timings", {}),
        }

    def search(self, dataset: Dataset, index: str, encoder: str, level: str) -> dict[str, Hits]:
        """Run every query of ``dataset``; ``{query_id: [(doc_id, score), ...]}`` best first.

        ``level`` is ``chunk`` for indexes of whole documents (one chunk each: chunk-level
        search already ranks documents) and ``doc`` otherwise (the best chunk scores a document).
        """
        qids = list(dataset.queries)
        run: dict[str, Hits] = {}
        step = max(1, self.options.query_batch)
        for start in range(0, len(qids), step):
            batch = qids[start : start + step]
            results = self.service.search_many(
                [dataset.queries[q] for q in batch],
                index=index,
                encoder=encoder,
                k=self.options.k,
                level=level,
                instruction=self.options.instruction,
            )
            for qid, res in zip(batch, results, strict=True):
                hits: dict[str, float] = {}
                for h in res.hits:
                    hits.setdefault(h.hit.doc_id, float(h.hit.score))
                run[qid] = list(hits.items())
        return run

    def evaluate(self, dataset: Dataset, metrics: Sequence[str] | None = None) -> DatasetResult:
        """Ingest (or reuse) the corpus, run the queries for every encoder, score and compare."""
        opts = self.options
        metrics = list(metrics or opts.metrics)
        index = opts.index_name(dataset.name)
        level = "chunk" if opts.chunking == "whole" else "doc"
        results = []
        for name in opts.encoders:
            t0 = time.perf_counter()
            self.log(
                f"{dataset.name}: {name}: indexing {len(dataset.corpus):,} documents into {index!r}"
            )
            # A hybrid retriever is its two parts' vectors, fused at query time.
            parts = list(hybrid_parts(name)) if is_hybrid(name) else [name]
            ings = [self.ingest(dataset, index, part) for part in parts]
            ing = {**ings[-1], "seconds": sum(i["seconds"] for i in ings)}
            self.log(
                f"{dataset.name}: {name}: {ing['embedded']:,} embedded, {ing['unchanged']:,} reused "
                f"({ing['seconds']:.1f} s); running {len(dataset.queries):,} queries"
            )
            label = hybrid_name(*hybrid_parts(name)) if is_hybrid(name) else self.encoder(name).name
            results.append(self._score(dataset, index, name, label, level, metrics, ing, t0))
        settings: dict[str, Any] = {
            "index": index, "chunking": opts.chunking, "long_policy": opts.long_policy,
        }  # fmt: skip
        if opts.chunking != "whole":
            settings.update(chunk_tokens=opts.chunk_tokens, overlap=opts.overlap)
        return self._result(dataset, len(dataset.corpus), results, metrics, settings)

    def evaluate_index(
        self, dataset: Dataset, index: str, metrics: Sequence[str] | None = None
    ) -> DatasetResult:
        """Score encoders of an index you ingested on your own judged queries (no ingest).

        ``dataset`` comes from :func:`search.evaluation.judgments.load_judgments` (queries and
        qrels by document id, no corpus). Documents are ranked by their best chunk unless the
        index holds whole documents.
        """
        info = self.store.index_info(index)
        metrics = list(metrics or self.options.metrics)
        level = "chunk" if info.chunking.get("mode") == "whole" else "doc"
        results = []
        for name in self.options.encoders:
            self.log(f"{index}: {name}: running {len(dataset.queries):,} judged queries")
            results.append(
                self._score(dataset, index, name, name, level, metrics, None, time.perf_counter())
            )
        settings = {
            "index": index, "chunking": info.chunking.get("mode"),
            "long_policy": {n: info.encoders.get(n, {}).get("long_policy") for n in self.options.encoders},
        }  # fmt: skip
        return self._result(dataset, info.documents, results, metrics, settings)

    def _score(
        self, dataset: Dataset, index: str, label: str, encoder: str, level: str,
        metrics: list[str], ing: dict[str, Any] | None, t0: float,
    ) -> EncoderResult:  # fmt: skip
        t1 = time.perf_counter()
        run = self.search(dataset, index, encoder, level)
        t2 = time.perf_counter()
        scores = {q: {d: s for d, s in hits} for q, hits in run.items()}
        per_query = evaluate(scores, dataset.qrels, metrics)
        means = mean_scores(per_query, metrics)
        self.log(f"{dataset.name}: {label}: " + ", ".join(f"{m} {v:.4f}" for m, v in means.items()))
        timings = {"queries": t2 - t1, "total": t2 - t0}
        if ing is not None:
            timings["ingest"] = ing["seconds"]
        return EncoderResult(
            encoder=label,
            per_query=per_query,
            means=means,
            run=run,
            ingest=ing or {},
            timings=timings,
        )

    def _result(
        self, dataset: Dataset, n_docs: int, results: list[EncoderResult], metrics: list[str],
        settings: dict[str, Any],
    ) -> DatasetResult:  # fmt: skip
        opts = self.options
        result = DatasetResult(
            dataset=dataset.name,
            split=dataset.split,
            metrics=metrics,
            n_docs=n_docs,
            n_queries=len(results[0].per_query) if results else 0,
            encoders=results,
            settings={
                **settings, "k": opts.k, "instruction": opts.instruction, "resamples": opts.resamples,
                "source": dataset.source, "fingerprint": dataset.fingerprint,
                "queries_run": len(dataset.queries), "store": self.store.location, **dataset.info,
                **opts.extra,
            },
        )  # fmt: skip
        result.compare(resamples=opts.resamples, seed=opts.seed)
        return result


def run_beir(
    evaluator: Evaluator,
    folder: str | Path,
    *,
    split: str = "test",
    out: Path | None = None,
    max_queries: int | None = None,
) -> tuple[DatasetResult, dict[str, Path]]:
    """Evaluate on a BEIR-layout folder and write its files into ``out`` (when given)."""
    dataset = load_beir(folder, split, max_queries=max_queries)
    result = evaluator.evaluate(dataset)
    paths = write_dataset(result, out) if out is not None else {}
    return result, paths


def run_judgments(
    store: Store, judgments: str | Path, index: str, *, encoders: Sequence[str] = (),
    log: Log = _quiet, **options: Any,
) -> DatasetResult:  # fmt: skip
    """Score an index's encoders on your judged questions (see :mod:`search.evaluation.judgments`).

    Args:
        store: The open store holding ``index``.
        judgments: The JSONL or TSV file.
        index: The index the documents were ingested into.
        encoders: Encoders to score (default: all of the index's, in the order they were added).
        log: Progress lines.
        **options: Further :class:`EvalOptions` fields (``k``, ``instruction``, ``resamples``).
    """
    from search.evaluation.judgments import load_judgments

    names = list(encoders) or list(store.index_info(index).encoders)
    if not names:
        raise SearchError(f"index {index!r} has no encoders yet")
    evaluator = Evaluator(store, EvalOptions(encoders=names, **options), log=log, progress=False)
    for name in names:  # every encoder is checked before the file is read or a query runs
        evaluator.service.encoder_info(index, name)
    dataset = load_judgments(judgments, [d.doc_id for d in store.documents(index)], name=index)
    return evaluator.evaluate_index(dataset, index)


def run_synthetic(
    evaluator: Evaluator,
    task: str,
    lengths: Sequence[int],
    *,
    n_docs: int = 100,
    n_queries: int = 50,
    seed: int = 0,
    haystack: str | None = None,
    out: Path | None = None,
) -> tuple[list[DatasetResult], dict[str, Path]]:
    """Passkey or needle at each length; lengths are counted with the first encoder's tokenizer."""
    count = evaluator.encoder(evaluator.options.encoders[0]).count_tokens
    results = []
    haystack_name = ""
    for length in lengths:
        t0 = time.perf_counter()
        dataset = generate(
            task, length, count, n_docs=n_docs, n_queries=n_queries, seed=seed, haystack=haystack
        )
        # The index name carries everything the documents depend on.
        dataset.name = f"{task}-{length}-s{seed}-d{n_docs}"
        haystack_name = str(dataset.info.get("haystack", ""))
        evaluator.log(
            f"{task} {length}: generated {n_docs} documents in {time.perf_counter() - t0:.1f} s"
        )
        result = evaluator.evaluate(dataset, SYNTHETIC_METRICS)
        result.dataset = f"{task}-{length}"
        results.append(result)
    settings = {
        "n_docs": n_docs, "n_queries": n_queries, "seed": seed, "lengths": list(lengths),
        "long_policy": evaluator.options.long_policy, "chunking": evaluator.options.chunking,
        "haystack": haystack_name, "encoders": list(evaluator.options.encoders),
        "length_tokenizer": evaluator.options.encoders[0],
    }  # fmt: skip
    paths = write_synthetic(task, results, out, settings) if out is not None else {}
    return results, paths
