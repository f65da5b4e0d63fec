"""The Ingest tab of the web UI: upload files or re-index an allow-listed server folder."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ingest.chunk import CHUNKINGS
from ui.web import chunking
from ui.web.handlers import WebContext
from ui.web.handlers.ingesting import Chunking, chunking_view, ingest_folder, ingest_uploads

# Ingest stages as the progress bar names them, with their unit.
STAGES = {
    "discover": ("Finding files", "files"),
    "remove": ("Removing deleted files", "documents"),
    "parse": ("Parsing", "files"),
    "embed": ("Embedding", "chunks"),
    "write": ("Writing to the index", "documents"),
}


def build_ingest_tab(ctx: WebContext, encoders: list[tuple[str, str]], index: Any) -> None:
    """The tab's components and events; ``index`` is the Search tab's picker, refreshed after."""
    first = ctx.initial_index()
    indexes = ctx.index_names()
    gr.Markdown(
        "Add documents to an index. Ingest runs inside this server, on the same "
        "store the Search tab reads, so new documents are searchable as soon as it "
        "finishes. Unchanged files are skipped.",
        elem_classes=["ds-help"],
    )
    with gr.Row():
        ing_index = gr.Dropdown(
            indexes,
            value=first or ctx.default_index,
            label="Index (pick one, or type a new name)",
            allow_custom_value=True,
            scale=2,
            elem_id="ds-ing-index",
        )
        ing_encs = gr.Dropdown(
            encoders,
            value=list(ctx.encoders_of(first)),
            multiselect=True,
            label="Encoders (for a new index; an existing index keeps its own)",
            scale=3,
            elem_id="ds-ing-encoders",
        )
    shown = chunking_view(ctx, first or ctx.default_index, list(ctx.encoders_of(first)))
    with gr.Row():
        chunks = chunking.build(
            CHUNKINGS, shown.mode, elem_prefix="ds-ing", editable=shown.editable,
            chunk_tokens=shown.chunk_tokens, overlap=shown.overlap,
            info="for a new index; an existing index keeps the chunking it was built with",
        )  # fmt: skip
    chunk_note = gr.HTML(shown.note, elem_id="ds-ing-chunking-note")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            upload = gr.File(
                label=f"Upload files (up to {ctx.max_upload_mb:g} MB each)",
                file_count="multiple",
                elem_id="ds-upload",
            )
            up_btn = gr.Button("Ingest uploaded files", variant="primary", elem_id="ds-upload-btn")
        with gr.Column(scale=2):
            folders = ctx.folder_choices()
            folder = gr.Dropdown(
                folders,
                value=folders[0] if folders else None,
                label="Server folder (allow-list)",
                info=None
                if folders
                else "Start the UI with --allow-dir FOLDER to offer folders here.",
                interactive=bool(folders),
                elem_id="ds-folder",
            )
            dir_btn = gr.Button(
                "Re-index folder", interactive=bool(folders), elem_id="ds-folder-btn"
            )
    ing_out = gr.HTML("", elem_id="ds-ingest-summary", js_on_load=None, min_height=90)

    def _progress(progress: gr.Progress):
        def on_progress(stage: str, done: int, total: int) -> None:
            label, unit = STAGES.get(stage, (stage, "steps"))
            if total:
                progress((min(done, total), total), desc=label, unit=unit)
            else:
                progress(None, desc=label)

        return on_progress

    def chunking_updates(idx: str | None, encs: list[str] | None) -> tuple[Any, ...]:
        view = chunking_view(ctx, idx, encs)
        tokens, over = chunking.size_updates(view.mode, view.editable)
        return (
            gr.update(value=view.mode, interactive=view.editable),
            {**tokens, "value": view.chunk_tokens},
            {**over, "value": view.overlap},
            view.note,
        )

    chunk_outputs = [*chunks.inputs, chunk_note]
    _same = tuple(gr.update() for _ in chunk_outputs)

    def refreshed(view, current_index: str, encs):
        names = view.indexes or ctx.index_names()
        keep = current_index if current_index in names else (names[0] if names else None)
        return (
            view.summary,
            gr.update(choices=names, value=keep, info=ctx.index_summary(keep)),
            gr.update(choices=names),
            # Made now: lock the controls on the chunking it was built with. Still new (the
            # ingest was refused): leave the user's pick as it was.
            *(chunking_updates(current_index, encs) if ctx.chunking_of(current_index) else _same),
        )

    def do_upload(files, idx, encs, mode, tokens, over, progress=gr.Progress()):  # noqa: B008
        picked = Chunking(mode, tokens, over)
        view = ingest_uploads(ctx, files, idx, encs, _progress(progress), picked)
        return refreshed(view, idx, encs)

    def do_folder(path, idx, encs, mode, tokens, over, progress=gr.Progress()):  # noqa: B008
        view = ingest_folder(
            ctx, path, idx, encs, _progress(progress), Chunking(mode, tokens, over)
        )
        return refreshed(view, idx, encs)

    up_btn.click(
        do_upload,
        inputs=[upload, ing_index, ing_encs, *chunks.inputs],
        outputs=[ing_out, index, ing_index, *chunk_outputs],
        show_progress_on=[ing_out],
    )
    dir_btn.click(
        do_folder,
        inputs=[folder, ing_index, ing_encs, *chunks.inputs],
        outputs=[ing_out, index, ing_index, *chunk_outputs],
        show_progress_on=[ing_out],
    )

    def index_picked(idx: str | None, encs: list[str] | None) -> tuple[Any, ...]:
        own = list(ctx.encoders_of(idx))
        return (gr.update(value=own) if own else gr.update(), *chunking_updates(idx, own or encs))

    ing_index.change(index_picked, inputs=[ing_index, ing_encs], outputs=[ing_encs, *chunk_outputs])

    def encoders_picked(idx: str | None, encs: list[str] | None) -> tuple[Any, ...]:
        # A new index's default follows its encoders (late for pplx-embed-context-*), as the
        # CLI's does when --chunking is not given; an existing index shows its own.
        view = chunking_view(ctx, idx, encs)
        if not view.editable:
            return _same
        return (gr.update(value=view.mode), *chunking.size_updates(view.mode), view.note)

    ing_encs.input(encoders_picked, inputs=[ing_index, ing_encs], outputs=chunk_outputs)
