"""The Evaluate tab's three sources, each returning (Markdown table, files written).

Called by :meth:`ui.web.handlers.WebContext.evaluate` under its write lock; every user mistake
raises a ``SearchError`` with a sentence for the page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Log = Callable[[str], None]


def beir(
    store: Any, folder: Path | None, encoders: Sequence[str], chunking: str,
    max_queries: float | int | None, out: Path, log: Log,
) -> tuple[str, dict[str, Path]]:  # fmt: skip
    """A BEIR folder from the allow-list (``folder`` None: not on it)."""
    from search.errors import SearchError
    from search.evaluation.report import markdown_report, write_dataset
    from search.evaluation.runner import Evaluator, run_beir

    if folder is None:
        raise SearchError(
            "pick a BEIR folder from the list (start the UI with --allow-dir DIR to offer one)"
        )
    evaluator = Evaluator(store, _options(encoders, chunking), log=log, progress=False)
    result, _ = run_beir(evaluator, folder, max_queries=int(max_queries) if max_queries else None)
    return markdown_report(result), write_dataset(result, out)


def synthetic(
    store: Any, task: str | None, encoders: Sequence[str], chunking: str, lengths: str | None,
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
    evaluator = Evaluator(store, _options(encoders, chunking), log=log, progress=False)
    results, paths = run_synthetic(evaluator, task, lens, n_docs=nd, n_queries=nq, out=out)
    return f"### {task}: Acc@1 by document length\n\n{synthetic_table(results)}\n", paths


def judged(
    store: Any, judgments: str | None, index: str | None, encoders: Sequence[str], out: Path,
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
    result = run_judgments(store, judgments, index, encoders=encoders, log=log)
    return markdown_report(result), write_dataset(result, out)


def _options(encoders: Sequence[str], chunking: str) -> Any:
    from search.errors import SearchError
    from search.evaluation.runner import EvalOptions

    if not encoders:
        raise SearchError("pick at least one encoder (two to compare them)")
    return EvalOptions(encoders=list(encoders), chunking=chunking or "whole")
