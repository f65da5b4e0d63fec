"""``diffsearch search | compare | indexes | drop``: query an index from the command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
from collections.abc import Iterator
from typing import Any

from ui.options import (
    add_model_args,
    add_store_args,
    add_vector_args,
    model_paths,
    open_store_from_args,
)
from ui.render import side_by_side, snippet, table


def _query_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", help="the question or keywords")
    p.add_argument("--index", required=True, help="index name (see: diffsearch indexes)")
    p.add_argument("-k", type=int, default=10, help="results per encoder (default 10)")
    p.add_argument("--level", choices=("doc", "chunk"), default="doc",
                   help="doc: best chunk per document (default); chunk: chunks")  # fmt: skip
    p.add_argument(
        "--instruction", help="query instruction (default: the encoder's own; '' for none)"
    )
    p.add_argument("--where", action="append", default=[], metavar="EXPR",
                   help="filter, repeatable: source='*.pdf', filetype=pdf,md, page=2..5")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print JSON")
    add_store_args(p)
    add_model_args(p)
    add_vector_args(p)


def register(sub: Any) -> None:
    p = sub.add_parser("search", help="search an index with one encoder")
    _query_args(p)
    p.add_argument("-e", "--encoder", required=True, help="one of the index's encoders")
    p.set_defaults(func=run_search)

    p = sub.add_parser(
        "compare", help="search with two encoders side by side, with agreement figures"
    )
    _query_args(p)
    p.add_argument("-e", "--encoder", action="append", required=True, dest="encoders",
                   help="give exactly two: -e A -e B")  # fmt: skip
    p.set_defaults(func=run_compare)

    p = sub.add_parser("indexes", help="list indexes: documents, chunks, encoders, chunking")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_store_args(p)
    p.set_defaults(func=run_indexes)

    p = sub.add_parser("drop", help="delete an index and all its vectors")
    p.add_argument("name", help="index name")
    add_store_args(p)
    p.set_defaults(func=run_drop)


@contextlib.contextmanager
def _service(args: argparse.Namespace) -> Iterator[Any]:
    """A search service over the store the flags name; the store is closed afterwards
    (the embedded store's folder lock must not outlive the command)."""
    from search.service import SearchService

    store = open_store_from_args(args)
    try:
        yield SearchService(store, paths=model_paths(args))
    finally:
        store.close()


def _where(args: argparse.Namespace) -> Any:
    from search.filters import parse_where

    return parse_where(args.where) if args.where else None


def _label(hit: Any) -> str:
    where = f" p.{hit.page}" if hit.page is not None else ""
    chunk = f" #{hit.chunk}" if hit.n_chunks and hit.n_chunks > 1 else ""
    return f"{hit.source}{where}{chunk}"


def _encoder_title(info: dict[str, Any]) -> str:
    from search.hybrid import retriever_tags

    return f"{info.get('name')} ({', '.join(label for _, label in retriever_tags(info))})"


def run_search(args: argparse.Namespace) -> int:
    with _service(args) as service:
        result = service.search(
            args.query, index=args.index, encoder=args.encoder, k=args.k, level=args.level,
            instruction=args.instruction, where=_where(args),
        )  # fmt: skip
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
        return 0
    print(f"{_encoder_title(result.encoder)} on index {result.index!r}, level {result.level}")
    if not result.hits:
        print("no results (check the filters, or ingest documents first)")
        return 0
    width = shutil.get_terminal_size((140, 24)).columns
    rows = [
        [r.rank, f"{r.hit.score:.3f}", _label(r.hit), snippet(r.hit.text, 200)] for r in result.hits
    ]
    print(table(["#", "score", "document", "snippet"], rows, max_width=max(40, width - 60)))
    return 0


def _marks(rank: int, key: str, other_rank: dict[str, int], other: str) -> str:
    """``● also B#4 (1 lower)``: where the other side ranked a shared hit, relative to here."""
    if key not in other_rank:
        return "only here"
    theirs = other_rank[key]
    diff = theirs - rank
    where = "same rank" if diff == 0 else f"{abs(diff)} {'lower' if diff > 0 else 'higher'}"
    return f"● also {other}#{theirs} ({where})"


def run_compare(args: argparse.Namespace) -> int:
    with _service(args) as service:
        cmp = service.compare(
            args.query, index=args.index, encoders=args.encoders, k=args.k, level=args.level,
            instruction=args.instruction, where=_where(args),
        )  # fmt: skip
    if args.json:
        print(json.dumps(cmp.as_dict(), indent=2, ensure_ascii=False))
        return 0
    left, right, agree = cmp.left, cmp.right, cmp.agreement
    rank_l = {h.key: h.rank for h in left.hits}
    rank_r = {h.key: h.rank for h in right.hits}
    width = max(100, shutil.get_terminal_size((160, 24)).columns)
    col = (width - 3) // 2
    rows = []
    sides = ((left.hits, rank_r, "B"), (right.hits, rank_l, "A"))
    for i in range(max(len(left.hits), len(right.hits))):
        cells: list[list[str]] = []
        for hits, other_rank, other in sides:
            if i >= len(hits):
                cells.append([])
                continue
            h = hits[i]
            cells.append([
                f"{h.rank:>2}. {h.hit.score:.3f}  {_label(h.hit)}",
                f"    {_marks(h.rank, h.key, other_rank, other)}",
                f"    {snippet(h.hit.text, col - 6)}",
            ])  # fmt: skip
        rows.append((cells[0], cells[1]))
    print(f"Query: {left.query}")
    print(f"Index: {left.index}   level: {left.level}   k: {left.k}\n")
    print(
        side_by_side(
            "A: " + _encoder_title(left.encoder), "B: " + _encoder_title(right.encoder), rows, width
        )
    )
    print(
        f"\nAgreement: overlap@{agree.k} = {agree.overlap_at_k:.2f}   "
        f"rank-biased overlap (p={agree.p}) = {agree.rbo:.3f}   "
        f"shared {len(agree.shared)}, only A {len(agree.only_left)}, only B {len(agree.only_right)}"
    )
    if agree.only_left:
        print("Only A found: " + ", ".join(agree.only_left))
    if agree.only_right:
        print("Only B found: " + ", ".join(agree.only_right))
    return 0


def run_indexes(args: argparse.Namespace) -> int:
    with _service(args) as service:
        infos = service.indexes()
        location = service.store.location
    if args.json:
        print(json.dumps([_index_dict(i) for i in infos], indent=2))
        return 0
    if not infos:
        print(f"no indexes in {location}. Create one: diffsearch ingest DIR --index NAME -e minilm")
        return 0
    rows = [
        [i.name, i.documents, i.chunks, ", ".join(i.encoders), _chunking(i.chunking)] for i in infos
    ]
    print(table(["index", "documents", "chunks", "encoders", "chunking"], rows, max_width=70))
    print(f"\nstore: {location} (engine: {infos[0].engine})")
    if infos[0].engine == "qdrant-local":
        print("  written by qdrant-client's local mode, which scans every vector per query: "
              "`diffsearch store migrate` copies it into Qdrant Edge")  # fmt: skip
    return 0


def _chunking(chunking: dict[str, Any]) -> str:
    mode = chunking.get("mode") or chunking.get("chunking") or "?"
    if mode in ("tokens", "title"):
        return f"{mode} {chunking.get('chunk_tokens', '?')}/{chunking.get('overlap', '?')}"
    return str(mode)


def _index_dict(info: Any) -> dict[str, Any]:
    return {
        "name": info.name,
        "documents": info.documents,
        "chunks": info.chunks,
        "encoders": info.encoders,
        "chunking": info.chunking,
        "store": info.location,
        "engine": info.engine,
    }


def run_drop(args: argparse.Namespace) -> int:
    with _service(args) as service:
        info = service.drop(args.name)
    print(f"dropped index {info.name!r}: {info.documents} documents, {info.chunks} chunks, "
          f"encoders {', '.join(info.encoders) or 'none'}")  # fmt: skip
    return 0
