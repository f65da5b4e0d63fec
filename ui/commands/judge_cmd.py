"""``diffsearch judge``: mark the relevant documents for your questions, blind to the encoders.

Writes the judgements file that ``diffsearch eval --judgments`` scores (see search/judging.py).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

from ui.options import (
    add_model_args,
    add_store_args,
    add_vector_args,
    model_paths,
    open_store_from_args,
)

PROMPT = "relevant? numbers, e.g. 1 3 or 2:2 for a grade; Enter: none; s: skip; q: quit > "


def register(sub: Any) -> None:
    """Add ``diffsearch judge`` to the subcommands."""
    p = sub.add_parser(
        "judge",
        help="mark relevant documents for your questions (blind pool of the encoders' top k)",
        description=(
            "For each question of FILE, pool the top k documents of every encoder into one list "
            "in an order that does not tell which encoder found what, and ask which are relevant. "
            "Each answer is appended to --out at once; a later run resumes where this one stopped. "
            "Then: diffsearch eval --judgments OUT --index NAME."
        ),
    )
    p.add_argument(
        "questions", help="a text file with one question per line (# comments, blank lines skipped)"
    )
    p.add_argument("--index", required=True, help="the index your documents were ingested into")
    p.add_argument("-e", "--encoder", action="append", default=[], dest="encoders",
                   help="encoders to pool (repeatable; default: all of the index's)")  # fmt: skip
    p.add_argument("-k", type=int, default=10, help="documents per encoder in the pool (10)")
    p.add_argument("--out", default="judgments.jsonl",
                   help="judgements file to append to (default judgments.jsonl)")  # fmt: skip
    p.add_argument("--width", type=int, default=100, help="text width of the snippets (100)")
    add_store_args(p)
    add_model_args(p)
    add_vector_args(p)
    p.set_defaults(func=run)


def _questions(path: str) -> list[str]:
    from search.errors import SearchError

    try:
        lines = Path(path).expanduser().read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SearchError(f"cannot read the questions file {path}: {exc.strerror or exc}") from None
    out = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not out:
        raise SearchError(f"{path}: no questions (one per line)")
    return list(dict.fromkeys(out))


def _show(n: int, total: int, question: str, candidates: list[Any], width: int) -> None:
    print(f"\n[{n}/{total}] {question}")
    for i, c in enumerate(candidates, 1):
        print(f"\n  {i:>2}. {c.title}  ({c.doc_id})")
        for text in c.snippets:
            short = textwrap.shorten(" ".join(text.split()), width=3 * width, placeholder=" …")
            print(
                textwrap.fill(
                    short, width=width, initial_indent="      ", subsequent_indent="      "
                )
            )


def run(args: argparse.Namespace) -> int:
    """The judging loop: show a question's pool, read the marks, append them to --out."""
    from search.errors import SearchError
    from search.judging import (
        append_judgement,
        judged_questions,
        parse_marks,
        pool_encoders,
        pooled,
    )
    from search.service import SearchService

    if args.k < 1:
        raise SearchError("k must be at least 1")
    questions = _questions(args.questions)
    done = judged_questions(args.out)
    todo = [q for q in questions if q not in done]
    written = skipped = 0
    store = open_store_from_args(args)
    try:
        service = SearchService(store, paths=model_paths(args))
        encoders = pool_encoders(service, args.index, args.encoders)  # checked before question 1
        print(f"{len(questions)} questions, {len(done & set(questions))} already in {args.out}; "
              f"pooling the top {args.k} of {', '.join(encoders)} (order hides which found what)")  # fmt: skip
        for n, question in enumerate(todo, 1):
            candidates = pooled(service, args.index, question, encoders, args.k)
            _show(n, len(todo), question, candidates, args.width)
            while True:
                try:
                    answer = input(PROMPT).strip()
                except EOFError:
                    answer = "q"
                if answer.lower() in ("q", "s"):
                    break
                try:
                    marks = parse_marks(answer, len(candidates))
                except ValueError as exc:
                    print(f"  {exc}", file=sys.stderr)
                    continue
                append_judgement(
                    args.out,
                    question,
                    {candidates[i - 1].doc_id: g for i, g in sorted(marks.items())},
                )
                written += 1
                break
            if answer.lower() == "q":
                break
            if answer.lower() == "s":
                skipped += 1
    finally:
        store.close()
    left = len(todo) - written - skipped
    print(f"\n{written} judged, {skipped} skipped, {left} left; judgements in {args.out}")
    if written or done:
        print(f"score them: diffsearch eval --judgments {args.out} --index {args.index}")
    return 0
