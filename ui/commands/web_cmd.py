"""``diffsearch ui``: the web UI (search, compare, ingest, evaluate) on localhost."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ui.options import add_model_args, add_store_args, model_paths, open_store_from_args


def register(sub: Any) -> None:
    p = sub.add_parser(
        "ui",
        help="open the web UI: compare two encoders side by side, ingest, judge, evaluate",
        description=(
            "Serve the diffsearch web UI. It opens the store once and runs ingest and "
            "evaluation in its own process, so an embedded store is never contended."
        ),
    )
    p.add_argument("--index", help="index selected when the page opens")
    add_store_args(p)
    add_model_args(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only)")  # fmt: skip
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument(
        "--allow-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="server folder the page may re-index or evaluate (a BEIR folder, or one holding "
        "several); repeatable. Nothing else on the server can be named from the browser",
    )
    p.add_argument("--max-upload-mb", type=float, default=50.0,
                   help="largest file accepted by the upload form, in MB (default 50)")  # fmt: skip
    p.add_argument("--upload-dir", metavar="DIR",
                   help="where uploaded files are kept for ingest (default: a temporary folder)")  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from search.errors import SearchError

    for folder in args.allow_dir:
        if not os.path.isdir(folder):
            raise SearchError(f"--allow-dir {folder}: no such folder")
    if args.max_upload_mb <= 0:
        raise SearchError("--max-upload-mb must be more than 0")

    from ui.web.app import launch
    from ui.web.handlers import WebContext

    store = open_store_from_args(args)
    try:
        if args.index and args.index not in {i.name for i in store.list_indexes()}:
            print(
                f"diffsearch ui: note: no index {args.index!r} yet; add documents to it in the "
                "Ingest tab",
                file=sys.stderr,
            )
        ctx = WebContext(
            store,
            default_index=args.index,
            allow_dirs=args.allow_dir,
            max_upload_mb=args.max_upload_mb,
            upload_dir=args.upload_dir,
            model_paths=model_paths(args),
        )
        where = (
            ""
            if args.host in ("127.0.0.1", "localhost", "::1")
            else " (reachable from other machines)"
        )
        print(f"diffsearch ui: {store!r} on http://{args.host}:{args.port}{where}", flush=True)
        launch(ctx, host=args.host, port=args.port, quiet=True)
    finally:
        store.close()
    return 0
