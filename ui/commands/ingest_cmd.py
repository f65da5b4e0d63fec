"""``diffsearch ingest DIR --index NAME -e ENC ...``: build or update an index from a folder."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ui.options import (
    add_cluster_args,
    add_model_args,
    add_ray_args,
    add_store_args,
    add_vector_args,
    model_paths,
    open_store_from_args,
    ray_stages,
)
from ui.render import table

EXIT_FAILED = 1


def register(sub: Any) -> None:
    p = sub.add_parser(
        "ingest",
        help="parse, chunk and embed a folder into an index (incremental)",
        description=(
            "Parse the files under DIR, cut them into chunks, embed every chunk with each encoder "
            "and write them to index NAME. Re-running skips unchanged files, replaces changed "
            "ones and removes deleted ones. Adding -e NEW to an existing index embeds its stored "
            "chunks with NEW, without re-parsing."
        ),
    )
    p.add_argument("dir", metavar="DIR", help="folder to ingest")
    p.add_argument("--index", required=True, help="index name (letters, digits, '.', '-', '_')")
    p.add_argument("-e", "--encoder", action="append", default=[], dest="encoders", metavar="ENC",
                   help="encoder preset or model folder, repeatable (see: diffsearch encoders); bm25 "
                        "for BM25; hybrid:ENC,bm25 ingests both; an existing index keeps its encoders")  # fmt: skip
    p.add_argument("--chunking", choices=("whole", "tokens", "title", "late"),
                   help="whole: one unit per document (long-input policy applies); tokens: token "
                        "windows (default); title: sections by headings; late: the chunks of "
                        "tokens, each embedded in one pass over its document (mean-pooled "
                        "encoders; the default for pplx-embed-context-*)")  # fmt: skip
    p.add_argument("--chunk-tokens", type=int, metavar="N", help="tokens per chunk (default 256)")
    p.add_argument(
        "--overlap",
        type=int,
        metavar="N",
        help="tokens shared by neighbouring windows (default 32)",
    )
    p.add_argument("--long", choices=("windows", "truncate"), dest="long_policy",
                   help="inputs longer than the encoder's limit: truncate (default) or average windows")  # fmt: skip
    p.add_argument("--include", action="append", default=[], metavar="GLOB",
                   help="only files matching, repeatable (e.g. '*.pdf')")  # fmt: skip
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="leave out files/folders matching, repeatable (e.g. 'drafts/**')")  # fmt: skip
    p.add_argument(
        "--keep-removed", action="store_true", help="keep chunks of files no longer in DIR"
    )
    p.add_argument("--dtype", choices=("float32", "bfloat16"),
                   help="encoder weights dtype (default: the preset's; bfloat16 is much faster on CPUs with AMX)")  # fmt: skip
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="parser processes (default: CPUs - 1, max 4; 0: none)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--strict", action="store_true", help="exit 1 if any file failed")
    add_store_args(p)
    add_model_args(p)
    add_vector_args(p)
    add_ray_args(p)
    add_cluster_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ingest.pipeline import ingest_folder

    store = open_store_from_args(args)
    try:
        if not args.json:
            print(
                f"ingesting {args.dir} into index {args.index!r} ({store.location})",
                file=sys.stderr,
            )
        with ray_stages(args) as (embedder, parser):
            report = ingest_folder(
                args.dir, index=args.index, encoders=_expand(args.encoders), store=store,
                chunking=args.chunking, chunk_tokens=args.chunk_tokens, overlap=args.overlap,
                long_policy=args.long_policy, include=args.include, exclude=args.exclude,
                keep_removed=args.keep_removed, workers=args.workers, bars=None if not args.json else False,
                dtype=args.dtype, model_paths=model_paths(args), embedder=embedder, parser=parser,
            )  # fmt: skip
        hnsw = build_due_graphs(store, args.index, quiet=args.json)
    finally:
        store.close()
    if args.json:
        print(json.dumps({**report.as_dict(), "hnsw_built": hnsw}, indent=2))
    else:
        print(summary(report.as_dict()))
    return EXIT_FAILED if args.strict and report.failed else 0


def build_due_graphs(store: Any, index: str, *, quiet: bool) -> list[dict[str, Any]]:
    """HNSW for the index's collections that have grown past where a graph pays (Edge only;
    search.hnsw), once per ingest run rather than per write."""

    def started(index: str, encoder: str, points: int, dim: int) -> None:
        if not quiet:
            print(
                f"building the vector index of {index}/{encoder} ({points:,} x {dim}) ...",
                file=sys.stderr,
            )

    return [r.as_dict() for r in store.optimize(index, on_start=started) if r.built]


def summary(r: dict[str, Any]) -> str:
    """The human-readable run summary."""
    ch = r["chunking"]
    chunking = ch["mode"] if ch["mode"] == "whole" else f"{ch['mode']} {ch['chunk_tokens']} tokens"
    if ch.get("overlap"):
        chunking += f", overlap {ch['overlap']}"
    keys = ["seen", "new", "updated", "unchanged", "removed", "failed", "chunks"]
    counts = [r[k] for k in keys] + [f"{r['seconds']:.1f}"]
    lines = [
        f"index {r['index']!r}: {r['total_documents']} documents, {r['total_chunks']} chunks "
        f"({chunking}; encoders: {', '.join(r['encoders'])})",
        table([*keys, "seconds"], [counts]),
    ]
    if len(r.get("replicas", {})) > 1 or any(w != "local" for w in r.get("replicas", {})):
        lines.append(
            table(
                ["replica", "chunks", "encoder s", "chunks/s"],
                [[w, v["chunks"], f"{v['seconds']:.1f}", f"{v['chunks_per_s']:.1f}"]
                 for w, v in r["replicas"].items()],
            )
        )  # fmt: skip
    for enc, n in sorted(r["encoder_added"].items()):
        lines.append(f"added encoder {enc}: {n} documents embedded from stored chunks")
    if r["failures"]:
        lines.append(f"\n{len(r['failures'])} file(s) skipped:")
        lines += [f"  {f['source']}: {f['reason']}" for f in r["failures"]]
    return "\n".join(lines)


def _expand(names: list[str]) -> list[str]:
    """Encoder names with each ``hybrid:DENSE,bm25`` replaced by its two parts (a hybrid has no
    vectors of its own), in order, each once."""
    from search.hybrid import hybrid_parts, is_hybrid

    out: list[str] = []
    for name in names:
        out += list(hybrid_parts(name)) if is_hybrid(name) else [name]
    return list(dict.fromkeys(out))
