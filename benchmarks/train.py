"""SciFact train -> SciFact test: each encoder before and after ``diffsearch train``.

For every encoder (default ``minilm`` and its causal ablation ``minilm-causal``) this trains on
SciFact's train qrels through ``train.fit`` (what ``diffsearch train`` runs), then scores the
base and the trained encoder on SciFact's test split through the evaluation runner (the same
ingest and search path as ``diffsearch eval``), with paired tests over the test queries:

* each encoder after training against itself before;
* the trained causal encoder against the trained bidirectional one (the comparison the paper's
  Table 5 stops short of: both trained the same way, on the same pairs and hard negatives);
* the base causal ablation against the base bidirectional model.

Both encoders train on identical data: the same training pairs and the hard negatives mined
once, by ``--mine-with`` (default ``minilm``). Hyper-parameters are flags (defaults: the
settings chosen on the dev hold-out, not on test). Wall times are printed per stage.

    python benchmarks/train.py                       # ~90 min on 2 lightly loaded cores
    python benchmarks/train.py --reuse               # keep finished trainings under --work

Exit status: 0 when the run completed, 2 when the data is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SCIFACT = (
    Path(os.environ.get("DIFFSEARCH_SHARED_DATA", ROOT.parent / "shared" / "data"))
    / "beir"
    / "scifact"
)


def _log(line: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def leakage_audit(
    data: Any, beir: Path, split: str = "train", test: str = "test", drop: bool = True
) -> Any:
    """``data`` checked to come from ``split``'s qrels only, with test duplicates dropped.

    SciFact's train and test claims are written over one corpus (legitimate in-domain training:
    the documents are what a user's index holds), but two test claims are word-for-word train
    claims with the same relevant abstract. Those training queries are dropped here, so no test
    query text is trained on; then every query id, query text and relevance pair of ``data``
    (training and dev) is checked against ``qrels/<split>.tsv`` and against the test split.

    With ``drop=False`` (to re-score trainings made before this audit) the duplicates stay in
    the training data; the test scores are then also reported without those test queries.

    Returns:
        The training data without the duplicated queries (unless ``drop`` is False).

    Raises:
        AssertionError: Anything of the test split reached the training data.
    """
    import dataclasses

    from search.evaluation.beir import load_beir, read_qrels

    held = load_beir(beir, test)
    test_texts = {_norm(t) for t in held.queries.values()}
    dupes = {q for q in data.queries if _norm(data.queries[q]) in test_texts}
    if dupes and drop:
        qrels = {q: r for q, r in data.qrels.items() if q not in dupes}
        data = dataclasses.replace(
            data,
            queries={q: t for q, t in data.queries.items() if q not in dupes},
            qrels=qrels,
            dev_qrels={q: r for q, r in data.dev_qrels.items() if q not in dupes},
            examples=[e for e in data.examples if e.qid not in dupes],
            skipped=data.skipped + len(dupes),
        )
        data.source["dropped_test_duplicates"] = sorted(dupes)
    train_rels = read_qrels(beir / "qrels" / f"{split}.tsv")
    used = {**data.qrels, **data.dev_qrels}
    assert not set(data.qrels) & set(data.dev_qrels), "a dev query is also trained on"
    assert not set(data.queries) & set(held.queries), "a test query id is in the training data"
    if drop:
        assert not {_norm(t) for t in data.queries.values()} & test_texts, "a test query text"
    for qid, rels in used.items():
        for doc, grade in rels.items():
            assert train_rels.get(qid, {}).get(doc, 0) == grade > 0, (
                f"{qid}/{doc} not a {split} qrel"
            )
    for e in data.examples:
        assert e.qid in data.qrels and e.positive in data.qrels[e.qid], (
            f"example {e} not a train qrel"
        )
    what = "dropped" if drop else "KEPT (--keep-test-duplicates)"
    _log(f"leakage audit: {len(data.qrels)} train + {len(data.dev_qrels)} dev queries, all from "
         f"qrels/{split}.tsv; no {test} query id; {what} {len(dupes)} train queries whose text "
         f"is a {test} query's: {', '.join(sorted(dupes)) or 'none'}")  # fmt: skip
    return data


def audit_negatives(cache: Path, data: Any) -> int:
    """Every mined hard negative of ``data`` (in the cache) is none of its query's positives,
    and only training and dev queries were mined for. Returns the queries checked."""
    checked = 0
    units_of = data.units_of()
    for path in sorted(cache.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("data") != data.fingerprint:
            continue
        wanted = {**data.qrels, **data.dev_qrels}
        assert set(raw["negatives"]) <= set(wanted), "mined for a query outside train/dev"
        for qid, negs in raw["negatives"].items():
            positives = {u for d in wanted[qid] for u in units_of.get(d, ())}
            assert not set(negs) & positives, f"a hard negative of {qid} is one of its positives"
            checked += 1
    assert checked, f"no mined negatives for this data in {cache}"
    return checked


def _train(encoder: str, args: argparse.Namespace, data: Any) -> dict[str, Any]:
    from train import Mining, Recipe, fit
    from train.card import read_raw

    out = args.work / encoder
    card = read_raw(out)
    if args.reuse and card and card.get("status") == "done":
        _log(f"{encoder}: reusing the finished training in {out}")
        return card
    recipe = Recipe(lr=args.lr, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                    hard_negatives=args.hard_negatives)  # fmt: skip
    t0 = time.perf_counter()
    result = fit(encoder, data, out, recipe=recipe, mining=Mining(encoder=args.mine_with),
                 overwrite=True, negatives_cache=args.work / "negatives",
                 log=lambda line: _log(f"{encoder}: {line}"))  # fmt: skip
    result.card["bench_wall_seconds"] = round(time.perf_counter() - t0, 1)
    return result.card


def step_timing(args: argparse.Namespace, data: Any) -> None:
    """Median seconds and tokens/s of training steps: the recipe's (checkpoint dropout off, only
    LoRA's) against the checkpoint's own dropout (BERT: 0.1), on the same SciFact batches."""
    import statistics

    from train import Recipe
    from train.loop import _Batcher
    from train.model import build_trainable
    from train.step import make_optimizer, train_step

    batcher = _Batcher(data, None, Recipe(hard_negatives=0))
    order = list(range(len(data.examples)))
    batches = [
        batcher.batch(order[i : i + args.batch_size], 0)
        for i in range(0, args.steps * args.batch_size, args.batch_size)
    ]
    print(f"training steps: {args.steps} batches of {args.batch_size} SciFact pairs (no hard "
          f"negatives), best-of-{args.repeat} per batch, median over batches")  # fmt: skip
    print("| encoder | checkpoint dropout | s/step | tokens/s |")
    print("|---|---|---|---|")
    for enc in args.encoders:
        results = {}
        for dropout in (None, 0.0):
            recipe = Recipe(lr=args.lr, model_dropout=dropout).resolved(
                family="encoder", device="cpu", bf16_supported=False
            )
            if dropout is None:  # LoRA's default is 0: ask for the checkpoint's own explicitly
                import dataclasses

                recipe = dataclasses.replace(recipe, model_dropout=None)
            model = build_trainable(enc, recipe)
            optimizer, scheduler = make_optimizer(model, recipe, 1000)
            train_step(model, batches[0], optimizer, scheduler)  # warm-up
            per_batch = []
            for b in batches:
                best = min((train_step(model, b, optimizer, scheduler) for _ in range(args.repeat)),
                           key=lambda st: st.seconds)  # fmt: skip
                per_batch.append(best)
            sec = statistics.median(st.seconds for st in per_batch)
            tps = statistics.median(st.tokens / st.seconds for st in per_batch)
            results[dropout] = sec
            label = "0 (the recipe)" if dropout == 0.0 else "its own (0.1)"
            print(f"| `{enc}` | {label} | {sec:.2f} | {tps:,.0f} |")
        print(f"| `{enc}` | ratio | {results[None] / results[0.0]:.2f}x faster without | |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beir", type=Path, default=SCIFACT, help="BEIR folder (SciFact)")
    parser.add_argument("--encoders", nargs="+", default=["minilm", "minilm-causal"])
    parser.add_argument(
        "--work", type=Path, default=ROOT / ".bench-train", help="trainings and store"
    )
    parser.add_argument("--reuse", action="store_true", help="keep finished trainings in --work")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hard-negatives", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mine-with", default="minilm", help="miner of the hard negatives")
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep-test-duplicates", action="store_true",
                        help="train on the train claims that are word-for-word test claims (as "
                        "runs before the audit did); test scores are also given without them")  # fmt: skip
    parser.add_argument("--step-timing", action="store_true",
                        help="only time training steps (dropout on/off), no training run")  # fmt: skip
    parser.add_argument("--steps", type=int, default=5, help="--step-timing: batches")
    parser.add_argument("--repeat", type=int, default=2, help="--step-timing: runs per batch")
    args = parser.parse_args(argv)
    if not (args.beir / "qrels" / "train.tsv").is_file():
        print(f"no SciFact train split at {args.beir}", file=sys.stderr)
        return 2

    import torch

    from encoders import ModelPaths
    from search.evaluation.runner import EvalOptions, Evaluator
    from search.evaluation.significance import compare_paired
    from search.store import open_store
    from train import from_beir

    args.work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    _log(f"torch threads {torch.get_num_threads()}, load average {load[0]:.2f}")
    t0 = time.perf_counter()
    data = leakage_audit(
        from_beir(args.beir, "train"), args.beir, drop=not args.keep_test_duplicates
    )
    if args.step_timing:
        step_timing(args, data)
        return 0
    cards = {enc: _train(enc, args, data) for enc in args.encoders}
    _log(f"leakage audit: the hard negatives of {audit_negatives(args.work / 'negatives', data)} "
         "queries exclude their positives")  # fmt: skip
    names = [n for enc, card in cards.items() for n in (enc, card["name"])]
    # What --adapter NAME=DIR gives every command.
    paths = ModelPaths(adapters={card["name"]: str(args.work / enc) for enc, card in cards.items()})
    test_t0 = time.perf_counter()
    with open_store(path=args.work / "store") as store:
        from search.evaluation.beir import load_beir

        options = EvalOptions(
            encoders=names, resamples=args.resamples, index_prefix="bench", model_paths=paths
        )
        result = Evaluator(store, options, log=_log).evaluate(load_beir(args.beir, "test"))
    test_seconds = time.perf_counter() - test_t0
    per = {e.encoder: e for e in result.encoders}
    qids = sorted(per[names[0]].per_query)

    def paired(a: str, b: str) -> Any:
        xs = [per[a].per_query[q]["ndcg@10"] for q in qids]
        ys = [per[b].per_query[q]["ndcg@10"] for q in qids]
        return compare_paired(xs, ys, resamples=args.resamples, seed=0)

    rows = []
    for enc, card in cards.items():
        test = paired(enc, card["name"])
        dev = card.get("dev") or {}
        rows.append({
            "encoder": enc, "trained": card["name"], "attention": card["base"]["attention"],
            "test_before": test.mean_a, "test_after": test.mean_b, "delta": test.delta,
            "ci": [test.ci_low, test.ci_high], "p_bootstrap": test.p_bootstrap, "p_ttest": test.p_ttest,
            "dev_before": dev.get("before"), "dev_after": dev.get("end"),
            "train_seconds": card["train_seconds"], "tokens_per_second": card["tokens_per_second"],
            "run_seconds": card.get("wall_seconds"), "steps": card["steps"],
            "ingest_seconds_after": per[card["name"]].timings.get("ingest"),
        })  # fmt: skip
    # SciFact's train and test queries share a corpus: how much of the gain is on test queries
    # whose relevant documents no training query had?
    from search.evaluation.beir import load_beir as _load

    test_qrels = _load(args.beir, "test").qrels
    seen = {d for rels in data.qrels.values() for d in rels}
    unseen = [q for q in qids if not set(test_qrels[q]) & seen]
    # Test queries whose text no training or dev query has (all of them once duplicates are dropped).
    trained_texts = {_norm(t) for t in data.queries.values()}
    test_texts = _load(args.beir, "test").queries
    clean = [q for q in qids if _norm(test_texts[q]) not in trained_texts]
    for r, (enc, card) in zip(rows, cards.items(), strict=True):
        xs = [per[enc].per_query[q]["ndcg@10"] for q in clean]
        ys = [per[card["name"]].per_query[q]["ndcg@10"] for q in clean]
        sub = compare_paired(xs, ys, resamples=args.resamples, seed=0)
        r["clean"] = {"queries": len(clean), "before": sub.mean_a, "after": sub.mean_b,
                      "delta": sub.delta, "ci": [sub.ci_low, sub.ci_high],
                      "p_bootstrap": sub.p_bootstrap, "p_ttest": sub.p_ttest}  # fmt: skip
        xs = [per[enc].per_query[q]["ndcg@10"] for q in unseen]
        ys = [per[card["name"]].per_query[q]["ndcg@10"] for q in unseen]
        sub = compare_paired(xs, ys, resamples=args.resamples, seed=0)
        r["unseen"] = {"queries": len(unseen), "before": sub.mean_a, "after": sub.mean_b,
                       "delta": sub.delta, "p_bootstrap": sub.p_bootstrap}  # fmt: skip
    comparisons = {}
    if len(cards) == 2:
        (a, ca), (b, cb) = cards.items()
        comparisons[f"{cb['name']} vs {ca['name']}"] = paired(ca["name"], cb["name"]).as_dict()
        comparisons[f"{b} vs {a}"] = paired(a, b).as_dict()
    total = time.perf_counter() - t0
    print(f"SciFact train ({len(data.examples)} pairs, {len(data.qrels)} queries; dev "
          f"{len(data.dev_qrels)} held out) -> SciFact test ({len(qids)} queries, "
          f"{result.n_docs} documents); lr {args.lr}, {args.epochs} epochs, batch {args.batch_size}, "
          f"{args.hard_negatives} hard negative mined by {args.mine_with}; load average at start "
          f"{load[0]:.2f}")  # fmt: skip
    print()
    print(
        "| encoder | attention | nDCG@10 before | after | delta (95% CI) | p (bootstrap / t) "
        "| dev before / after | training | tokens/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| `{r['encoder']}` -> `{r['trained']}` | {r['attention']} | {r['test_before']:.4f} | "
              f"{r['test_after']:.4f} | {r['delta']:+.4f} ({r['ci'][0]:+.4f}, {r['ci'][1]:+.4f}) | "
              f"{r['p_bootstrap']:.4f} / {r['p_ttest']:.2g} | {r['dev_before']:.4f} / "
              f"{r['dev_after']:.4f} | {r['steps']} steps, {r['train_seconds']:.0f} s "
              f"(run {r['run_seconds']:.0f} s) | {r['tokens_per_second']:,.0f} |")  # fmt: skip
    print()
    for r in rows:
        c = r["clean"]
        print(f"{r['trained']} on the {c['queries']} test queries whose text no training query "
              f"has: {c['before']:.4f} -> {c['after']:.4f} ({c['delta']:+.4f} ({c['ci'][0]:+.4f}, "
              f"{c['ci'][1]:+.4f}), p bootstrap {c['p_bootstrap']:.4f}, t {c['p_ttest']:.2g})")  # fmt: skip
    for r in rows:
        u = r["unseen"]
        print(f"{r['trained']} on the {u['queries']} test queries whose relevant documents no "
              f"training query has: {u['before']:.4f} -> {u['after']:.4f} ({u['delta']:+.4f}, "
              f"p bootstrap {u['p_bootstrap']:.4f})")  # fmt: skip
    for label, c in comparisons.items():
        print(f"{label}: {c['mean_b']:.4f} vs {c['mean_a']:.4f}, delta {c['delta']:+.4f} "
              f"({c['ci_low']:+.4f}, {c['ci_high']:+.4f}), p bootstrap {c['p_bootstrap']:.4f}, "
              f"t {c['p_ttest']:.2g}")  # fmt: skip
    print(
        f"test evaluation of {len(names)} encoders: {test_seconds:.0f} s; whole benchmark {total:.0f} s"
    )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "comparisons": comparisons,
                                         "test_seconds": test_seconds, "total_seconds": total}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
