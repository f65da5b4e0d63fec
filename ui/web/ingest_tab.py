"""The Ingest tab of the web UI: upload files or re-index an allow-listed server folder."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ui.web.handlers import WebContext
from ui.web.handlers.ingesting import ingest_folder, ingest_uploads

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

    def refreshed(view, current_index: str):
        names = view.indexes or ctx.index_names()
        keep = current_index if current_index in names else (names[0] if names else None)
        return (
            view.summary,
            gr.update(choices=names, value=keep, info=ctx.index_summary(keep)),
            gr.update(choices=names),
        )

    def do_upload(files, idx, encs, progress=gr.Progress()):  # noqa: B008
        view = ingest_uploads(ctx, files, idx, encs, _progress(progress))
        return refreshed(view, idx)

    def do_folder(path, idx, encs, progress=gr.Progress()):  # noqa: B008
        view = ingest_folder(ctx, path, idx, encs, _progress(progress))
        return refreshed(view, idx)

    up_btn.click(
        do_upload,
        inputs=[upload, ing_index, ing_encs],
        outputs=[ing_out, index, ing_index],
        show_progress_on=[ing_out],
    )
    dir_btn.click(
        do_folder,
        inputs=[folder, ing_index, ing_encs],
        outputs=[ing_out, index, ing_index],
        show_progress_on=[ing_out],
    )
    ing_index.change(
        lambda i: gr.update(value=list(ctx.encoders_of(i))) if ctx.encoders_of(i) else gr.update(),
        inputs=[ing_index],
        outputs=[ing_encs],
    )
