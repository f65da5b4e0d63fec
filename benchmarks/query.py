"""Document-level query speed: diffsearch against Qdrant's group API in the embedded store.

A document-level search returns each of the k best documents' best chunk. Qdrant's own way is
``query_points_groups(group_by="doc_id", group_size=1)``; diffsearch's ``Store.query`` asks for
the top chunks and keeps each document's first (see ``search/grouping.py``). The same documents
(random unit vectors, 384 dimensions, 1 to 19 chunks per document, one long document of 500
chunks) go into qdrant-client's local mode and into Qdrant Edge (diffsearch's default, exact
scan); the same queries run as Qdrant's grouped query in local mode (the reference), as
diffsearch on local mode and as diffsearch on Edge. The script checks that all three return the
same documents and chunks and prints the time per query and the ratios.

    python benchmarks/query.py                      # 20,000 and 50,000 chunks, k=10
    python benchmarks/query.py --chunks 100000 --k 10 50 --queries 20
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest.write import DocumentWrite  # noqa: E402
from search.store import open_store  # noqa: E402

DIM = 384
INFO = {"name": "bench", "family": "encoder", "model_id": "random", "revision": "-", "dim": DIM,
        "attention": "bidirectional", "pooling": "mean", "max_tokens": 256, "long_policy": "truncate"}  # fmt: skip


def _docs(n_chunks: int, rng: np.random.Generator) -> list[DocumentWrite]:
    sizes = [500]
    while sum(sizes) < n_chunks:
        sizes.append(int(rng.integers(1, 20)))
    sizes[-1] -= sum(sizes) - n_chunks
    docs = []
    for d, n in enumerate(s for s in sizes if s > 0):
        v = rng.normal(size=(n, DIM)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        chunks = tuple({"doc_id": f"d{d}", "source": f"d{d}", "filetype": "md", "title": f"d{d}",
                        "page": None, "section": None, "chunk": i, "n_chunks": n,
                        "text": "lorem ipsum " * 40, "start_char": 0} for i in range(n))  # fmt: skip
        manifest = {"state": "complete", "source": f"d{d}", "filetype": "md", "title": f"d{d}",
                    "n_chunks": n, "size": 1, "mtime_ns": 1, "sha256": "0" * 64, "encoders": ["bench"]}  # fmt: skip
        docs.append(DocumentWrite(f"d{d}", manifest, chunks, {"bench": v}, True))
    return docs


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--chunks", type=int, nargs="+", default=[20_000, 50_000])
    ap.add_argument("--k", type=int, nargs="+", default=[10])
    ap.add_argument("--queries", type=int, default=10)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'chunks':>7} {'k':>4} {'qdrant groups ms':>17} {'ours, local ms':>15} {'ours, Edge ms':>14}"
          f" {'local/ours':>10} {'groups/Edge':>11}  same")  # fmt: skip
    for n in args.chunks:
        docs = _docs(n, rng)
        with tempfile.TemporaryDirectory() as tmp, open_store(path=f"{tmp}/l", engine="qdrant-local") as local, \
                open_store(path=f"{tmp}/e", engine="edge") as edge:  # fmt: skip
            for store in (local, edge):
                store.ensure_index("bench", {"mode": "whole"})
                store.add_encoder("bench", INFO)
                for start in range(0, len(docs), 500):
                    store.write_documents("bench", docs[start : start + 500])
            record = local.index_record("bench")
            assert record is not None
            collection = record["collections"]["bench"]
            client = local.engine.client  # type: ignore[attr-defined]
            queries = rng.normal(size=(args.queries, DIM)).astype(np.float32)
            # Half the queries sit next to the long document: its chunks fill the top.
            queries[::2] = docs[0].vectors["bench"][0] + 0.1 * queries[::2]
            for k in args.k:
                same, t_groups, t_local, t_edge = True, 0.0, 0.0, 0.0
                for q in queries:
                    t = time.perf_counter()
                    groups = client.query_points_groups(
                        collection, query=q.tolist(), group_by="doc_id", limit=k, group_size=1,
                        with_payload=True,
                    ).groups  # fmt: skip
                    t_groups += time.perf_counter() - t
                    t = time.perf_counter()
                    ours = local.query("bench", "bench", q, k, group_by_doc=True)
                    t_local += time.perf_counter() - t
                    t = time.perf_counter()
                    on_edge = edge.query("bench", "bench", q, k, group_by_doc=True, exact=True)
                    t_edge += time.perf_counter() - t
                    best = [(g.hits[0].score, g.hits[0].payload or {}) for g in groups]
                    theirs = sorted(
                        ((s, p["doc_id"], p["chunk"]) for s, p in best), key=lambda x: -x[0]
                    )
                    ref = [(d, c) for _, d, c in theirs]
                    same &= [(h.doc_id, h.chunk) for h in ours] == ref
                    same &= [(h.doc_id, h.chunk) for h in on_edge] == ref
                a, b, c = (1000 * t / len(queries) for t in (t_groups, t_local, t_edge))
                print(f"{n:>7} {k:>4} {a:>17.1f} {b:>15.1f} {c:>14.2f} {a / b:>9.1f}x {a / c:>10.0f}x"
                      f"  {'yes' if same else 'NO'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
