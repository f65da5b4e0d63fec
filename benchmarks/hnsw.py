"""HNSW on Qdrant Edge: recall@10 and latency against the exact scan, on real embeddings.

Real vectors: all-MiniLM-L6-v2 (the ``minilm`` preset, 64 tokens) of the titles and sentences of
the SciFact and NFCorpus corpora in ``../shared/data/beir`` (~90,000 texts; ``--max-texts``
takes the first N), queried with the datasets' own queries (encoded as queries); or random unit
vectors of the same size (``--random``: no structure, the worst case for a graph). Each
(m, ef_construct) gets its own Edge shard, built with ``optimize``; every query runs exactly
(ground truth: NumPy on the same unit vectors) and through the graph at several ``hnsw_ef``.

The vectors are cached in ``--cache`` (``docs.npy``, ``queries.npy``), written as they are
encoded, so a run stopped half-way leaves the texts encoded so far for the next.

    python benchmarks/hnsw.py --cache /tmp/hnsw-vectors --max-texts 30000 --json
    python benchmarks/hnsw.py --cache /tmp/hnsw-vectors --random --configs 16:100
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "beir"
SETS = ("scifact", "nfcorpus")


def _texts() -> tuple[list[str], list[str]]:
    texts: list[str] = []
    queries: list[str] = []
    for name in SETS:
        with open(DATA / name / "corpus.jsonl") as f:
            for line in f:
                d = json.loads(line)
                sents = re.split(r"(?<=[.!?])\s+", d.get("text", ""))
                texts += [d.get("title", "")] + [s.strip() for s in sents if len(s.strip()) > 20]
        with open(DATA / name / "queries.jsonl") as f:
            queries += [json.loads(line)["text"] for line in f]
    return [t for t in texts if t], queries


def vectors(cache: Path, max_texts: int, n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    """(texts, 384) and (queries, 384) MiniLM vectors, from the cache or encoded into it."""
    cache.mkdir(parents=True, exist_ok=True)
    docs_f, q_f = cache / "docs.npy", cache / "queries.npy"
    have = np.load(docs_f, mmap_mode="r").shape[0] if docs_f.exists() else 0
    if have < max_texts or not q_f.exists():
        from encoders import load_encoder

        texts, queries = _texts()
        enc = load_encoder("minilm", max_tokens=64)
        if not q_f.exists():
            np.save(q_f, enc.encode_queries(queries[:2000]).astype(np.float32))
        parts = [np.load(docs_f)] if have else []
        for i in range(have, min(max_texts, len(texts)), 4096):
            parts.append(enc.encode_documents(texts[i : min(i + 4096, max_texts)]))
            np.save(docs_f, np.concatenate(parts).astype(np.float32))
            print(f"encoded {i + len(parts[-1]):,} texts", file=sys.stderr)
    x = np.load(docs_f)[:max_texts]
    q = np.load(q_f)
    q = q[np.random.default_rng(0).choice(len(q), min(n_queries, len(q)), replace=False)]
    return x, q


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def study(x: np.ndarray, q: np.ndarray, m: int, efc: int, efs: list[int]) -> dict[str, Any]:
    """One shard with (m, ef_construct): build time, then recall@10 and latency per hnsw_ef."""
    import qdrant_edge as qe

    n, dim = x.shape
    truth = np.argsort(-(q @ x.T), axis=1)[:, :10]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine),
            hnsw_config=qe.HnswIndexConfig(m=m, ef_construct=efc, full_scan_threshold=10_000),
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=7812),  # as diffsearch's shards
        )
        shard = qe.EdgeShard.create(str(Path(tmp) / "s"), cfg)
        for i in range(0, n, 2000):
            rows = x[i : i + 2000].tolist()
            shard.update(qe.UpdateOperation.upsert_points(
                [qe.Point(i + j, r) for j, r in enumerate(rows)]))  # fmt: skip
        t0, c0 = time.perf_counter(), time.process_time()
        shard.optimize()
        out: dict[str, Any] = {
            "m": m, "ef_construct": efc, "build_s": time.perf_counter() - t0,
            "build_cpu_s": time.process_time() - c0, "indexed": shard.info().indexed_vectors_count,
        }  # fmt: skip

        def run(params: Any) -> dict[str, float]:
            ts, rec = [], []
            for k, v in enumerate(q):
                req = qe.QueryRequest(limit=10, query=qe.Query.Nearest(v.tolist()),
                                      with_payload=False, params=params)  # fmt: skip
                t = time.perf_counter()
                got = shard.query(req)
                ts.append(time.perf_counter() - t)
                rec.append(len({int(p.id) for p in got} & set(truth[k].tolist())) / 10)
            ms = 1000 * np.asarray(ts)
            return {"recall_at_10": float(np.mean(rec)), "p50_ms": float(np.median(ms)),
                    "p95_ms": float(np.percentile(ms, 95))}  # fmt: skip

        out["exact"] = run(qe.SearchParams(exact=True))
        out["default_ef"] = run(None)
        out["ef"] = {ef: run(qe.SearchParams(hnsw_ef=ef)) for ef in efs}
        shard.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cache", type=Path, required=True, help="folder for the encoded vectors")
    ap.add_argument("--max-texts", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--random", action="store_true", help="random unit vectors of the same size")
    ap.add_argument("--configs", nargs="+", default=["16:100", "32:200"], metavar="M:EF_CONSTRUCT")
    ap.add_argument("--ef", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    x, q = vectors(args.cache, args.max_texts, args.queries)
    if args.random:
        rng = np.random.default_rng(0)
        x, q = rng.normal(size=x.shape), rng.normal(size=q.shape)
    x, q = _unit(x), _unit(q)
    rows = [study(x, q, *map(int, c.split(":")), args.ef) for c in args.configs]
    res = {"vectors": "random" if args.random else "minilm scifact+nfcorpus", "n": x.shape[0],
           "dim": x.shape[1], "queries": len(q), "load": os.getloadavg(), "configs": rows}  # fmt: skip
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['vectors']}: {res['n']:,} x {res['dim']}, {res['queries']} queries, "
          f"load average {res['load'][0]:.1f}")  # fmt: skip
    for r in rows:
        e = r["exact"]
        print(f"m={r['m']} ef_construct={r['ef_construct']}: build {r['build_s']:.1f} s "
              f"({r['build_cpu_s']:.1f} CPU s); exact p50 {e['p50_ms']:.2f} ms")  # fmt: skip
        d = r["default_ef"]
        print(f"  default ef: recall@10 {d['recall_at_10']:.3f}  p50 {d['p50_ms']:.2f} ms")
        for ef, v in r["ef"].items():
            print(f"  hnsw_ef {ef:>4}: recall@10 {v['recall_at_10']:.3f}  p50 {v['p50_ms']:.2f} ms"
                  f"  p95 {v['p95_ms']:.2f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
