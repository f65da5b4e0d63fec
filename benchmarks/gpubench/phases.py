"""The phases of ``benchmarks/gpu.py``: per model shape, encode (ours, its options, and
sentence-transformers) and, for the Dream shape, one LoRA training step.

Every measurement is one row in the results file, written as soon as it is taken; a failing
option (out of memory, a kernel this machine lacks) is recorded as an error and the run goes on.
"""

from __future__ import annotations

import gc
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.gpubench import folders, options, training
from benchmarks.gpubench.record import Clock, Results, log, memory, reset_peak, sync
from benchmarks.gpubench.shapes import Shape
from encoders.batching import token_budget_batches

# The two ways the project runs a decoder: the paper's two sides.
DIRECTIONS = (("bidirectional", "mean"), ("causal", "last"))
ST_BATCH = 32  # sentence-transformers' default batch size


@dataclass(frozen=True)
class Plan:
    """What one run measures.

    Attributes:
        shapes: Model shapes, measured in this order (the small one first: it proves every
            code path on the machine in seconds).
        lengths: Longest text of each text set (tokens, EOS included).
        tokens: Shape name -> length -> tokens of text per measurement.
        budgets: ``batch_tokens`` values tried besides the default.
        compile_shapes: Shapes whose bidirectional encoder is also measured under torch.compile,
            at the end of the run, each only if its expected cost still fits the budget.
        compile_s: Expected compile cost per shape.
        train_shape: Shape of the LoRA step (None: no step).
        train_queries: Queries per step (each with a positive and a hard negative).
        train_length: Tokens of each training document.
        dtype: Model dtype.
        tolerance: Min cosine for an option's vectors to count as unchanged.
    """

    shapes: tuple[Shape, ...]
    lengths: tuple[int, ...]
    tokens: dict[str, dict[int, int]]
    budgets: tuple[int, ...]
    compile_shapes: tuple[str, ...]
    compile_s: dict[str, float]
    train_shape: str | None
    train_queries: int
    train_length: int
    dtype: torch.dtype
    tolerance: float


@dataclass(frozen=True)
class TextSet:
    """The texts of one length class, with what each side feeds its model."""

    length: int
    texts: list[str]


@dataclass
class Context:
    """What every phase needs."""

    plan: Plan
    device: torch.device
    results: Results
    clock: Clock
    workdir: Path
    peak_tflops: float | None
    compile_backend: str
    tokenizer: Any
    corpus: str
    seconds_per_token: dict[str, float] = field(default_factory=dict)  # measured, per shape
    # The plain encoder's vectors per (shape, encoder, length): what every option is checked
    # against, kept for the torch.compile phase at the end of the run.
    references: dict[tuple[str, str, int], np.ndarray] = field(default_factory=dict)
    text_sets: dict[str, list[TextSet]] = field(default_factory=dict)
    our_lengths: dict[tuple[str, str, int], list[int]] = field(default_factory=dict)

    def phase(self, name: str, seconds: float, **extra: Any) -> None:
        self.results.add("phases", {"phase": name, "seconds": round(seconds, 3), **extra})
        log(f"[{self.clock.elapsed():6.1f} s] {name}: {seconds:.1f} s")

    def skip(self, what: str, why: str) -> None:
        self.results.add("skipped", {"what": what, "why": why})
        log(f"[{self.clock.elapsed():6.1f} s] skipped {what}: {why}")

    def error(self, what: str, exc: BaseException) -> None:
        self.results.add(
            "errors",
            {"what": what, "error": f"{type(exc).__name__}: {exc}"[:500],
             "where": traceback.format_exc(limit=-3)[-1500:]},
        )  # fmt: skip
        log(f"[{self.clock.elapsed():6.1f} s] FAILED {what}: {type(exc).__name__}: {exc}"[:400])
        if self.device.type == "cuda":
            gc.collect()
            torch.cuda.empty_cache()


