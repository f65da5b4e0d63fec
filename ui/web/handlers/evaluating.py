"""The Evaluate tab: your judged questions over an index, a BEIR folder, or a synthetic task.

:func:`evaluate` runs under the context's write lock (evaluation ingests benchmark corpora into
the same store); every user mistake raises a ``SearchError`` with a sentence for the page.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ui.web import render
from ui.web.handlers.context import WebContext, error_html
from ui.web.handlers.judging import judgments_path

Log = Callable[[str], None]


@dataclass
class EvalView:
    """What an evaluation returns to the page: the table, the plot's path, a message."""

    table: str
    plot: str | None = None
    message: str = ""


def evaluate(
    ctx: WebContext,
    source: str,
    beir_folder: str | None,
    task: str | None,
    encoders: Sequence[str] | None,
    *,
    max_queries: float | int | None = 50,
    lengths: str | None = "256,512,1024",
    n_docs: float | int | None = 20,
    n_queries: float | int | None = 10,
    chunking: str = "whole",
    chunk_tokens: float | int | None = None,
    overlap: float | int | None = None,
    judgments: str | None = None,
    index: str | None = None,
    on_log: Callable[[str], None] | None = None,
) -> EvalView:
    """Run an evaluation in this process; the table as Markdown and the plot as a PNG path.

    ``source`` is ``beir`` (a folder of the allow-list), ``synthetic`` (passkey or needle)
    or ``judgments`` (an uploaded file of your own judged queries over ``index``; no
    encoders picked means all of the index's). ``chunking`` (one of
    ``search.evaluation.runner.EVAL_CHUNKINGS``), ``chunk_tokens`` and ``overlap`` (None: the
    defaults) say how a BEIR or synthetic corpus is ingested, as ``diffsearch eval --chunking
    --chunk-tokens --overlap`` do; your own index keeps its chunking.
    """
    out = ctx.upload_dir.parent / (ctx.upload_dir.name + "-eval") / time.strftime("%Y%m%d-%H%M%S")
    log_fn = on_log or (lambda _line: None)
    encs = [e for e in (encoders or []) if e]
    try:
        with ctx.write_lock:
            if source == "judgments":
                collected = judgments_path(ctx, index) if index else None
                table, paths = judged(ctx, judgments, index, encs, out, log_fn, collected)
            elif source == "beir":
                allowed = (
                    ctx.allowed_dir(beir_folder) if beir_folder in ctx.beir_choices() else None
                )
                opts = _options(ctx, encs, chunking, chunk_tokens, overlap)
                table, paths = beir(ctx, allowed, opts, max_queries, out, log_fn)
            else:
                opts = _options(ctx, encs, chunking, chunk_tokens, overlap)
                table, paths = synthetic(ctx, task, opts, lengths, n_docs, n_queries, out, log_fn)
    except Exception as exc:
        return EvalView("", None, error_html(exc, "run the evaluation"))
    png = paths.get("png")
    return EvalView(
        table, str(png) if png else None, render.message(f"Results written to {out}.", "ok")
    )


def beir(
    ctx: WebContext, folder: Path | None, options: Any, max_queries: float | int | None,
    out: Path, log: Log,
) -> tuple[str, dict[str, Path]]:  # fmt: skip
    """A BEIR folder from the allow-list (``folder`` None: not on it)."""
    from search.errors import SearchError
    from search.evaluation.report import markdown_report, write_dataset
    from search.evaluation.runner import Evaluator, run_beir

    if folder is None:
        raise SearchError(
            "pick a BEIR folder from the list (start the UI with --allow-dir DIR to offer one)"
        )
    evaluator = Evaluator(ctx.store, options, log=log, progress=False)
    result, _ = run_beir(evaluator, folder, max_queries=int(max_queries) if max_queries else None)
    return markdown_report(result), write_dataset(result, out)


def synthetic(
    ctx: WebContext, task: str | None, options: Any, lengths: str | None,
    n_docs: float | int | None, n_queries: float | int | None, out: Path, log: Log,
) -> tuple[str, dict[str, Path]]:  # fmt: skip
    """Passkey or needle at the given lengths."""
    from search.errors import SearchError
    from search.evaluation.report import synthetic_table
    from search.evaluation.runner import Evaluator, run_synthetic

    if task not in ("passkey", "needle"):
        raise SearchError("pick a synthetic task: passkey or needle")
    try:
        lens = [int(x) for x in (lengths or "").replace(" ", "").split(",") if x]
    except ValueError:
        raise SearchError("lengths are whole numbers separated by commas, e.g. 256,512") from None
    if not lens or any(n < 32 for n in lens):
        raise SearchError("give at least one length of 32 tokens or more")
    nd, nq = int(n_docs or 20), int(n_queries or 10)
    if nd < 1 or not 1 <= nq <= nd:
        raise SearchError("need at least 1 document and 1 to that many queries")
    evaluator = Evaluator(ctx.store, options, log=log, progress=False)
    results, paths = run_synthetic(evaluator, task, lens, n_docs=nd, n_queries=nq, out=out)
    return f"### {task}: Acc@1 by document length\n\n{synthetic_table(results)}\n", paths


def judged(
    ctx: WebContext, judgments: str | None, index: str | None, encoders: Sequence[str], out: Path,
    log: Log, collected: Path | None = None,
) -> tuple[str, dict[str, Path]]:  # fmt: skip
    """Your own judged queries over an index of this store: an uploaded JSONL/TSV file, else
    the ``collected`` file the Judge tab wrote for that index."""
    from search.errors import SearchError
    from search.evaluation.report import markdown_report, write_dataset
    from search.evaluation.runner import run_judgments

    if not index:
        raise SearchError("pick the index your documents were ingested into")
    if not judgments and collected is not None and collected.is_file():
        judgments = str(collected)
    if not judgments:
        raise SearchError(
            "upload a file of judged questions (.jsonl or .tsv; the format is in the help above), "
            "or judge some questions on the Judge tab first"
        )
    result = run_judgments(
        ctx.store, judgments, index, encoders=encoders, log=log, model_paths=ctx.model_paths
    )
    return markdown_report(result), write_dataset(result, out)


def _options(
    ctx: WebContext, encoders: Sequence[str], chunking: str | None,
    chunk_tokens: float | int | None, overlap: float | int | None,
) -> Any:  # fmt: skip
    """The run's ``EvalOptions`` (they check the chunking and its sizes)."""
    from ingest.chunk import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP
    from search.errors import SearchError
    from search.evaluation.runner import EvalOptions

    if not encoders:
        raise SearchError("pick at least one encoder (two to compare them)")
    return EvalOptions(
        encoders=list(encoders), chunking=chunking or "whole", model_paths=ctx.model_paths,
        chunk_tokens=int(chunk_tokens) if chunk_tokens else DEFAULT_CHUNK_TOKENS,
        overlap=int(overlap) if overlap is not None else DEFAULT_OVERLAP,
    )  # fmt: skip
