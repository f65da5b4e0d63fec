"""Store engines on the same vectors: Qdrant Edge against qdrant-client's local mode (and a server).

Each engine runs in its own process (so memory figures are its own) through diffsearch's real
store code (``Store.write_documents`` / ``Store.query``), on the same random unit vectors, the
same documents (1 to 19 chunks each, a fifth of them PDFs) and the same queries:

* upsert: points written per second, in calls of about 1,000 points (as ingest writes), and
  per CPU second of the process (the wall figure also counts waiting for a core when the
  machine is shared; the load average around the upsert is reported with it);
* query p50/p95 ms: top 10 chunks, without and with a filter (``filetype=pdf``), exact scan;
* document-level query ms: the 10 best documents (best chunk each), exact scan;
* HNSW (Edge): build time (``Store.optimize``), then the same queries through the graph, with
  their recall@10 against the exact answers;
* memory: the process's resident set after writing and querying, minus what it held before.

    python benchmarks/store.py --points 100000 --dim 384
    python benchmarks/store.py --points 20000 --dim 3584 --json
    python benchmarks/store.py --points 20000 --dim 384 --qdrant-url http://localhost:6333
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _docs(points: int, dim: int, seed: int) -> list[Any]:
    from ingest.write import DocumentWrite

    rng = np.random.default_rng(seed)
    docs, done, d = [], 0, 0
    while done < points:
        n = min(int(rng.integers(1, 20)), points - done)
        v = rng.normal(size=(n, dim)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        ft = "pdf" if d % 5 == 0 else "md"
        chunks = tuple({"doc_id": f"d{d}", "source": f"d{d}.{ft}", "filetype": ft, "title": f"d{d}",
                        "page": 1 + i // 3 if ft == "pdf" else None, "section": None, "chunk": i,
                        "n_chunks": n, "text": "lorem ipsum dolor " * 50, "start_char": 0}
                       for i in range(n))  # fmt: skip
        manifest = {"state": "complete", "source": f"d{d}.{ft}", "filetype": ft, "title": f"d{d}",
                    "n_chunks": n, "size": 1, "mtime_ns": 1, "sha256": "0" * 64, "encoders": ["bench"]}  # fmt: skip
        docs.append(DocumentWrite(f"d{d}", manifest, chunks, {"bench": v}, True))
        done, d = done + n, d + 1
    return docs


def _times(fn: Any, queries: np.ndarray, warm: int = 3) -> tuple[list[Any], dict[str, float]]:
    for q in queries[:warm]:
        fn(q)
    out, ts = [], []
    for q in queries:
        t = time.perf_counter()
        out.append(fn(q))
        ts.append(time.perf_counter() - t)
    ms = 1000 * np.asarray(ts)
    return out, {"p50": float(np.median(ms)), "p95": float(np.percentile(ms, 95))}


def worker(
    engine: str, points: int, dim: int, n_queries: int, url: str | None, hnsw: bool
) -> dict[str, Any]:
    """One engine's figures (run in a child process)."""
    from search.records import Where
    from search.store import open_store

    docs = _docs(points, dim, seed=0)
    queries = np.random.default_rng(1).normal(size=(n_queries, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    info = {"name": "bench", "family": "encoder", "model_id": "random", "revision": "-", "dim": dim,
            "attention": "bidirectional", "pooling": "mean", "max_tokens": 256, "long_policy": "truncate"}  # fmt: skip
    index = f"bench{os.getpid()}" if engine == "server" else "bench"  # ids derive from the name
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(url=url) if engine == "server" else open_store(path=tmp, engine=engine)
        base = _rss_mb()
        store.ensure_index(index, {"mode": "whole"})
        store.add_encoder(index, info)
        batches, batch, size = [], [], 0
        for d in docs:
            batch.append(d)
            size += len(d.chunks)
            if size >= 1000:
                batches.append(batch)
                batch, size = [], 0
        batches += [batch] if batch else []
        t0, c0, l0 = time.perf_counter(), time.process_time(), os.getloadavg()[0]
        for b in batches:
            store.write_documents(index, b)
        upsert_s = time.perf_counter() - t0
        # CPU seconds of this process (all its threads): on a shared machine the wall time also
        # counts waiting for a core, so both are reported, with the load around the upsert.
        upsert_cpu_s = time.process_time() - c0
        upsert_load = (l0 + os.getloadavg()[0]) / 2
        pdf = Where(filetypes=("pdf",))
        exact = engine == "edge"  # the other engines scan anyway (local) or use their own index

        def chunk_q(q: np.ndarray) -> list[str]:
            return [
                f"{h.doc_id}#{h.chunk}"
                for h in store.query(index, "bench", q, 10, group_by_doc=False, exact=exact)
            ]

        def filt_q(q: np.ndarray) -> list[str]:
            return [
                f"{h.doc_id}#{h.chunk}"
                for h in store.query(
                    index, "bench", q, 10, group_by_doc=False, where=pdf, exact=exact
                )
            ]

        def doc_q(q: np.ndarray) -> list[str]:
            return [h.doc_id for h in store.query(index, "bench", q, 10, exact=exact)]

        ids, plain = _times(chunk_q, queries)
        fids, filtered = _times(filt_q, queries)
        dids, grouped = _times(doc_q, queries)
        out: dict[str, Any] = {
            "engine": engine, "points": points, "dim": dim, "queries": n_queries,
            "upsert_s": upsert_s, "upsert_points_per_s": points / upsert_s,
            "upsert_cpu_s": upsert_cpu_s, "upsert_points_per_cpu_s": points / upsert_cpu_s,
            "upsert_load": upsert_load,
            "query_ms": plain, "filtered_query_ms": filtered, "doc_query_ms": grouped,
            "top10": ids, "filtered_top10": fids, "doc_top10": dids,
        }  # fmt: skip
        if hnsw and engine == "edge":
            t0 = time.perf_counter()
            store.optimize(index, force=True)
            out["hnsw_build_s"] = time.perf_counter() - t0
            exact = False
            hids, out["hnsw_query_ms"] = _times(chunk_q, queries)
            hf, out["hnsw_filtered_query_ms"] = _times(filt_q, queries)
            _hd, out["hnsw_doc_query_ms"] = _times(doc_q, queries)
            recall = [len(set(a) & set(b)) / max(1, len(a)) for a, b in zip(ids, hids, strict=True)]
            out["hnsw_recall_at_10"] = float(np.mean(recall))
            out["hnsw_filtered_recall_at_10"] = float(np.mean(
                [len(set(a) & set(b)) / max(1, len(a)) for a, b in zip(fids, hf, strict=True)]))  # fmt: skip
        out["memory_mb"] = _rss_mb() - base
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if engine == "server":
            store.drop_index(index)
        store.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--points", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--engines", nargs="+", default=["edge", "qdrant-local"],
                    choices=["edge", "qdrant-local", "server"])  # fmt: skip
    ap.add_argument("--qdrant-url", help="also run a Qdrant server at this URL")
    ap.add_argument("--no-hnsw", action="store_true", help="skip the HNSW build on Edge")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        res = worker(
            args.worker, args.points, args.dim, args.queries, args.qdrant_url, not args.no_hnsw
        )
        print(json.dumps(res))
        return 0
    engines = list(args.engines) + (
        ["server"] if args.qdrant_url and "server" not in args.engines else []
    )
    results = {}
    for engine in engines:
        cmd = [sys.executable, __file__, "--worker", engine, "--points", str(args.points),
               "--dim", str(args.dim), "--queries", str(args.queries)]  # fmt: skip
        cmd += ["--qdrant-url", args.qdrant_url] if args.qdrant_url else []
        cmd += ["--no-hnsw"] if args.no_hnsw else []
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        results[engine] = json.loads(proc.stdout.strip().splitlines()[-1])
    summary = _summary(results)
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"load": load, "summary": summary,
                          "results": {k: {x: y for x, y in v.items() if "top10" not in x} for k, v in results.items()}},
                         indent=2))  # fmt: skip
        return 0
    print(
        f"{args.points:,} x {args.dim} unit vectors, {args.queries} queries, load average {load[0]:.2f}"
    )
    print(f"{'engine':<13} {'upsert pts/s':>12} {'pts/cpu-s':>9} {'query p50/p95 ms':>17} {'filtered p50/p95':>17} "
          f"{'doc-level p50':>13} {'memory MB':>9}")  # fmt: skip
    for name, r in results.items():
        print(f"{name:<13} {r['upsert_points_per_s']:>12,.0f} {r['upsert_points_per_cpu_s']:>9,.0f}"
              f" {r['query_ms']['p50']:>8.2f}/{r['query_ms']['p95']:<8.2f}"
              f" {r['filtered_query_ms']['p50']:>8.2f}/{r['filtered_query_ms']['p95']:<8.2f}"
              f" {r['doc_query_ms']['p50']:>13.2f} {r['memory_mb']:>9.0f}")  # fmt: skip
        if "hnsw_build_s" in r:
            print(f"{name + ' HNSW':<13} {'build ' + format(r['hnsw_build_s'], '.1f') + ' s':>12} {'':>9} "
                  f"{r['hnsw_query_ms']['p50']:>8.2f}/{r['hnsw_query_ms']['p95']:<8.2f}"
                  f" {r['hnsw_filtered_query_ms']['p50']:>8.2f}/{r['hnsw_filtered_query_ms']['p95']:<8.2f}"
                  f" {r['hnsw_doc_query_ms']['p50']:>13.2f}   recall@10 {r['hnsw_recall_at_10']:.3f}")  # fmt: skip
    for line in summary["lines"]:
        print(line)
    return 0


