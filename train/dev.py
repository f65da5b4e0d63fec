"""The dev evaluation: nDCG@10 of held-out queries by exact search over a dev corpus in memory.

The dev corpus is the whole corpus when it has at most ``max_units`` units. Otherwise it keeps
every unit of the dev queries' relevant documents, the best-ranked units of each dev query
(from mining, so the documents that compete with the relevant ones are there), and a seeded
random sample of the rest up to ``max_units``. Scores come from
:mod:`search.evaluation.metrics` (trec_eval's definitions); a document scores by its best unit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from train.data import TrainingData
from train.mining import Mined

METRIC = "ndcg@10"
_RUN_DEPTH = 100


@dataclass
class DevSet:
    """Held-out queries and the units they are searched against.

    Attributes:
        queries: Query id -> text.
        qrels: Query id -> {document: grade}.
        units: Unit ids of the dev corpus.
        texts: Their texts.
        docs: Their documents.
        whole: True when the dev corpus is the whole corpus.
    """

    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    units: list[str]
    texts: list[str]
    docs: list[str]
    whole: bool

    def describe(self) -> str:
        corpus = "the whole corpus" if self.whole else "a sampled dev corpus"
        return f"{len(self.queries)} queries over {len(self.units)} units ({corpus})"


def build_dev(
    data: TrainingData, mined: Mined | None, max_units: int, seed: int = 0
) -> DevSet | None:
    """The dev set of ``data`` (None when it holds out no query).

    Args:
        max_units: Largest dev corpus; 0 for the whole corpus always.
    """
    if not data.dev_qrels:
        return None
    every = list(data.units)
    if max_units <= 0 or len(every) <= max_units:
        keep = every
    else:
        units_of = data.units_of()
        chosen: dict[str, None] = {}
        for qid, rels in data.dev_qrels.items():
            for doc in rels:
                chosen.update(dict.fromkeys(units_of.get(doc, ())))
            if mined is not None:
                chosen.update(dict.fromkeys(mined.dev_pool.get(qid, ())))
        rest = [u for u in every if u not in chosen]
        need = max(0, max_units - len(chosen))
        chosen.update(dict.fromkeys(random.Random(seed).sample(rest, min(need, len(rest)))))
        keep = [u for u in every if u in chosen]  # corpus order, whatever the sampling order
    return DevSet(
        queries={q: data.queries[q] for q in data.dev_qrels},
        qrels=data.dev_qrels,
        units=keep,
        texts=[data.units[u] for u in keep],
        docs=[data.doc_of[u] for u in keep],
        whole=len(keep) == len(every),
    )


def dev_score(encoder: Any, dev: DevSet, instruction: str | None = None) -> float:
    """Mean nDCG@10 of ``encoder`` on ``dev``.

    Args:
        encoder: Anything with ``encode_documents`` / ``encode_queries`` (a loaded encoder, or
            :class:`train.model.Trainable` in eval mode).
        instruction: Query instruction as ``encode_queries`` takes it (None: the default).
    """
    import numpy as np

    from search.evaluation.metrics import evaluate, mean_scores

    qids = list(dev.queries)
    docs = encoder.encode_documents(dev.texts)
    queries = encoder.encode_queries([dev.queries[q] for q in qids], instruction=instruction)
    scores = queries @ docs.T
    run: dict[str, dict[str, float]] = {}
    depth = min(len(dev.units), _RUN_DEPTH * 4)
    for row, qid in enumerate(qids):
        s = scores[row]
        top = np.argpartition(-s, depth - 1)[:depth] if depth < len(s) else np.arange(len(s))
        best: dict[str, float] = {}
        for i in top.tolist():
            doc = dev.docs[i]
            best[doc] = max(best.get(doc, -2.0), float(s[i]))
        ranked = sorted(best.items(), key=lambda kv: -kv[1])[:_RUN_DEPTH]
        run[qid] = dict(ranked)
    return mean_scores(evaluate(run, dev.qrels, [METRIC]), [METRIC])[METRIC]
