"""``diffsearch train ENCODER --out DIR``: contrastive fine-tuning (the paper's recipe)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from train.recipe import Mining, Recipe
from ui.options import add_model_args, add_store_args, model_paths, open_store_from_args

_R = Recipe()
_M = Mining()


def _on_off(p: argparse._ArgumentGroup, flag: str, help_text: str) -> None:
    p.add_argument(f"--{flag}", action=argparse.BooleanOptionalAction, default=None, help=help_text)


def register(sub: Any) -> None:
    """Add ``diffsearch train`` to the subcommands."""
    p = sub.add_parser(
        "train",
        help="fine-tune an encoder contrastively on BEIR qrels, your judged questions or pairs",
        description=(
            "Contrastive fine-tuning with the recipe of Zhang et al. (2025): LoRA r=16, alpha 32, "
            "dropout 0.05 on every attention and MLP projection, InfoNCE over cosine at "
            "temperature 0.02, in-batch plus mined hard negatives. Training encodes exactly as "
            "inference does (same templates, instruction, pooling, attention direction). The "
            "output folder loads on every command with --adapter NAME=DIR. Rerun the same "
            "command after an interruption to continue."
        ),
    )
    p.add_argument("encoder", metavar="ENCODER", help="preset or local model folder to train from")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (adapter + card)")
    p.add_argument(
        "--name", help="the trained encoder's name (default ENCODER@DATA, e.g. minilm@scifact)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace what --out holds")
    src = p.add_argument_group("training data (one of)")
    src.add_argument("--beir", metavar="DIR", help="BEIR folder; pairs from qrels/<--split>.tsv")
    src.add_argument("--split", default="train", help="BEIR qrels split to train on (train)")
    src.add_argument("--judgments", metavar="FILE",
                     help="your judged questions (as `diffsearch judge` writes them) over --index")  # fmt: skip
    src.add_argument("--index", help="with --judgments: the index the documents are in")
    src.add_argument("--pairs", metavar="FILE",
                     help='JSONL lines {"query": ..., "positive": ..., "negatives": [...]}')  # fmt: skip
    dev = p.add_argument_group("dev hold-out")
    dev.add_argument(
        "--dev-split", metavar="SPLIT", help="BEIR: hold out this qrels split (e.g. dev)"
    )
    dev.add_argument("--dev-fraction", type=float, default=0.1,
                     help="otherwise hold out this share of the queries (0.1; 0: no dev)")  # fmt: skip
    dev.add_argument("--dev-docs", type=int, default=2000,
                     help="largest dev corpus: relevant + mined + random texts (2000; 0: all)")  # fmt: skip
    r = p.add_argument_group("recipe")
    r.add_argument("--full", action="store_true", help="fine-tune every weight instead of LoRA")
    r.add_argument("--lora-r", type=int, default=_R.lora_r, help=f"LoRA rank ({_R.lora_r})")
    r.add_argument(
        "--lora-alpha", type=int, default=_R.lora_alpha, help=f"LoRA alpha ({_R.lora_alpha})"
    )
    r.add_argument("--lora-dropout", type=float, default=_R.lora_dropout,
                   help=f"LoRA dropout ({_R.lora_dropout})")  # fmt: skip
    r.add_argument("--target-modules", metavar="A,B",
                   help="modules LoRA wraps (default: every linear layer of the body)")  # fmt: skip
    r.add_argument("--temperature", type=float, default=_R.temperature,
                   help=f"InfoNCE temperature ({_R.temperature})")  # fmt: skip
    r.add_argument("--hard-negatives", type=int, default=_R.hard_negatives,
                   help=f"hard negatives per query ({_R.hard_negatives})")  # fmt: skip
    r.add_argument("--lr", type=float, help="learning rate (1e-4; 5e-5 for diffusion LMs)")
    r.add_argument("--warmup-ratio", type=float, default=_R.warmup_ratio,
                   help=f"share of steps warming up ({_R.warmup_ratio})")  # fmt: skip
    r.add_argument("--warmup-steps", type=int, help="warm-up in steps (overrides the ratio)")
    r.add_argument("--epochs", type=int, default=_R.epochs, help=f"epochs ({_R.epochs})")
    r.add_argument("--batch-size", type=int, default=_R.batch_size,
                   help=f"queries per step ({_R.batch_size})")  # fmt: skip
    r.add_argument("--max-tokens", type=int, help="longest training input (default: the encoder's)")
    r.add_argument("--batch-tokens", type=int,
                   help="padded tokens per forward pass inside a step (default: the encoder's)")  # fmt: skip
    r.add_argument("--weight-decay", type=float, default=_R.weight_decay,
                   help=f"AdamW weight decay ({_R.weight_decay})")  # fmt: skip
    r.add_argument("--seed", type=int, default=_R.seed, help=f"seed ({_R.seed})")
    r.add_argument("--model-dropout", type=float, metavar="P",
                   help="dropout of the checkpoint's own layers (default: 0 with LoRA, the "
                        "checkpoint's own with --full)")  # fmt: skip
    r.add_argument("--instruction", help="query instruction (default: the encoder's own; '' none)")
    _on_off(r, "gradient-checkpointing", "recompute activations in backward (default: on CUDA)")
    _on_off(r, "bf16", "bf16 weights/compute (default: on GPUs that support it)")
    m = p.add_argument_group("hard-negative mining")
    m.add_argument("--mine-with", metavar="ENC",
                   help="encoder that ranks the corpus (default: ENCODER before training)")  # fmt: skip
    m.add_argument("--mine-depth", type=int, default=_M.depth,
                   help=f"candidates per query ({_M.depth})")  # fmt: skip
    m.add_argument("--mine-skip", type=int, default=_M.skip,
                   help=f"best non-positives left out as likely false negatives ({_M.skip})")  # fmt: skip
    m.add_argument("--negatives-cache", metavar="DIR",
                   help="where mined negatives are kept (default ~/.cache/diffsearch/negatives)")  # fmt: skip
    run_opts = p.add_argument_group("run")
    run_opts.add_argument("--checkpoint-every", type=int, default=50, metavar="N",
                          help="steps between checkpoints (50; epoch ends always)")  # fmt: skip
    run_opts.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA if present)")
    run_opts.add_argument("--json", action="store_true", help="print the training card as JSON")
    run_opts.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_store_args(p)
    add_model_args(p)
    p.set_defaults(func=run)


def _data(args: argparse.Namespace) -> Any:
    from train import TrainError, from_beir, from_judgments, from_pairs

    given = [x for x in (args.beir, args.judgments, args.pairs) if x]
    if len(given) != 1:
        raise TrainError(
            "give one source of training data: --beir DIR, --judgments FILE --index NAME, or --pairs FILE"
        )
    if args.dev_split and not args.beir:
        raise TrainError("--dev-split names a BEIR qrels split; use --dev-fraction otherwise")
    if args.beir:
        return from_beir(
            args.beir, args.split, dev_split=args.dev_split, dev_fraction=args.dev_fraction
        )
    if args.pairs:
        return from_pairs(args.pairs, dev_fraction=args.dev_fraction)
    if not args.index:
        raise TrainError(
            "--judgments FILE needs --index NAME: the index its documents were ingested into"
        )
    store = open_store_from_args(args)
    try:
        return from_judgments(args.judgments, args.index, store, dev_fraction=args.dev_fraction)
    finally:
        store.close()


def run(args: argparse.Namespace) -> int:
    """Train as the flags say; print where the result is and how to use it."""
    from train import Mining, Recipe, TrainError, fit

    try:
        recipe = Recipe(
            method="full" if args.full else "lora", lora_r=args.lora_r, lora_alpha=args.lora_alpha,
            lora_dropout=args.lora_dropout,
            target_modules=tuple(t.strip() for t in (args.target_modules or "").split(",") if t.strip()),
            temperature=args.temperature, hard_negatives=args.hard_negatives, lr=args.lr,
            warmup_ratio=args.warmup_ratio, warmup_steps=args.warmup_steps, epochs=args.epochs,
            batch_size=args.batch_size, max_tokens=args.max_tokens, batch_tokens=args.batch_tokens,
            weight_decay=args.weight_decay, seed=args.seed,
            gradient_checkpointing=args.gradient_checkpointing, bf16=args.bf16,
            instruction=args.instruction, model_dropout=args.model_dropout,
        )  # fmt: skip
        mining = Mining(encoder=args.mine_with, depth=args.mine_depth, skip=args.mine_skip)
    except TrainError:
        raise
    quiet = args.quiet or args.json

    def log(line: str) -> None:
        if not quiet:
            print(f"[train {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    data = _data(args)
    log(f"data: {len(data.examples):,} training pairs from {len(data.qrels):,} queries, "
        f"{len(data.dev_qrels):,} dev queries, {len(data.units):,} texts (hash {data.fingerprint})")  # fmt: skip
    result = fit(
        args.encoder, data, args.out, recipe=recipe, mining=mining, name=args.name,
        device=args.device, dev_docs=args.dev_docs, checkpoint_every=args.checkpoint_every,
        overwrite=args.overwrite, negatives_cache=args.negatives_cache,
        progress=None if not quiet else False, log=log, model_paths=model_paths(args),
    )  # fmt: skip
    card = result.card
    if args.json:
        print(json.dumps(card, indent=1))
        return 0
    dev = card.get("dev") or {}
    print(f"trained {result.name!r} from {card['base']['encoder']!r}: {card['steps']} steps, "
          f"{card['train_seconds']:.0f} s, {card['tokens_per_second']:,.0f} tokens/s")  # fmt: skip
    if dev:
        epochs = ", ".join(f"epoch {e['epoch']} {e['score']:.4f}" for e in dev["epochs"])
        print(f"dev {dev['metric']}: before {dev['before']:.4f}; {epochs}; kept epoch "
              f"{dev['best_epoch']} (reloaded: {dev['end']:.4f})")  # fmt: skip
    print(f"written: {result.out} (training_card.json, README.md)")
    print(
        f"use it: diffsearch search QUERY --index NAME -e {result.name} --adapter {result.name}={result.out}"
    )
    return 0
