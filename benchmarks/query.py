"""Document-level query speed in the embedded store: diffsearch against Qdrant's group API.

A document-level search returns each of the k best documents' best chunk. Qdrant's own way is
``query_points_groups(group_by="doc_id", group_size=1)``; diffsearch's ``Store.query`` asks for
the top chunks and keeps each document's first (see ``search/grouping.py``). Both run here on the
same embedded collection (random unit vectors, 384 dimensions, 1 to 19 chunks per document, one
long document of 500 chunks) with the same queries; the script checks that they return the same
documents and chunks and prints the time per query and the ratio.

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
    print(
        f"{'chunks':>7} {'k':>4} {'qdrant groups ms':>17} {'diffsearch ms':>14} {'ratio':>6}  same"
    )
    for n in args.chunks:
        with tempfile.TemporaryDirectory() as tmp, open_store(path=tmp) as store:
            store.ensure_index("bench", {"mode": "whole"})
            store.add_encoder("bench", INFO)
            docs = _docs(n, rng)
            for start in range(0, len(docs), 500):
                store.write_documents("bench", docs[start : start + 500])
            record = store.index_record("bench")
            assert record is not None
            collection = record["collections"]["bench"]
            queries = rng.normal(size=(args.queries, DIM)).astype(np.float32)
            # Half the queries sit next to the long document: its chunks fill the top.
            queries[::2] = docs[0].vectors["bench"][0] + 0.1 * queries[::2]
            for k in args.k:
                same, t_groups, t_ours = True, 0.0, 0.0
                for q in queries:
                    t = time.perf_counter()
                    groups = store.client.query_points_groups(
                        collection, query=q.tolist(), group_by="doc_id", limit=k, group_size=1,
                        with_payload=True,
                    ).groups  # fmt: skip
                    t_groups += time.perf_counter() - t
                    t = time.perf_counter()
                    ours = store.query("bench", "bench", q, k, group_by_doc=True)
                    t_ours += time.perf_counter() - t
                    best = [(g.hits[0].score, g.hits[0].payload or {}) for g in groups]
                    theirs = sorted(
                        ((s, p["doc_id"], p["chunk"]) for s, p in best), key=lambda x: -x[0]
                    )
                    same &= [(h.doc_id, h.chunk) for h in ours] == [(d, c) for _, d, c in theirs]
                a, b = 1000 * t_groups / len(queries), 1000 * t_ours / len(queries)
                print(
                    f"{n:>7} {k:>4} {a:>17.1f} {b:>14.1f} {a / b:>5.1f}x  {'yes' if same else 'NO'}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
