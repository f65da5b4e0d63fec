"""Late chunking against plain token chunking, for both attention directions (issue 10).

On BEIR SciFact and NFCorpus (``../shared/data/beir``), ``minilm`` (bidirectional) and
``minilm-causal`` (the same weights with causal attention) each index the corpus twice at the
same chunk size: ``--chunking tokens`` (every chunk embedded on its own) and ``--chunking late``
(the same chunks, ids and payloads, each embedded as the mean of its tokens' states from one
pass over the whole document). Documents are ranked by their best chunk; the score is
document-level nDCG@10, compared per query (late - tokens) with a paired bootstrap and a
paired t-test; the ingest time of both is measured in the same run (ratio late / tokens).

Everything goes through diffsearch's own evaluation (``search.evaluation``): the same ingest
pipeline, store and search as ``diffsearch eval --beir DIR --chunking late``.

    python benchmarks/late_chunking.py                          # 64 and 128 tokens, subsets
    python benchmarks/late_chunking.py --docs 0 --queries 0     # full corpora (slow on a CPU)
    python benchmarks/late_chunking.py --datasets scifact --sizes 64 --docs 300 --queries 40

``--docs N`` keeps the documents judged for the kept queries plus random others up to N
(seeded), ``--queries N`` the first N judged queries; both arms of every comparison see the
same documents and queries. Results go to ``--out`` (JSON) and a table on stdout.

Exit status: 0 when the run completed, 2 when the data is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("DIFFSEARCH_SHARED_DATA", ROOT.parent / "shared" / "data")) / "beir"
ENCODERS = ("minilm", "minilm-causal")
METRIC = "ndcg@10"


def subset(dataset: Any, docs: int, queries: int, seed: int = 0) -> Any:
    """The first ``queries`` judged queries, their judged documents and random others up to
    ``docs`` (0: all)."""
    from search.evaluation.beir import Dataset

    qids = list(dataset.queries)[:queries] if queries else list(dataset.queries)
    qrels = {q: dataset.qrels[q] for q in qids}
    if not docs:
        corpus = dataset.corpus
    else:
        judged = {d for q in qids for d in qrels[q]}
        keep = [d for d in dataset.corpus if d.doc_id in judged]
        rest = [d for d in dataset.corpus if d.doc_id not in judged]
        random.Random(seed).shuffle(rest)
        chosen = {d.doc_id for d in keep + rest[: max(0, docs - len(keep))]}
        corpus = [d for d in dataset.corpus if d.doc_id in chosen]
    info = {**dataset.info, "subset": {"docs": len(corpus), "queries": len(qids)}}
    return Dataset(dataset.name, corpus, {q: dataset.queries[q] for q in qids}, qrels,
                   dataset.split, dataset.source, info=info)  # fmt: skip


def run_arm(store: Any, dataset: Any, chunking: str, size: int, overlap: int) -> dict[str, Any]:
    """Both encoders on one chunking: per-query nDCG@10 and ingest seconds per encoder."""
    from search.evaluation.runner import EvalOptions, Evaluator

    options = EvalOptions(
        encoders=list(ENCODERS), chunking=chunking, chunk_tokens=size, overlap=overlap,
        metrics=[METRIC], resamples=1000,
    )  # fmt: skip
    result = Evaluator(store, options).evaluate(dataset)
    return {
        r.encoder: {
            "per_query": {q: m[METRIC] for q, m in r.per_query.items()},
            "mean": r.means[METRIC],
            "ingest_s": r.timings.get("ingest", 0.0),
            "chunks": r.ingest.get("chunks", 0),
        }
        for r in result.encoders
    }


def compare(tokens: dict[str, Any], late: dict[str, Any]) -> dict[str, Any]:
    from search.evaluation.significance import compare_paired

    qids = sorted(tokens["per_query"])
    test = compare_paired([tokens["per_query"][q] for q in qids],
                          [late["per_query"][q] for q in qids], resamples=2000)  # fmt: skip
    return {
        "tokens": test.mean_a, "late": test.mean_b, "delta": test.delta,
        "ci": [test.ci_low, test.ci_high], "p_bootstrap": test.p_bootstrap,
        "p_ttest": test.p_ttest, "queries": test.n,
        "ingest_tokens_s": tokens["ingest_s"], "ingest_late_s": late["ingest_s"],
        "ingest_ratio": late["ingest_s"] / tokens["ingest_s"] if tokens["ingest_s"] else None,
        "chunks": tokens["chunks"],
    }  # fmt: skip


def run(
    datasets: list[str], sizes: list[int], docs: int, queries: int, out: Path | None = None
) -> list[dict[str, Any]]:
    from search.evaluation.beir import load_beir
    from search.store import open_store

    rows: list[dict[str, Any]] = []
    for name in datasets:
        data = subset(load_beir(DATA / name, "test"), docs, queries)
        print(f"{name}: {len(data.corpus)} documents, {len(data.queries)} queries", flush=True)
        for size in sizes:
            overlap = size // 8
            with tempfile.TemporaryDirectory(prefix="late-bench-") as tmp:
                # Tokens first, then late, each into a fresh store: ingest times are cold alike.
                with open_store(path=Path(tmp) / "tokens") as store:
                    tokens = run_arm(store, data, "tokens", size, overlap)
                with open_store(path=Path(tmp) / "late") as store:
                    late = run_arm(store, data, "late", size, overlap)
            for encoder in ENCODERS:
                row = {"dataset": name, "chunk_tokens": size, "overlap": overlap,
                       "encoder": encoder, "docs": len(data.corpus),
                       **compare(tokens[encoder], late[encoder])}  # fmt: skip
                rows.append(row)
                print(_line(row), flush=True)
            if out is not None:  # after every size: a stopped run keeps what it measured
                out.write_text(json.dumps(rows, indent=2))
    return rows


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['dataset']:9} {r['chunk_tokens']:>4} {r['encoder']:14} {r['queries']:>5} "
        f"{r['tokens']:.4f} {r['late']:.4f} {r['delta']:+.4f} "
        f"[{r['ci'][0]:+.3f},{r['ci'][1]:+.3f}] {r['p_bootstrap']:.3f} {r['p_ttest']:.3f} "
        f"{r['ingest_tokens_s']:7.1f} {r['ingest_late_s']:7.1f} {r['ingest_ratio'] or 0:5.2f}"
    )


HEADER = (
    "dataset   tok. encoder        queries tokens late   delta   95% CI          p_boot p_t    "
    "ingest_tokens_s ingest_late_s late/tokens"
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--datasets", default="scifact,nfcorpus")
    p.add_argument("--sizes", default="64,128", help="chunk tokens (overlap: an eighth)")
    p.add_argument("--docs", type=int, default=1200, help="corpus subset (0: all)")
    p.add_argument("--queries", type=int, default=200, help="judged queries (0: all)")
    p.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = p.parse_args(argv)
    datasets = [d for d in args.datasets.split(",") if d]
    missing = [d for d in datasets if not (DATA / d / "corpus.jsonl").is_file()]
    if missing:
        print(f"late_chunking: no BEIR data for {', '.join(missing)} under {DATA}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    print(HEADER)
    sizes = [int(s) for s in args.sizes.split(",")]
    run(datasets, sizes, args.docs, args.queries, args.out)
    print(f"done in {time.perf_counter() - t0:.0f} s; load: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
