"""The Ingest tab: uploaded files, or a folder of the server's allow-list, into an index.

A new index takes the chunking picked on the page (``ingest.chunk.CHUNKINGS``); an existing
one keeps its own, as ``diffsearch ingest`` without ``--chunking`` does: the page shows it and
sends no chunking for it (:func:`chunking_view`, :func:`sent_chunking`).
"""

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


@dataclass(frozen=True)
class ChunkingView:
    """The chunking controls for the index named on the page.

    Attributes:
        mode: The chunking shown (the index's, or a new index's default for its encoders).
        chunk_tokens: Tokens per chunk shown (the index's, else the default).
        overlap: Tokens shared by neighbouring windows shown (the index's, else the default).
        editable: A new index (the user picks); an existing one keeps its own.
        note: One line of HTML under the controls.
    """

    mode: str
    chunk_tokens: int
    overlap: int
    editable: bool
    note: str


@dataclass(frozen=True)
class Chunking:
    """The chunking picked on the page (numbers as the page sends them; None: not picked)."""

    mode: str | None = None
    chunk_tokens: float | int | None = None
    overlap: float | int | None = None


def chunking_view(
    ctx: WebContext, index: str | None, encoders: Sequence[str] | None
) -> ChunkingView:
    """What the chunking controls show for ``index``: its own chunking, or a choice if new."""
    from ingest.chunk import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP, takes_overlap
    from ingest.late import default_chunking_of
    from ingest.plan import describe_chunking

    name = (index or "").strip()
    have = ctx.chunking_of(name)
    if have:
        return ChunkingView(
            str(have.get("mode")),
            int(have.get("chunk_tokens") or DEFAULT_CHUNK_TOKENS),
            int(have.get("overlap") or 0)
            if takes_overlap(str(have.get("mode")))
            else DEFAULT_OVERLAP,
            editable=False,
            note=render.note(
                f"Index {name} keeps the chunking it was built with: {describe_chunking(have)}. "
                "To chunk differently, type a new index name."
            ),
        )
    mode = default_chunking_of(list(encoders or []))
    return ChunkingView(
        mode, DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP, editable=True,
        note=render.note(
            f"{name or 'A new index'}: a new index, chunked as picked here. Late chunks are the "
            "token chunks, each embedded in one pass over its document (mean-pooled encoders)."
        ),
    )  # fmt: skip


def sent_chunking(ctx: WebContext, index: str, picked: Chunking | None) -> Chunking:
    """The chunking to send for ``index``: nothing for an existing index (it keeps its own), the
    page's pick for a new one, sizes only where the mode takes them (the ingest checks them).
    """
    from ingest.chunk import takes_chunk_tokens, takes_overlap

    mode = picked.mode if picked else None
    if picked is None or not mode or ctx.chunking_of(index):
        return Chunking()
    return Chunking(
        mode,
        _whole(picked.chunk_tokens) if takes_chunk_tokens(mode) else None,
        _whole(picked.overlap) if takes_overlap(mode) else None,
    )


def _whole(value: float | int | None) -> int | None:
    return None if value is None else int(value)


def ingest_uploads(
    ctx: WebContext,
    files: Sequence[Any] | None,
    index: str | None,
    encoders: Sequence[str] | None,
    on_progress: Progress | None = None,
    chunking: Chunking | None = None,
) -> IngestView:
    """Copy uploaded files into the index's upload folder and ingest that folder.

    ``chunking`` is the page's pick, for a new index; an existing index keeps its own
    (:func:`sent_chunking`).
    """
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
    return _ingest(ctx, target, index, encoders, on_progress, chunking, keep_removed=True,
                   workers=0)  # fmt: skip


def ingest_folder(
    ctx: WebContext,
    folder: str | None,
    index: str | None,
    encoders: Sequence[str] | None,
    on_progress: Progress | None = None,
    chunking: Chunking | None = None,
) -> IngestView:
    """Re-index an allow-listed server-side folder (``chunking``: as for :func:`ingest_uploads`)."""
    try:
        root = ctx.allowed_dir(folder)
    except Exception as exc:
        return IngestView(error_html(exc, "re-index the folder"))
    return _ingest(ctx, root, (index or "").strip(), encoders, on_progress, chunking,
                   keep_removed=False)  # fmt: skip


def _ingest(
    ctx: WebContext,
    root: Path,
    index: str,
    encoders: Sequence[str] | None,
    on_progress: Progress | None,
    chunking: Chunking | None,
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
    sent = sent_chunking(ctx, index, chunking)
    try:
        from ingest.pipeline import ingest_folder

        t0 = time.perf_counter()
        with ctx.write_lock:
            report = ingest_folder(
                root, index=index, encoders=encs, store=ctx.store, progress=on_progress,
                keep_removed=keep_removed, workers=workers, bars=False, chunking=sent.mode,
                chunk_tokens=_whole(sent.chunk_tokens), overlap=_whole(sent.overlap),
                model_paths=ctx.model_paths,
            )  # fmt: skip
            ctx.store.optimize(index)  # HNSW where the index has grown past where it pays
        data = report.as_dict()
        summary = render.ingest_summary_html(data, time.perf_counter() - t0)
    except Exception as exc:
        return IngestView(error_html(exc, "ingest the files"), ctx.index_names())
    return IngestView(summary, ctx.index_names())