def _free() -> None:
    from encoders.registry import clear_cache

    clear_cache()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _padded(lengths: list[int], batches: list[list[int]]) -> int:
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def _st_padded(texts: list[str], lengths: list[int]) -> int:
    """Padded tokens of sentence-transformers' batching: sorted by characters, 32 per batch."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    return _padded(lengths, [order[i : i + ST_BATCH] for i in range(0, len(order), ST_BATCH)])


def measure(
    ctx: Context,
    row: dict[str, Any],
    run: Callable[[list[str]], np.ndarray],
    texts: list[str],
    lengths: list[int],
    padded: int,
    shape: Shape,
    causal: bool,
    reference: np.ndarray | None,
    warm: list[str],
) -> np.ndarray | None:
    """Warm up, time ``run(texts)`` once, and record throughput, padding, memory and MFU.

    Args:
        row: Identifies the measurement (model, encoder, length, implementation, option).
        lengths: Real tokens of each model input; ``padded``: tokens the batches hold.
        reference: The plain encoder's vectors for ``texts``, to check an option against.
        warm: Texts run first, untimed (kernel selection, allocator, compilation).
    """
    what = " ".join(str(v) for v in row.values())
    try:
        t0 = time.perf_counter()
        run(warm)
        sync(ctx.device)
        warm_s = time.perf_counter() - t0
        reset_peak(ctx.device)
        t0 = time.perf_counter()
        vectors = run(texts)
        sync(ctx.device)
        seconds = time.perf_counter() - t0
    except Exception as exc:  # one option failing (OOM, a missing kernel) must not end the run
        ctx.error(what, exc)
        return None
    tokens = sum(lengths)
    flops = shape.forward_flops(lengths, causal)
    out: dict[str, Any] = {
        **row, "texts": len(texts), "tokens": tokens, "padded_tokens": padded,
        "padded_fraction": round(1 - tokens / padded, 4) if padded else 0.0,
        "seconds": round(seconds, 4), "warmup_s": round(warm_s, 3),
        "texts_per_s": round(len(texts) / seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
        "model_tflops_per_s": round(flops / seconds / 1e12, 3),
        "mfu": round(flops / seconds / 1e12 / ctx.peak_tflops, 4) if ctx.peak_tflops else None,
        **{k: round(v, 3) for k, v in memory(ctx.device).items()},
    }  # fmt: skip
    if reference is not None:
        agree = options.agreement(reference, vectors)
        out.update({k: float(f"{v:.3g}") for k, v in agree.items()})
        out["unchanged"] = agree["min_cosine"] >= ctx.plan.tolerance
    else:
        out["spread_mean_cosine"] = round(options.spread(vectors), 4)
    ctx.results.add("encode", out)
    ctx.seconds_per_token[shape.name] = seconds / tokens
    mfu = f", MFU {out['mfu']:.1%}" if out["mfu"] is not None else ""
    agree_s = f", min cos vs default {out['min_cosine']:.5f}" if reference is not None else ""
    log(
        f"[{ctx.clock.elapsed():6.1f} s]   {what}: {out['tokens_per_s']:,.0f} tokens/s, "
        f"{out['texts_per_s']:,.1f} texts/s, padding {out['padded_fraction']:.1%}{mfu}{agree_s}"
    )
    return vectors


def _warm_texts(texts: list[str]) -> list[str]:
    """The longest texts (the biggest batch the run will allocate) and a few short ones."""
    by_len = sorted(texts, key=len)
    return by_len[-4:] + by_len[:4]


def bench_shape(ctx: Context, shape: Shape) -> None:
    """Every measurement of one shape (see the module docstring)."""
    plan = ctx.plan
    if ctx.device.type == "cuda":
        total = torch.cuda.get_device_properties(ctx.device).total_memory / 2**30
        need = shape.bf16_gib * 1.2 + 8  # the weights (one model at a time) and activations
        if need > total:
            ctx.skip(shape.name, f"needs ~{need:.0f} GiB, the GPU has {total:.0f}")
            return
    folder = ctx.workdir / shape.name
    t0 = time.perf_counter()
    made = folders.write_folder(shape, folder, ctx.tokenizer, device=str(ctx.device),
                                dtype=plan.dtype, max_positions=max(plan.lengths))  # fmt: skip
    ctx.phase(f"{shape.name}: random weights on {ctx.device.type}, save_pretrained",
              time.perf_counter() - t0, **made, folder=str(folder), weights_gib=round(shape.bf16_gib, 2))  # fmt: skip
    # Cut and count texts with the tokenizer both sides load from the folder (for a qwen2
    # folder, transformers builds Qwen2's own tokenizer class from the files, which splits some
    # texts differently from the tokenizer object that wrote them).
    tok = _folder_tokenizer(folder)
    sets = [
        TextSet(n, folders.texts_for_tokens(tok, ctx.corpus, plan.tokens[shape.name][n], n, seed=n))
        for n in plan.lengths
    ]
    ctx.text_sets[shape.name] = sets
    # One model on the GPU at a time, so that each peak-memory figure is that model's own.
    for attention, pooling in DIRECTIONS:
        label = f"{attention}-{pooling}"
        encoder = _load(ctx, shape, folder, attention, pooling)
        if encoder is None:
            continue
        _encode_ours(ctx, shape, encoder, label, sets)
        if label == "bidirectional-mean" and plan.train_shape == shape.name:
            _train(ctx, shape, encoder, tok)
        del encoder
        _free()
    st = _load_st(ctx, shape, folder)
    if st is not None:
        for attention, pooling in DIRECTIONS:
            _encode_st(ctx, shape, st, attention, pooling, sets)
    del st
    _free()


def _folder_tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def _load(ctx: Context, shape: Shape, folder: Path, attention: str, pooling: str) -> Any:
    from encoders import load_encoder

    t0 = time.perf_counter()
    try:
        encoder = load_encoder(str(folder), attention=attention, pooling=pooling,
                               max_tokens=max(ctx.plan.lengths), device=str(ctx.device),
                               dtype=str(ctx.plan.dtype).removeprefix("torch."))  # fmt: skip
    except Exception as exc:
        ctx.error(f"{shape.name} load_encoder {attention}", exc)
        return None
    sync(ctx.device)
    ctx.phase(f"{shape.name}: load_encoder({attention}, {pooling})", time.perf_counter() - t0,
              batch_tokens=encoder.batch_tokens)  # fmt: skip
    return encoder


def _encode_ours(
    ctx: Context,
    shape: Shape,
    encoder: Any,
    label: str,
    sets: list[TextSet],
) -> None:
    causal = encoder.attention == "causal"
    default = encoder.batch_tokens
    for ts in sets:
        lengths = folders.sequences_lengths(encoder, ts.texts)
        row = {"model": shape.name, "encoder": label, "length": ts.length}
        warm = _warm_texts(ts.texts)

        def padded(budget: int, lengths: list[int] = lengths) -> int:
            return _padded(lengths, token_budget_batches(lengths, budget))

        ctx.our_lengths[(shape.name, label, ts.length)] = lengths
        ref = measure(ctx, {**row, "impl": "diffsearch", "option": f"default (batch_tokens={default})"},
                      encoder.encode_documents, ts.texts, lengths, padded(default), shape, causal,
                      None, warm)  # fmt: skip
        if ref is None:
            continue
        ctx.references[(shape.name, label, ts.length)] = ref
        for budget in ctx.plan.budgets:
            if not _fits(
                ctx, shape, lengths, f"{shape.name} {label} {ts.length} batch_tokens={budget}"
            ):
                continue
            with options.token_budget(encoder, budget):
                measure(ctx, {**row, "impl": "diffsearch", "option": f"batch_tokens={budget}"},
                        encoder.encode_documents, ts.texts, lengths, padded(budget), shape, causal,
                        ref, warm)  # fmt: skip
        if _fits(ctx, shape, lengths, f"{shape.name} {label} {ts.length} packed"):
            kernel = options.kernel_name(ctx.device)
            measure(ctx, {**row, "impl": "diffsearch", "option": f"packed (budget {default}, {kernel})"},
                    lambda t: options.encode_packed(encoder, t, default), ts.texts, lengths,
                    sum(lengths), shape, causal, ref, warm)  # fmt: skip


def _fits(ctx: Context, shape: Shape, lengths: list[int], what: str, extra_s: float = 0.0) -> bool:
    """Whether a measurement over ``lengths`` (warm-up included) fits in the time left."""
    per_token = ctx.seconds_per_token.get(shape.name, 0.0)
    need = 2.5 * per_token * sum(lengths) + extra_s
    if ctx.clock.left() < need:
        ctx.skip(what, f"needs ~{need:.0f} s, {ctx.clock.left():.0f} s of the budget left")
        return False
    return True


def bench_compile(ctx: Context, shape: Shape) -> None:
    """The bidirectional encoder under torch.compile, against its plain vectors (run last: a
    compile's cost is the least predictable, so it gets whatever time is left)."""
    label = "bidirectional-mean"
    sets = [
        ts
        for ts in ctx.text_sets.get(shape.name, [])
        if (shape.name, label, ts.length) in ctx.references
    ]
    what = f"{shape.name} torch.compile"
    if not sets:
        ctx.skip(what, "no plain measurement of this shape to compare with")
        return
    tokens = sum(r["tokens"] for r in ctx.results.data["encode"]
                 if (r["model"], r["encoder"], r["impl"]) == (shape.name, label, "diffsearch")
                 and r["option"].startswith("default"))  # fmt: skip
    if not _fits(ctx, shape, [tokens], what, ctx.plan.compile_s.get(shape.name, 60.0)):
        return
    encoder = _load(ctx, shape, ctx.workdir / shape.name, "bidirectional", "mean")
    if encoder is None:
        return
    with options.compiled(encoder, ctx.compile_backend):
        for ts in sets:
            lengths = folders.sequences_lengths(encoder, ts.texts)
            # Warm-up on the whole set: every batch shape is compiled before the timed run.
            measure(ctx, {"model": shape.name, "encoder": label, "length": ts.length, "impl": "diffsearch",
                          "option": f"torch.compile({ctx.compile_backend}, dynamic)"},
                    encoder.encode_documents, ts.texts, lengths,
                    _padded(lengths, token_budget_batches(lengths, encoder.batch_tokens)), shape,
                    False, ctx.references[(shape.name, label, ts.length)], ts.texts)  # fmt: skip
    del encoder
    _free()


def _load_st(ctx: Context, shape: Shape, folder: Path) -> Any:
    """sentence-transformers over the same folder: Transformer + Pooling (mean and last-token)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    t0 = time.perf_counter()
    try:
        body = Transformer(str(folder), max_seq_length=max(ctx.plan.lengths),
                           model_kwargs={"dtype": ctx.plan.dtype, "attn_implementation": "sdpa"})  # fmt: skip
        dim = shape.hidden
        models = {
            pooling: SentenceTransformer(modules=[body, Pooling(dim, mode)], device=str(ctx.device))
            for pooling, mode in (("mean", "mean"), ("last", "lasttoken"))
        }
    except Exception as exc:
        ctx.error(f"{shape.name} sentence-transformers load", exc)
        return None
    sync(ctx.device)
    ctx.phase(f"{shape.name}: sentence-transformers load", time.perf_counter() - t0,
              unpadded_inputs=bool(getattr(body, "can_flatten_inputs", False)))  # fmt: skip
    return body, models


def _encode_st(
    ctx: Context,
    shape: Shape,
    st: Any,
    attention: str,
    pooling: str,
    sets: list[TextSet],
) -> None:
    """The same texts through sentence-transformers, fed the same tokens as ours (text + EOS).

    Direction goes through the same public switch as ours (``config.is_causal``, read at every
    forward pass). Pooling differs by design for mean: ours averages the text tokens only (EOS
    is attended, not averaged), sentence-transformers averages every token; last-token pooling
    is the same computation on both sides.
    """
    body, models = st
    model = models[pooling]
    label = f"{attention}-{pooling}"
    hf = getattr(body, "model", None) or body.auto_model
    hf.config.is_causal = attention == "causal"
    eos = body.tokenizer.eos_token
    for ts in sets:
        fed = [t + eos for t in ts.texts]
        lengths = [min(len(ids), max(ctx.plan.lengths)) for ids in body.tokenizer(fed)["input_ids"]]
        if not _fits(
            ctx, shape, lengths, f"{shape.name} {label} {ts.length} sentence-transformers"
        ):
            continue
        same_tokens = lengths == ctx.our_lengths.get((shape.name, label, ts.length))

        def run(texts: list[str]) -> np.ndarray:
            out: np.ndarray = model.encode(texts, batch_size=ST_BATCH, normalize_embeddings=True,
                                           convert_to_numpy=True, show_progress_bar=False)  # fmt: skip
            return out

        warm = _warm_texts(fed)
        vec = measure(ctx, {"model": shape.name, "encoder": label, "length": ts.length,
                            "impl": "sentence-transformers", "option": f"batch_size={ST_BATCH}"},
                      run, fed, lengths, _st_padded(fed, lengths), shape, attention == "causal",
                      ctx.references.get((shape.name, label, ts.length)), warm)  # fmt: skip
        if vec is not None:
            ctx.results.data["encode"][-1]["same_tokens_as_diffsearch"] = same_tokens
            ctx.results.save()


def _train(ctx: Context, shape: Shape, encoder: Any, tok: Any) -> None:
    """One LoRA step (warm-up) then timed steps, on queries + positives + hard negatives."""
    plan = ctx.plan
    n, length = plan.train_queries, plan.train_length
    docs = folders.make_texts(tok, ctx.corpus, 2 * n, length, seed=7, full=True)
    queries = folders.make_texts(tok, ctx.corpus, n, 64, seed=11)
    positives, negatives = docs[:n], docs[n:]
    what = f"{shape.name} LoRA step"
    if ctx.clock.left() < 45:
        ctx.skip(what, f"{ctx.clock.left():.0f} s of the budget left")
        return
    try:
        t0 = time.perf_counter()
        peft_model = training.add_lora(encoder)
        optimizer = torch.optim.AdamW(training.trainable(peft_model), lr=1e-4)
        setup_s = time.perf_counter() - t0
        first = training.lora_step(encoder, optimizer, queries, positives, negatives)
        reset_peak(ctx.device)
        steps = [
            training.lora_step(encoder, optimizer, queries, positives, negatives) for _ in range(2)
        ]
    except Exception as exc:
        ctx.error(what, exc)
        return
    q_len = folders.sequences_lengths(encoder, queries)
    d_len = folders.sequences_lengths(encoder, positives + negatives)
    lengths = q_len + d_len
    seconds = statistics.median(s["seconds"] for s in steps)
    flops = shape.lora_step_flops(lengths, causal=False)
    row = {
        "model": shape.name, "step": training.__doc__.split("\n\n")[1].split(".")[0],
        "recipe": "LoRA r=16 alpha=32 dropout=0.05 on q/k/v/o/gate/up/down, gradient "
                  "checkpointing, InfoNCE t=0.02, in-batch + 1 hard negative, AdamW",
        "queries": n, "documents": 2 * n, "document_tokens": d_len, "query_tokens": q_len,
        "tokens_per_step": sum(lengths), "setup_s": round(setup_s, 3),
        "first_step_s": round(first["seconds"], 3), "step_s": [round(s["seconds"], 3) for s in steps],
        "median_step_s": round(seconds, 3), "tokens_per_s": round(sum(lengths) / seconds, 1),
        "model_tflops_per_s": round(flops / seconds / 1e12, 3),
        "mfu": round(flops / seconds / 1e12 / ctx.peak_tflops, 4) if ctx.peak_tflops else None,
        "losses": [round(first["loss"], 4)] + [round(s["loss"], 4) for s in steps],
        "lora_parameters": sum(p.numel() for p in training.trainable(peft_model)),
        **{k: round(v, 3) for k, v in memory(ctx.device).items()},
    }  # fmt: skip
    ctx.results.add("train", row)
    log(f"[{ctx.clock.elapsed():6.1f} s]   {what}: {row['tokens_per_s']:,.0f} tokens/s, "
        f"step {seconds:.2f} s (first {first['seconds']:.2f} s)"
        + (f", MFU {row['mfu']:.1%}" if row["mfu"] is not None else ""))  # fmt: skip
    del optimizer, peft_model
