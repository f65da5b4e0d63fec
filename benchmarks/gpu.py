"""Encoding and training throughput of 7B- and 0.6B-shaped encoders on one GPU.

Randomly initialised models with the real shapes (speed does not depend on the weights'
values): Qwen2 with Dream-7B's shape (hidden 3584, 28 layers, 28 heads, 4 KV heads, vocab
152064, intermediate 18944) and Qwen3 with Qwen3-0.6B's shape, in bf16, written with
``save_pretrained`` and loaded through ``load_encoder`` (the real loading path). For each, as
bidirectional mean-pooled and as causal last-token encoders, on texts of mixed lengths up to
512 and up to 4,096 tokens: tokens/s, padded-token fraction, peak memory and model-FLOPs
utilisation (MFU) against the chip's bf16 peak; the same texts through sentence-transformers
(Transformer + Pooling over the same folder) as the ratio; larger token budgets, padding-free
packing and torch.compile, each checked against the plain encoder's vectors. Then one LoRA
step of the Dream-shaped model at 4,096 tokens with gradient checkpointing.

    python benchmarks/gpu.py                   # a CUDA GPU; ~4-5 minutes on an H200
    python benchmarks/gpu.py --tiny            # tiny shapes on the CPU, every code path, seconds
    make gpu-bench                             # installs what it needs, then the line above

Results: ``benchmarks/results/gpu-<chip>.json`` (``--out``), rewritten after every measurement,
so a run stopped part way keeps what it measured; one line per measurement on stdout.
Exit status: 0 done (a failed option is recorded and the run goes on), 2 no CUDA GPU (without
``--tiny``) or bad arguments, 130 / 143 interrupted (results so far are in the file).
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The full run must finish in well under 6 minutes: optional measurements that would not fit in
# this many seconds (from the run's start) are skipped and listed as such.
BUDGET_S = 300.0


def _plans() -> dict[str, Any]:
    import torch

    from benchmarks.gpubench.phases import Plan
    from benchmarks.gpubench.shapes import DREAM_7B, QWEN3_06B, TINY_DREAM, TINY_QWEN3

    full = Plan(
        shapes=(QWEN3_06B, DREAM_7B),
        lengths=(512, 4096),
        # ~1-4 s per measurement at the throughput an H200 should reach.
        tokens={
            QWEN3_06B.name: {512: 262_144, 4096: 393_216},
            DREAM_7B.name: {512: 65_536, 4096: 131_072},
        },
        budgets=(131_072, 262_144),
        compile_shapes=(QWEN3_06B.name, DREAM_7B.name),  # each only if its guess fits
        compile_s={QWEN3_06B.name: 60.0, DREAM_7B.name: 150.0},
        train_shape=DREAM_7B.name,
        train_queries=4,
        train_length=4096,
        dtype=torch.bfloat16,
        tolerance=0.999,  # bf16: other batch shapes round differently
    )
    tiny = Plan(
        shapes=(TINY_QWEN3, TINY_DREAM),
        lengths=(32, 128),
        tokens={TINY_QWEN3.name: {32: 512, 128: 1024}, TINY_DREAM.name: {32: 512, 128: 1024}},
        budgets=(16_384,),
        compile_shapes=(TINY_QWEN3.name,),
        compile_s={TINY_QWEN3.name: 10.0},
        train_shape=TINY_DREAM.name,
        train_queries=2,
        train_length=128,
        dtype=torch.float32,
        tolerance=0.99999,  # float32 on the CPU: the same sums in another order
    )
    return {"full": full, "tiny": tiny}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--tiny", action="store_true", help="tiny shapes on the CPU (a test of every code path)"
    )
    p.add_argument("--device", help="default: cuda (full run), cpu (--tiny)")
    p.add_argument("--out", type=Path, help="results file, or a folder for gpu-<chip>.json "
                   "(default: benchmarks/results/; with --tiny: the temp folder)")  # fmt: skip
    p.add_argument("--workdir", type=Path, help="where the model folders are written and reused "
                   "(default: /dev/shm when it has room, else the temp folder)")  # fmt: skip
    p.add_argument(
        "--peak-tflops", type=float, help="the chip's dense bf16 peak (overrides the table)"
    )
    p.add_argument("--budget-s", type=float, default=BUDGET_S,
                   help=f"seconds the optional measurements must fit in (default {BUDGET_S:.0f})")  # fmt: skip
    p.add_argument(
        "--compile-backend", help="torch.compile backend (default: inductor; eager with --tiny)"
    )
    p.add_argument("--only", choices=("small", "big"), help="one shape only")
    return p.parse_args(argv)


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("SIGTERM")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    device = torch.device(args.device or ("cpu" if args.tiny else "cuda"))
    if device.type == "cuda" and not torch.cuda.is_available():
        print(
            f"benchmarks/gpu.py: error: no CUDA GPU visible to this torch ({torch.__version__}, "
            f"CUDA {torch.version.cuda or 'none: a CPU build'}). Run it where a GPU is, with a CUDA "
            "build of torch (`make gpu-bench` sets one up), or pass --tiny for the CPU check.",
            file=sys.stderr,
        )
        return 2
    if args.tiny:
        torch.set_num_threads(1)  # tiny matrices: more threads only contend
        # The CPU fast path replaces nn.Linear with fused layers that peft cannot wrap and that
        # the GPU never uses: the CPU check runs the GPU's module tree.
        os.environ["DIFFSEARCH_CPU_FUSION"] = "0"
    from transformers.utils import logging as hf_logging

    from benchmarks.gpubench import folders, phases
    from benchmarks.gpubench.record import Clock, Results, log
    from benchmarks.gpubench.shapes import bf16_peak, chip_key
    from benchmarks.gpubench.summary import ratios, summarise

    hf_logging.disable_progress_bar()  # per-shard bars would drown the per-phase lines
    plan = _plans()["tiny" if args.tiny else "full"]
    if args.only:
        plan = _only(plan, args.only)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({platform.machine()})"
    )
    table_peak = bf16_peak(name) if device.type == "cuda" else None
    peak = args.peak_tflops or table_peak
    key = chip_key(name) if device.type == "cuda" else "cpu"
    out = _out_path(args, key)
    header = _header(args, device, name, key, peak, table_peak, plan)
    clock = Clock(args.budget_s)
    results = Results(out, header)
    log(f"{name}: bf16 peak {peak or 'unknown'} TFLOP/s; results -> {out}")
    previous = signal.signal(signal.SIGTERM, _sigterm)  # `timeout` sends SIGTERM: keep the file
    status, code = "complete", 0
    try:
        t0 = time.perf_counter()
        corpus = folders.corpus_text()
        tokenizer = folders.train_tokenizer(corpus)
        workdir = args.workdir or folders.default_workdir(
            sum(s.bf16_gib for s in plan.shapes) * 1.1
        )
        ctx = phases.Context(plan, device, results, clock, workdir, peak,
                             args.compile_backend or ("eager" if args.tiny else "inductor"),
                             tokenizer, corpus)  # fmt: skip
        ctx.phase("tokenizer (byte-level BPE on the project's docs)", time.perf_counter() - t0)
        for shape in plan.shapes:
            phases.bench_shape(ctx, shape)
        for shape in plan.shapes:  # last: whatever time is left decides
            if shape.name in plan.compile_shapes:
                phases.bench_compile(ctx, shape)
    except KeyboardInterrupt as exc:
        status, code = "interrupted", 143 if str(exc) == "SIGTERM" else 130
        log(f"interrupted ({exc or 'SIGINT'}): results so far are in {out}")
    finally:
        signal.signal(signal.SIGTERM, previous)
        if status == "complete" and results.data["errors"]:
            status = "complete with errors"
        results.data["ratios_vs_sentence_transformers"] = ratios(results.data)
        results.data["total_s"] = round(clock.elapsed(), 1)
        results.finish(status)
    summarise(results.data)
    log(f"total {clock.elapsed():.1f} s; {status}; results in {out}")
    return code


def _only(plan: Any, which: str) -> Any:
    import dataclasses

    shapes = plan.shapes[:1] if which == "small" else plan.shapes[1:]
    return dataclasses.replace(plan, shapes=shapes)


def _out_path(args: argparse.Namespace, key: str) -> Path:
    name = f"gpu-{'tiny-' if args.tiny else ''}{key}.json"
    if args.out is None:
        base = (
            Path(tempfile.gettempdir()) / "diffsearch-gpu-bench"
            if args.tiny
            else ROOT / "benchmarks" / "results"
        )
        return base / name
    if args.out.is_dir() or str(args.out).endswith("/") or args.out.suffix != ".json":
        return args.out / name
    return args.out


def _header(args: argparse.Namespace, device: Any, name: str, key: str, peak: float | None,
            table_peak: float | None, plan: Any) -> dict[str, Any]:  # fmt: skip
    import importlib.metadata as md

    import torch

    def version(dist: str) -> str | None:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None

    chip: dict[str, Any] = {"name": name, "key": key, "device": str(device)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        chip["memory_gib"] = round(props.total_memory / 2**30, 1)
    chip["bf16_peak_tflops"] = peak
    chip["peak_source"] = "--peak-tflops" if args.peak_tflops else ("table" if table_peak else None)
    return {
        "benchmark": "benchmarks/gpu.py",
        "command": " ".join(
            [
                "python",
                "benchmarks/gpu.py",
                *(sys.argv[1:] if sys.argv[0].endswith("gpu.py") else []),
            ]
        ),
        "mode": "tiny" if args.tiny else "full",
        "chip": chip,
        "software": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "transformers": version("transformers"),
            "sentence-transformers": version("sentence-transformers"),
            "peft": version("peft"),
        },
        "plan": {
            "shapes": [s.name for s in plan.shapes],
            "lengths": list(plan.lengths),
            "dtype": str(plan.dtype),
            "budget_s": args.budget_s,
            "tolerance_min_cosine": plan.tolerance,
            "texts": "cut from the project's docs; token lengths log-uniform in [max/16, max-8]",
        },
    }


if __name__ == "__main__":
    raise SystemExit(main())
