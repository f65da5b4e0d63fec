"""Evaluation: BEIR-style and synthetic long-document benchmarks through ingest and search.

* :mod:`~search.evaluation.metrics`: nDCG@k, Recall@k, MRR@k, MAP@k, Acc@1 as trec_eval
  computes them.
* :mod:`~search.evaluation.beir`: BEIR-layout folders (also QMSum).
* :mod:`~search.evaluation.synthetic`: LongEmbed-style passkey and needle generators.
* :mod:`~search.evaluation.significance`: paired bootstrap and t-test over queries.
* :mod:`~search.evaluation.report`: Markdown/JSON tables, per-query files, PNG plots.
* :mod:`~search.evaluation.runner`: the orchestration behind ``diffsearch eval``.

Importing this package imports neither torch nor Qdrant.
"""

from search.evaluation.beir import Dataset, Document, load_beir
from search.evaluation.metrics import (
    DEFAULT_METRICS,
    evaluate,
    mean_scores,
    parse_metric,
    trec_ranking,
)
from search.evaluation.significance import PairedTest, compare_paired

__all__ = [
    "DEFAULT_METRICS",
    "Dataset",
    "Document",
    "PairedTest",
    "compare_paired",
    "evaluate",
    "load_beir",
    "mean_scores",
    "parse_metric",
    "trec_ranking",
]
