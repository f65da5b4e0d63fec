"""The Gradio Blocks app: Search, Ingest, Judge and Evaluate tabs over one open store.

Thin by design: every action calls :class:`ui.web.handlers.WebContext`, which calls the search,
ingest and evaluation services and renders HTML with :mod:`ui.web.render`. Offline: analytics
off, system fonts, no external scripts. Importing this module does not import torch.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import itertools
from typing import Any

import gradio as gr

from ui.web import render
from ui.web.eval_tab import build_eval_tab
from ui.web.handlers import NONE_CHOICE, WebContext
from ui.web.judge_tab import build_judge_tab

# Results: click (or Enter on) a hit to open its document; hovering a hit found by both
# encoders outlines its twin in the other column.
RESULTS_JS = r"""
const open = (card) => {
  element.querySelectorAll('.ds-hit.ds-open').forEach((x) => x.classList.remove('ds-open'));
  card.classList.add('ds-open');
  trigger('click', {doc_id: card.dataset.doc, chunk: card.dataset.chunk});
};
element.addEventListener('click', (e) => {
  const card = e.target.closest('.ds-hit');
  if (card) open(card);
});
element.addEventListener('keydown', (e) => {
  const card = e.target.closest('.ds-hit');
  if (card && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); open(card); }
});
element.addEventListener('mouseover', (e) => {
  const card = e.target.closest('.ds-hit');
  element.querySelectorAll('.ds-hit.ds-linked').forEach((x) => x.classList.remove('ds-linked'));
  if (card && card.classList.contains('ds-shared')) {
    element.querySelectorAll('.ds-hit[data-key="' + CSS.escape(card.dataset.key) + '"]')
      .forEach((x) => x.classList.add('ds-linked'));
  }
});
"""

# Document drawer: closes on its button, on the backdrop and on Escape.
DOC_JS = r"""
const close = () => element.querySelectorAll('.ds-drawer, .ds-backdrop')
  .forEach((x) => x.classList.add('ds-closed'));
element.addEventListener('click', (e) => {
  if (e.target.closest('.ds-close') || e.target.classList.contains('ds-backdrop')) close();
});
document.addEventListener('keydown', (e) => { if (e.key === 'Escape') close(); });
"""

# After the drawer opens: scroll the chunk that was clicked into view.
SCROLL_TO_DOC_JS = """
() => { setTimeout(() => {
  const drawer = document.querySelector('#ds-docview .ds-drawer');
  const focus = document.querySelector('#ds-docview .ds-focus');
  if (drawer && focus) drawer.scrollTop = Math.max(0, focus.offsetTop - 120);
}, 60); }
"""


# Ingest stages as the progress bar names them, with their unit.
STAGES = {
    "discover": ("Finding files", "files"),
    "remove": ("Removing deleted files", "documents"),
    "parse": ("Parsing", "files"),
    "embed": ("Embedding", "chunks"),
    "write": ("Writing to the index", "documents"),
}


def theme() -> gr.themes.Base:
    """Gradio's default look with system fonts (no web fonts are loaded)."""
    return gr.themes.Default(
        primary_hue="indigo",
        neutral_hue="slate",
        font=[gr.themes.Font("system-ui"), "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=[
            gr.themes.Font("ui-monospace"),
            "SFMono-Regular",
            "Menlo",
            "Consolas",
            "monospace",
        ],
    )


def css() -> str:
    from ui.web.theme import CSS

    return CSS


def _encoder_updates(ctx: WebContext, index: str | None) -> tuple[Any, Any, Any]:
    choices = ctx.encoder_choices(index)
    a, b = ctx.default_pair(index)
    return (
        gr.update(choices=choices, value=a),
        gr.update(choices=[(NONE_CHOICE, NONE_CHOICE), *choices], value=b or NONE_CHOICE),
        gr.update(info=ctx.index_summary(index)),
    )


def _available_encoders() -> list[tuple[str, str]]:
    """Presets whose weights are on this machine (no model is loaded)."""
    try:
        from encoders import list_encoders

        return [
            (render.encoder_label(r.name, {"family": r.family, "attention": r.attention}), r.name)
            for r in list_encoders()
            if r.available
        ]
    except Exception:
        return []


