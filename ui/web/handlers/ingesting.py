"""The Ingest tab: uploaded files, or a folder of the server's allow-list, into an index."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ui.web import render
from ui.web.handlers.context import Progress, WebContext, error_html, safe_name


@dataclass
class IngestView:
    """What an ingest returns to the page: the summary and the indexes that exist now."""

    summary: str
    indexes: list[str] = field(default_factory=list)


def ingest_uploads(
    ctx: WebContext,
    files: Sequence[Any] | None,
    index: str | None,
    encoders: Sequence[str] | None,
    on_progress: Progress | None = None,
) -> IngestView:
    """Copy uploaded files into the index's upload folder and ingest that folder."""
    if not files:
        return IngestView(render.message("Choose one or more files to upload first.", "info"))
    limit = ctx.max_upload_mb * 1024 * 1024
    index = (index or "").strip()
    target = ctx.upload_dir / safe_name(index or "uploads")
    staged: list[Path] = []
    try:
        target.mkdir(parents=True, exist_ok=True)
        for f in files:
            src = Path(getattr(f, "name", None) or str(f))
            if src.stat().st_size > limit:
                return IngestView(
                    render.message(
                        f"{src.name} is larger than the upload limit of {ctx.max_upload_mb:g} MB.",
                        "error", title="File too large.",
                    )
                )  # fmt: skip
            dest = target / safe_name(src.name)
            shutil.copyfile(src, dest)
            staged.append(dest)
    except OSError as exc:
        return IngestView(error_html(exc, "store the upload"))
    # Uploads accumulate in one folder per index; earlier uploads stay in the index.
    return _ingest(ctx, target, index, encoders, on_progress, keep_removed=True, workers=0)


def ingest_folder(
    ctx: WebContext,
    folder: str | None,
    index: str | None,
    encoders: Sequence[str] | None,
    on_progress: Progress | None = None,
) -> IngestView:
    """Re-index an allow-listed server-side folder."""
    try:
        root = ctx.allowed_dir(folder)
    except Exception as exc:
        return IngestView(error_html(exc, "re-index the folder"))
    return _ingest(ctx, root, (index or "").strip(), encoders, on_progress, keep_removed=False)


def _ingest(
    ctx: WebContext,
    root: Path,
    index: str,
    encoders: Sequence[str] | None,
    on_progress: Progress | None,
    keep_removed: bool,
    workers: int | None = None,
) -> IngestView:
    if not index:
        return IngestView(render.message("Name the index to add the documents to.", "error"))
    encs = [e for e in (encoders or []) if e]
    if not encs:
        encs = list(ctx.encoders_of(index))
    if not encs:
        return IngestView(
            render.message(
                "Pick at least one encoder for a new index.", "error", title="No encoder."
            )
        )
    try:
        from ingest.pipeline import ingest_folder

        t0 = time.perf_counter()
        with ctx.write_lock:
            report = ingest_folder(
                root, index=index, encoders=encs, store=ctx.store, progress=on_progress,
                keep_removed=keep_removed, workers=workers, bars=False,
            )  # fmt: skip
            ctx.store.optimize(index)  # HNSW where the index has grown past where it pays
        data = report.as_dict()
        summary = render.ingest_summary_html(data, time.perf_counter() - t0)
    except Exception as exc:
        return IngestView(error_html(exc, "ingest the files"), ctx.index_names())
    return IngestView(summary, ctx.index_names())
