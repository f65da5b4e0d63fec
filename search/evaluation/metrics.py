"""Retrieval metrics, computed exactly as ``trec_eval`` (and ``pytrec_eval``) compute them.

A *run* maps each query id to ``{doc_id: score}``; *qrels* map each query id to
``{doc_id: relevance}`` (integers; graded or binary). The ranking of a query is its documents
sorted by score, highest first, ties broken by document id in *descending* string order: that is
``trec_eval``'s order (it ignores the rank column of a run file and sorts by score, then docno,
both decreasing). Gains are linear (the relevance value) and a document counts as relevant when
its relevance is above 0.

Metrics (``name@k``):

* ``ndcg@k``: DCG of the top ``k`` (gain ``rel``, discount ``log2(rank + 1)``) divided by the
  DCG of the ideal ordering of all the query's judgements (``trec_eval`` ``ndcg_cut.k``).
* ``recall@k``: relevant documents in the top ``k`` over all relevant documents (``recall.k``).
* ``mrr@k``: reciprocal rank of the first relevant document in the top ``k``, else 0
  (``recip_rank`` on the run cut to ``k`` documents).
* ``map@k``: average precision over the top ``k``; the denominator is the number of relevant
  documents, retrieved or not (``map_cut.k``).
* ``p@k``: precision at ``k`` (``P.k``; the denominator is always ``k``).
* ``acc@1``: 1 when the top document is relevant (the synthetic tasks' Acc@1; equals ``p@1``).

Queries with no relevant document in the qrels are left out of every mean (``trec_eval`` would
score them 0; they cannot tell two encoders apart). Queries with qrels but no run entry score 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]

DEFAULT_METRICS: tuple[str, ...] = ("ndcg@10", "recall@100", "mrr@10", "map@100")
SYNTHETIC_METRICS: tuple[str, ...] = ("acc@1",)

_NAME = re.compile(r"^(ndcg|recall|mrr|map|p|acc)@([1-9][0-9]*)$")


def trec_ranking(scores: Mapping[str, float]) -> list[str]:
    """Document ids in ``trec_eval``'s order: score descending, then doc id descending."""
    return sorted(scores, key=lambda d: (scores[d], d), reverse=True)


def _relevant(rels: Mapping[str, int]) -> set[str]:
    return {d for d, r in rels.items() if r > 0}


def dcg(gains: Iterable[float]) -> float:
    """Discounted cumulative gain of gains listed from rank 1 down (``log2(rank + 1)``)."""
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at_k(ranking: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """nDCG@k with linear gains; the ideal DCG orders all judged documents by relevance."""
    ideal = dcg(sorted((max(r, 0) for r in rels.values()), reverse=True)[:k])
    if ideal <= 0:
        return 0.0
    return dcg(max(rels.get(d, 0), 0) for d in ranking[:k]) / ideal


def recall_at_k(ranking: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """Relevant documents in the top ``k`` over the query's relevant documents."""
    relevant = _relevant(rels)
    if not relevant:
        return 0.0
    return sum(1 for d in ranking[:k] if d in relevant) / len(relevant)


def mrr_at_k(ranking: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """1/rank of the first relevant document within the top ``k``; 0 when there is none."""
    for i, d in enumerate(ranking[:k]):
        if rels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def ap_at_k(ranking: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """Average precision over the top ``k``, divided by the number of relevant documents."""
    relevant = _relevant(rels)
    if not relevant:
        return 0.0
    hits = 0
    total = 0.0
    for i, d in enumerate(ranking[:k]):
        if d in relevant:
            hits += 1
            total += hits / (i + 1)
    return total / len(relevant)


def precision_at_k(ranking: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """Relevant documents in the top ``k`` over ``k``."""
    return sum(1 for d in ranking[:k] if rels.get(d, 0) > 0) / k


_FUNCTIONS: dict[str, Callable[[Sequence[str], Mapping[str, int], int], float]] = {
    "ndcg": ndcg_at_k,
    "recall": recall_at_k,
    "mrr": mrr_at_k,
    "map": ap_at_k,
    "p": precision_at_k,
    "acc": precision_at_k,
}


@dataclass(frozen=True)
class MetricSpec:
    """A parsed metric name such as ``ndcg@10``."""

    name: str
    family: str
    k: int

    def __call__(self, ranking: Sequence[str], rels: Mapping[str, int]) -> float:
        return _FUNCTIONS[self.family](ranking, rels, self.k)


def parse_metric(name: str) -> MetricSpec:
    """Parse ``family@k`` (families: ndcg, recall, mrr, map, p, acc; ``acc`` only at 1).

    Raises:
        ValueError: Unknown family or a bad cutoff.
    """
    m = _NAME.match(name.strip().lower())
    if not m or (m.group(1) == "acc" and m.group(2) != "1"):
        raise ValueError(
            f"unknown metric {name!r}: use ndcg@k, recall@k, mrr@k, map@k, p@k or acc@1"
        )
    return MetricSpec(name=f"{m.group(1)}@{m.group(2)}", family=m.group(1), k=int(m.group(2)))


def judged_queries(qrels: Qrels) -> list[str]:
    """Query ids that have at least one relevant document (the ones that are scored)."""
    return [q for q, rels in qrels.items() if any(r > 0 for r in rels.values())]


def evaluate(
    run: Run, qrels: Qrels, metrics: Sequence[str] = DEFAULT_METRICS
) -> dict[str, dict[str, float]]:
    """Per-query scores: ``{query_id: {metric: value}}`` for every query with a relevant doc.

    Args:
        run: ``{query_id: {doc_id: score}}``; a query missing from it scores 0.
        qrels: ``{query_id: {doc_id: relevance}}``.
        metrics: Metric names (see :func:`parse_metric`).
    """
    specs = [parse_metric(m) for m in metrics]
    out: dict[str, dict[str, float]] = {}
    for qid in judged_queries(qrels):
        ranking = trec_ranking(run.get(qid, {}))
        out[qid] = {s.name: s(ranking, qrels[qid]) for s in specs}
    return out


def mean_scores(
    per_query: Mapping[str, Mapping[str, float]], metrics: Sequence[str]
) -> dict[str, float]:
    """Mean of each metric over the queries in ``per_query`` (0 when there are none)."""
    names = [parse_metric(m).name for m in metrics]
    n = len(per_query)
    return {m: (sum(v[m] for v in per_query.values()) / n if n else 0.0) for m in names}
