"""The Judge tab of the web UI: mark relevant documents for your questions, blind to the encoders."""

from __future__ import annotations

import gradio as gr

from ui.web.handlers import WebContext, error_html
from ui.web.handlers import judging as judge


def build_judge_tab(ctx: WebContext, encoders: list[tuple[str, str]]) -> None:
    """Question -> blind pool of every encoder's top k -> tick the relevant ones -> save."""
    gr.Markdown(
        "Build the judgements that the Evaluate tab scores. Ask a question your documents should "
        "answer: the top documents of every encoder are pooled into one list, in an order that "
        "does not tell which encoder found which. Tick the documents that answer it and save; "
        "judge a few dozen questions, then run **Your questions** on the Evaluate tab.",
        elem_classes=["ds-help"],
    )
    indexes = ctx.index_names()
    with gr.Row():
        index = gr.Dropdown(
            indexes, value=ctx.default_index if ctx.default_index in indexes else next(iter(indexes), None),
            label="Index", scale=2, elem_id="ds-judge-index",
        )  # fmt: skip
        encs = gr.Dropdown(
            encoders, value=[], multiselect=True, scale=3, elem_id="ds-judge-encoders",
            label="Encoders to pool (none: all of the index's)",
        )  # fmt: skip
        k = gr.Number(10, label="Top k of each", precision=0, minimum=1, maximum=50, scale=1)
    index.focus(lambda: gr.update(choices=ctx.index_names()), outputs=[index])
    with gr.Row():
        question = gr.Textbox(
            placeholder="A question your documents should answer", show_label=False, scale=5,
            elem_id="ds-judge-question", submit_btn=False,
        )  # fmt: skip
        show = gr.Button("Show candidates", variant="primary", scale=1, elem_id="ds-judge-show")
    status = gr.HTML("", elem_id="ds-judge-status")
    pool_html = gr.HTML("", elem_id="ds-judge-pool")
    relevant = gr.CheckboxGroup([], label="Relevant documents", elem_id="ds-judge-relevant")
    with gr.Row():
        save = gr.Button("Save judgement", variant="primary", elem_id="ds-judge-save", scale=1)
        saved_file = gr.File(
            label="Judgements file", interactive=False, scale=3, elem_id="ds-judge-file"
        )
    asked = gr.State("")

    def do_show(ix, es, kk, q):
        try:
            p = judge.candidates(ctx, ix, es, kk, q)
        except Exception as exc:
            return error_html(exc, "pool the candidates"), "", gr.update(choices=[], value=[]), ""
        return p.message, p.html, gr.update(choices=p.choices, value=[]), (q or "").strip()

    def do_save(ix, q, rel):
        try:
            msg, path = judge.save(ctx, ix, q, rel)
        except Exception as exc:
            return error_html(exc, "save the judgement"), None
        return msg, path

    for trigger in (show.click, question.submit):
        trigger(
            do_show, inputs=[index, encs, k, question], outputs=[status, pool_html, relevant, asked]
        )
    save.click(do_save, inputs=[index, asked, relevant], outputs=[status, saved_file])