def build_app(ctx: WebContext) -> gr.Blocks:
    """The whole page. ``ctx`` holds the open store and the services."""
    first = ctx.initial_index()
    indexes = ctx.index_names()
    enc_choices = ctx.encoder_choices(first)
    a, b = ctx.default_pair(first)

    with gr.Blocks(title="diffsearch", analytics_enabled=False) as demo:
        gr.HTML(
            '<div id="ds-header"><h1>diff<span>search</span></h1><p>Ask your documents, and see '
            "how a diffusion-LM and an autoregressive-LM embedder rank them, side by side.</p></div>",
            js_on_load=None,
        )
        with gr.Tabs():
            # ---------------------------------------------------------------- Search
            with gr.Tab("Search", id="search"):
                with gr.Row(equal_height=True, elem_id="ds-searchbar"):
                    query = gr.Textbox(
                        label="Query",
                        show_label=False,
                        container=False,
                        placeholder="Ask a question or type keywords, then press Enter",
                        lines=1,
                        max_lines=1,
                        scale=6,
                        elem_id="ds-query",
                        autofocus=True,
                    )
                    go = gr.Button("Search", variant="primary", scale=1, elem_id="ds-search-btn")
                with gr.Row():
                    index = gr.Dropdown(
                        indexes, value=first, label="Index", info=ctx.index_summary(first),
                        scale=1, min_width=150, elem_id="ds-index",
                    )  # fmt: skip
                    enc_a = gr.Dropdown(
                        enc_choices,
                        value=a,
                        label="Encoder A",
                        info="left column",
                        scale=3,
                        elem_id="ds-enc-a",
                    )
                    enc_b = gr.Dropdown(
                        [(NONE_CHOICE, NONE_CHOICE), *enc_choices],
                        value=b or NONE_CHOICE,
                        label="Encoder B",
                        info="right column, or none for one encoder",
                        scale=3,
                        elem_id="ds-enc-b",
                    )
                    k = gr.Number(
                        10, label="k", info="per encoder", precision=0, minimum=1, maximum=100,
                        scale=1, min_width=110, elem_id="ds-k",
                    )  # fmt: skip
                    level = gr.Radio(
                        [("Documents", "doc"), ("Chunks", "chunk")],
                        value="doc",
                        label="Rank",
                        info="whole documents or single chunks",
                        scale=2,
                        min_width=270,
                        elem_id="ds-level",
                    )
                with gr.Accordion("Instruction and filters", open=False), gr.Row():
                    instruction = gr.Textbox(
                        label="Query instruction (optional; empty: each encoder's own)",
                        placeholder="e.g. Given a question, retrieve passages that answer it",
                        scale=3,
                    )
                    filters = gr.Textbox(
                        label="Filters (optional)",
                        placeholder="filetype=pdf,md; source='notes/*'; page=2..5",
                        scale=2,
                    )
                header = gr.HTML("", elem_id="ds-agreement", js_on_load=None)
                results = gr.HTML(
                    render.placeholder(
                        "Results from encoder A and encoder B appear here side by side. "
                        "Click a hit to read its document."
                        if first
                        else "No index yet: add documents in the Ingest tab, then search them here."
                    ),
                    elem_id="ds-results",
                    js_on_load=RESULTS_JS,
                )
                docview = gr.HTML("", elem_id="ds-docview", js_on_load=DOC_JS)
                last = gr.State({})

                def do_search(q, idx, ea, eb, kk, lvl, instr, flt):
                    view = ctx.search(q, idx, ea, eb, kk, lvl, instr, flt)
                    return view.header, view.results, "", view.state

                search_io: dict[str, Any] = {
                    "fn": do_search,
                    "inputs": [query, index, enc_a, enc_b, k, level, instruction, filters],
                    "outputs": [header, results, docview, last],
                    "show_progress": "minimal",
                }
                query.submit(**search_io)
                go.click(**search_io)
                instruction.submit(**search_io)
                filters.submit(**search_io)

                opened = itertools.count(1)

                def do_open(state: dict[str, Any], evt: gr.EventData) -> str:
                    data = getattr(evt, "_data", None) or {}
                    body = ctx.document(
                        state.get("index"),
                        data.get("doc_id"),
                        data.get("chunk"),
                        state.get("query", ""),
                    )
                    # A fresh wrapper each time, so re-opening the same hit shows the drawer again.
                    return (
                        f'<div class="ds-doc-wrap" data-n="{next(opened)}">{body}</div>'
                        if body
                        else ""
                    )

                results.click(
                    do_open, inputs=[last], outputs=[docview], show_progress="hidden"
                ).then(None, js=SCROLL_TO_DOC_JS)
                index.change(
                    lambda i: _encoder_updates(ctx, i),
                    inputs=[index],
                    outputs=[enc_a, enc_b, index],
                )

            # ---------------------------------------------------------------- Ingest
            with gr.Tab("Ingest", id="ingest"):
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
                        _available_encoders(),
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
                        up_btn = gr.Button(
                            "Ingest uploaded files", variant="primary", elem_id="ds-upload-btn"
                        )
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
                    keep = (
                        current_index if current_index in names else (names[0] if names else None)
                    )
                    return (
                        view.summary,
                        gr.update(choices=names, value=keep, info=ctx.index_summary(keep)),
                        gr.update(choices=names),
                    )

                def do_upload(files, idx, encs, progress=gr.Progress()):  # noqa: B008
                    view = ctx.ingest_uploads(files, idx, encs, _progress(progress))
                    return refreshed(view, idx)

                def do_folder(path, idx, encs, progress=gr.Progress()):  # noqa: B008
                    view = ctx.ingest_folder(path, idx, encs, _progress(progress))
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
                    lambda i: (
                        gr.update(value=list(ctx.encoders_of(i)))
                        if ctx.encoders_of(i)
                        else gr.update()
                    ),
                    inputs=[ing_index],
                    outputs=[ing_encs],
                )

            # ---------------------------------------------------------------- Judge
            with gr.Tab("Judge", id="judge"):
                build_judge_tab(ctx, _available_encoders())

            # ---------------------------------------------------------------- Evaluate
            with gr.Tab("Evaluate", id="evaluate"):
                build_eval_tab(ctx, _available_encoders())
    return demo


def launch(ctx: WebContext, host: str = "127.0.0.1", port: int = 7860, quiet: bool = False) -> None:
    """Build and serve the app (blocks until interrupted)."""
    demo = build_app(ctx)
    demo.queue(default_concurrency_limit=2)
    demo.launch(
        server_name=host,
        server_port=port,
        theme=theme(),
        css=css(),
        max_file_size=f"{ctx.max_upload_mb:g}mb",
        show_error=False,
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        quiet=quiet,
        footer_links=[],
        inbrowser=False,
        share=False,
    )
