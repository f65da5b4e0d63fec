"""The Search tab of the web UI: a query, encoders A and B, results side by side, the drawer."""

from __future__ import annotations

import itertools
from typing import Any

import gradio as gr

from ui.web import render
from ui.web.handlers import NONE_CHOICE, WebContext
from ui.web.handlers.document import document
from ui.web.handlers.searching import search

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


def _encoder_updates(ctx: WebContext, index: str | None) -> tuple[Any, Any, Any]:
    choices = ctx.encoder_choices(index)
    a, b = ctx.default_pair(index)
    return (
        gr.update(choices=choices, value=a),
        gr.update(choices=[(NONE_CHOICE, NONE_CHOICE), *choices], value=b or NONE_CHOICE),
        gr.update(info=ctx.index_summary(index)),
    )


def build_search_tab(ctx: WebContext) -> Any:
    """The tab's components and events; returns the index picker (the Ingest tab refreshes it)."""
    first = ctx.initial_index()
    indexes = ctx.index_names()
    enc_choices = ctx.encoder_choices(first)
    a, b = ctx.default_pair(first)
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
        view = search(ctx, q, idx, ea, eb, kk, lvl, instr, flt)
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
        body = document(
            ctx,
            state.get("index"),
            data.get("doc_id"),
            data.get("chunk"),
            state.get("query", ""),
        )
        # A fresh wrapper each time, so re-opening the same hit shows the drawer again.
        return f'<div class="ds-doc-wrap" data-n="{next(opened)}">{body}</div>' if body else ""

    results.click(do_open, inputs=[last], outputs=[docview], show_progress="hidden").then(
        None, js=SCROLL_TO_DOC_JS
    )
    index.change(
        lambda i: _encoder_updates(ctx, i),
        inputs=[index],
        outputs=[enc_a, enc_b, index],
    )
    return index
