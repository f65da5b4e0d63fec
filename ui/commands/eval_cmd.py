"""``diffsearch eval``: score encoders side by side on BEIR folders or synthetic long documents."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from ui.options import (
    add_cluster_args,
    add_model_args,
    add_ray_args,
    add_store_args,
    add_vector_args,
    model_paths,
    open_store_from_args,
    ray_stages,
)

_DEFAULT_LENGTHS = "256,512,1024,2048,4096,8192,16384,32768"


def _lengths(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"lengths must be whole numbers separated by commas: {text!r}"
        ) from None
    if not values or any(v < 32 for v in values):
        raise argparse.ArgumentTypeError("lengths must be at least 32 tokens")
    return values


def register(sub: Any) -> None:
    """Add ``diffsearch eval`` to the subcommands."""
    p = sub.add_parser(
        "eval",
        help="score encoders side by side on your judged questions, BEIR folders or synthetic tasks",
        description=(
            "Ingest a benchmark through the same pipeline as your documents (an index per dataset, "
            "reused when unchanged), run every query, score nDCG@10, Recall@100, MRR@10, MAP@100 "
            "(Acc@1 per length for synthetic tasks) and compare encoders with paired tests."
        ),
    )
    src = p.add_argument_group("what to evaluate (at least one)")
    src.add_argument(
        "--beir",
        action="append",
        default=[],
        metavar="DIR",
        help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv (repeatable)",
    )
    src.add_argument(
        "--synthetic",
        action="append",
        default=[],
        choices=("passkey", "needle"),
        help="LongEmbed-style synthetic task (repeatable)",
    )
    src.add_argument(
        "--compare",
        nargs=2,
        metavar=("A.json", "B.json"),
        help="compare two saved NAME.json runs query by query (no encoding); -e picks the encoder "
        "(one -e: the same in both; two: A's then B's; default: the first of each)",
    )
    src.add_argument(
        "--judgments",
        metavar="FILE",
        help="your own judged queries (JSONL or TSV, see README) over the documents of --index: "
        "scores the encoders of an index you ingested, without re-ingesting",
    )
    p.add_argument(
        "--index",
        help="with --judgments: the index your documents were ingested into (default encoders: "
        "all of its encoders, in the order they were added)",
    )
    p.add_argument(
        "-e",
        "--encoder",
        action="append",
        default=[],
        dest="encoders",
        help="encoder preset or model folder (repeatable; the first is the baseline)",
    )
    p.add_argument("--split", default="test", help="qrels split of BEIR folders (default test)")
    p.add_argument(
        "--chunking",
        choices=("whole", "tokens", "late"),
        default="whole",
        help="whole documents (default), token chunks (best chunk scores the doc), or the same "
        "chunks late-chunked (embedded in one pass over their document; mean-pooled encoders)",
    )
    p.add_argument(
        "--chunk-tokens", type=int, default=256, metavar="N", help="tokens per chunk (256)"
    )
    p.add_argument(
        "--overlap",
        type=int,
        default=32,
        metavar="N",
        help="tokens shared by neighbouring chunks (32)",
    )
    p.add_argument(
        "--long",
        choices=("truncate", "windows"),
        default="truncate",
        dest="long_policy",
        help="inputs over the encoder's limit: truncate (default) or average windows",
    )
    p.add_argument(
        "--lengths",
        type=_lengths,
        default=_lengths(_DEFAULT_LENGTHS),
        help=f"synthetic document lengths in tokens (default {_DEFAULT_LENGTHS})",
    )
    p.add_argument(
        "--docs", type=int, default=100, help="synthetic candidate documents per length (100)"
    )
    p.add_argument("--queries", type=int, default=50, help="synthetic queries per length (50)")
    p.add_argument("--seed", type=int, default=0, help="synthetic generator seed (0)")
    p.add_argument(
        "--haystack",
        metavar="FILE",
        help="public-domain prose for the needle task (default: War and Peace from the "
        "shared data, else a built-in text)",
    )
    p.add_argument(
        "--max-queries", type=int, metavar="N", help="BEIR: only the first N judged queries"
    )
    p.add_argument("-k", type=int, default=100, help="documents retrieved per query (default 100)")
    p.add_argument(
        "--instruction", help="query instruction (default: the encoder's own; '' for none)"
    )
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (10000)")
    p.add_argument(
        "--out", default="results", metavar="DIR", help="where tables, plots, runs go (results/)"
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_store_args(p)
    add_model_args(p)
    add_vector_args(p)
    add_ray_args(p)
    add_cluster_args(p)
    p.set_defaults(func=run)


def _log(quiet: bool) -> Any:
    def log(line: str) -> None:
        if not quiet:
            print(f"[eval {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    return log


def run(args: argparse.Namespace) -> int:
    """Run the evaluation the flags describe; print the tables (or JSON) and the files written."""
    from search.errors import SearchError
    from search.evaluation.report import markdown_report, synthetic_table, write_dataset

    out = Path(args.out)
    if args.compare:
        from search.evaluation.saved import compare_saved

        picks = list(args.encoders) or [None]
        if len(picks) > 2:
            raise SearchError(
                "--compare takes at most two -e: the encoder to pick from A and from B"
            )
        result = compare_saved(
            args.compare[0],
            args.compare[1],
            encoder_a=picks[0],
            encoder_b=picks[-1],
            resamples=args.resamples,
        )
        paths = write_dataset(result, out, plot=True)
        print(
            json.dumps(result.as_dict(per_query=False), indent=1)
            if args.json
            else markdown_report(result)
        )
        if not args.json:
            print(f"written: {', '.join(str(p) for p in paths.values())}")
        return 0
    if args.judgments or args.index:
        return _run_judgments(args, out)
    if not args.beir and not args.synthetic:
        raise SearchError(
            "say what to evaluate: --beir DIR, --synthetic passkey|needle, --compare A B, "
            "or --judgments FILE --index NAME"
        )
    if not args.encoders:
        raise SearchError("give at least one encoder: -e minilm -e minilm-causal")
    if args.docs < 1 or not 1 <= args.queries <= args.docs:
        raise SearchError("need --docs >= 1 and 1 <= --queries <= --docs")

    from search.evaluation.runner import EvalOptions, Evaluator, run_beir, run_synthetic

    options = EvalOptions(
        encoders=list(args.encoders), chunking=args.chunking, long_policy=args.long_policy, k=args.k,
        chunk_tokens=args.chunk_tokens, overlap=args.overlap,
        instruction=args.instruction, resamples=args.resamples, model_paths=model_paths(args),
    )  # fmt: skip
    log = _log(args.quiet or args.json)
    summary: list[dict[str, Any]] = []
    texts: list[str] = []
    written: list[Path] = []
    store = open_store_from_args(args)
    cluster = contextlib.ExitStack()
    try:
        # --ray: the corpus is embedded on the cluster (queries stay here: they are cheap).
        options.embedder, _ = cluster.enter_context(ray_stages(args, parse=False))
        evaluator = Evaluator(store, options, log=log, progress=None if not args.quiet else False)
        for folder in args.beir:
            t0 = time.perf_counter()
            result, _ = run_beir(evaluator, folder, split=args.split, max_queries=args.max_queries)
            result.settings["wall_seconds"] = round(time.perf_counter() - t0, 2)
            paths = write_dataset(result, out)
            summary.append(result.as_dict(per_query=False))
            texts.append(
                markdown_report(result) + f"\nWall time: {result.settings['wall_seconds']:.1f} s\n"
            )
            written += list(paths.values())
        for task in args.synthetic:
            results, paths = run_synthetic(
                evaluator, task, args.lengths, n_docs=args.docs, n_queries=args.queries, seed=args.seed,
                haystack=args.haystack, out=out,
            )  # fmt: skip
            summary.append({"task": task, "lengths": [r.as_dict(per_query=False) for r in results]})
            texts.append(f"### {task}: Acc@1 by document length\n\n{synthetic_table(results)}\n")
            written += [paths[k] for k in ("markdown", "json", "png") if k in paths]
    finally:
        cluster.close()
        store.close()
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print("\n".join(texts))
        print("written: " + ", ".join(str(p) for p in written))
    return 0


def _run_judgments(args: argparse.Namespace, out: Path) -> int:
    """``--judgments FILE --index NAME``: your queries, your documents, the index's encoders."""
    from search.errors import SearchError
    from search.evaluation.report import markdown_report, write_dataset
    from search.evaluation.runner import run_judgments

    if not (args.judgments and args.index):
        raise SearchError(
            "--judgments FILE and --index NAME go together: the judged queries, and the index "
            "their documents were ingested into"
        )
    if args.beir or args.synthetic:
        raise SearchError("evaluate --judgments on its own (not with --beir or --synthetic)")
    t0 = time.perf_counter()
    store = open_store_from_args(args)
    try:
        result = run_judgments(
            store, args.judgments, args.index, encoders=args.encoders, log=_log(args.quiet or args.json),
            k=args.k, instruction=args.instruction, resamples=args.resamples,
            model_paths=model_paths(args),
        )  # fmt: skip
    finally:
        store.close()
    result.settings["wall_seconds"] = round(time.perf_counter() - t0, 2)
    paths = write_dataset(result, out)
    if args.json:
        print(json.dumps(result.as_dict(per_query=False), indent=1))
    else:
        print(markdown_report(result) + f"\nWall time: {result.settings['wall_seconds']:.1f} s\n")
        print("written: " + ", ".join(str(p) for p in paths.values()))
    return 0