def _summary(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"lines": []}
    edge, local = results.get("edge"), results.get("qdrant-local")
    if edge and local:
        same = (
            edge["top10"] == local["top10"]
            and edge["filtered_top10"] == local["filtered_top10"]
            and edge["doc_top10"] == local["doc_top10"]
        )
        best = min(edge["query_ms"]["p50"], edge.get("hnsw_query_ms", edge["query_ms"])["p50"])
        out.update(
            same_exact_results=same,
            query_speedup_exact=local["query_ms"]["p50"] / edge["query_ms"]["p50"],
            query_speedup_best=local["query_ms"]["p50"] / best,
            filtered_speedup=local["filtered_query_ms"]["p50"] / edge["filtered_query_ms"]["p50"],
            doc_speedup=local["doc_query_ms"]["p50"] / edge["doc_query_ms"]["p50"],
            upsert_speedup=edge["upsert_points_per_s"] / local["upsert_points_per_s"],
        )  # fmt: skip
        out["lines"] += [
            f"Edge / local mode, query p50: {out['query_speedup_exact']:.1f}x exact scan, "
            f"{out['query_speedup_best']:.1f}x at Edge's best; filtered {out['filtered_speedup']:.1f}x; "
            f"document-level {out['doc_speedup']:.1f}x; upsert {out['upsert_speedup']:.1f}x",
            f"same exact top-10 ids from both engines: {'yes' if same else 'NO'}",
        ]
    return out


if __name__ == "__main__":
    raise SystemExit(main())
