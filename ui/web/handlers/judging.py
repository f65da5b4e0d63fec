"""The Judge tab: a blind pool of candidates for a question, and saving the marks.

Marks are appended to ``<upload dir>-judgments/<index>.jsonl`` on the server (the format
``diffsearch eval --judgments`` reads); the Evaluate tab scores that file when nothing is
uploaded. Nothing here reads a path sent by the browser.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ui.web import render

# Saves rewrite the file when a question is judged again: one at a time (not the store's write
# lock, which an ingest may hold for minutes).
_SAVE_LOCK = threading.Lock()


@dataclass
class Pool:
    """What the page shows for one question: the candidates' HTML and the checkbox choices."""

    html: str
    choices: list[tuple[str, str]]  # (label, doc_id)
    message: str = ""


def judgments_path(ctx: Any, index: str) -> Path:
    """The server-side judgements file of ``index`` (a safe file name)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in index).strip(".") or "index"
    return ctx.upload_dir.parent / (ctx.upload_dir.name + "-judgments") / f"{safe}.jsonl"


def candidates(
    ctx: Any, index: str | None, encoders: list[str] | None, k: Any, question: str | None
) -> Pool:
    """The top ``k`` documents of each encoder, pooled in a blind order.

    Raises:
        SearchError (and the service's errors): no index, empty question, unknown encoder.
    """
    from search.errors import SearchError
    from search.judging import pool_encoders, pooled

    question = (question or "").strip()
    if not index:
        raise SearchError("pick the index your documents are in")
    if not question:
        raise SearchError("the question is empty: type what you would ask your documents")
    names = pool_encoders(ctx.service, index, [e for e in (encoders or []) if e])
    pool = pooled(ctx.service, index, question, names, int(k or 10))
    html = render.judge_pool_html(
        pool, question, names, int(k or 10), _already(ctx, index, question)
    )
    return Pool(html, [(f"{i}. {c.title} ({c.doc_id})", c.doc_id) for i, c in enumerate(pool, 1)])


def save(
    ctx: Any, index: str | None, question: str | None, relevant: list[str] | None
) -> tuple[str, str]:
    """Append the marks; returns (message, path of the judgements file)."""
    from search.errors import SearchError
    from search.judging import append_judgement, judged_questions

    question = (question or "").strip()
    if not index or not question:
        raise SearchError("show the candidates for a question first")
    known = {d.doc_id for d in ctx.store.documents(index)}
    picked = [d for d in (relevant or []) if d in known]
    path = judgments_path(ctx, index)
    with _SAVE_LOCK:
        append_judgement(path, question, {d: 1 for d in picked}, replace=True)
        n = len(judged_questions(path))
    what = f"{len(picked)} relevant" if picked else "none relevant"
    return (
        render.message(f"Saved ({what}). {n} question{'s' if n != 1 else ''} judged for index {index}; the Evaluate "
                       "tab scores them when no file is uploaded.", "ok"),
        str(path),
    )  # fmt: skip


def _already(ctx: Any, index: str, question: str) -> bool:
    from search.judging import judged_questions

    return question in judged_questions(judgments_path(ctx, index))
