"""``diffsearch store migrate`` and ``diffsearch optimize``: the embedded store's upkeep."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ui.options import add_store_args, open_store_from_args


def register(sub: Any) -> None:
    p = sub.add_parser("store", help="the embedded store: migrate an older store into Qdrant Edge")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    m = actions.add_parser(
        "migrate",
        help="copy a store written by qdrant-client's local mode into Qdrant Edge (verified; "
        "the old files stay unless --remove-old)",
    )
    m.add_argument("--store", metavar="DIR",
                   help="the store folder (default: $DIFFSEARCH_STORE or the per-user data folder)")  # fmt: skip
    m.add_argument("--remove-old", action="store_true",
                   help="delete qdrant-client's files once the copy is verified")  # fmt: skip
    m.add_argument("--json", action="store_true", help="print the report as JSON")
    m.set_defaults(func=run_migrate)

    o = sub.add_parser(
        "optimize",
        help="build the HNSW vector index of an Edge store now (ingest does it when it pays)",
    )
    o.add_argument("--index", help="one index (default: every index)")
    o.add_argument("--only-due", action="store_true",
                   help="only collections past the size where HNSW pays (as ingest does)")  # fmt: skip
    o.add_argument("--json", action="store_true", help="print the report as JSON")
    add_store_args(o)
    o.set_defaults(func=run_optimize)


def run_migrate(args: argparse.Namespace) -> int:
    import os

    from search.layout import default_store_dir
    from search.migrate import migrate_store

    folder = args.store or os.environ.get("DIFFSEARCH_STORE") or str(default_store_dir())

    def progress(collection: str, done: int, total: int) -> None:
        if not args.json:
            print(f"\r  {collection}: {done:,}/{total:,} points", end="", file=sys.stderr)
            if done >= total:
                print(file=sys.stderr)

    report = migrate_store(folder, remove_old=args.remove_old, progress=progress)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
        return 0
    print(
        f"migrated {report.points:,} points in {len(report.collections)} collections to Qdrant Edge "
        f"in {report.seconds:.1f} s; every point checked (vectors within {report.max_vector_diff:.1g})"
    )
    if report.removed_old:
        print("removed qdrant-client's old files")
    else:
        print(f"the old files are still in {folder} (collection/, meta.json); "
              "the folder now opens as an Edge store")  # fmt: skip
    return 0


def run_optimize(args: argparse.Namespace) -> int:
    store = open_store_from_args(args)

    def started(index: str, encoder: str, points: int, dim: int) -> None:
        if not args.json:
            print(
                f"building the vector index of {index}/{encoder} ({points:,} x {dim}) ...",
                file=sys.stderr,
            )

    try:
        reports = store.optimize(args.index, force=not args.only_due, on_start=started)
    finally:
        store.close()
    if args.json:
        print(json.dumps([r.as_dict() for r in reports], indent=2))
        return 0
    if not reports:
        print("no indexes")
    for r in reports:
        took = f", {r.seconds:.1f} s" if r.built else ""
        print(f"{r.index}/{r.encoder}: {r.points:,} points x {r.dim}, {r.indexed_after:,} in HNSW "
              f"({r.note}{took})")  # fmt: skip
    return 0
