"""The Evaluate tab of the web UI (built inside :func:`ui.web.app.build_app`)."""

from __future__ import annotations

import gradio as gr

from search.evaluation.runner import EVAL_CHUNKINGS
from ui.web import chunking as chunk_controls
from ui.web.handlers import WebContext
from ui.web.handlers.evaluating import evaluate


def build_eval_tab(ctx: WebContext, encoders: list[tuple[str, str]]) -> None:
    """The Evaluate tab: a BEIR folder of the allow-list, a synthetic task, or your questions."""
    gr.Markdown(
        "Score encoders side by side on **your own questions** over an index you ingested "
        "(upload a file: one JSON object per line, "
        '`{"query": "...", "relevant": ["path/in/the/folder.md"]}`, or TSV lines '
        "`query<TAB>path[<TAB>grade]`), on a BEIR folder from the server's allow-list, or on a "
        "synthetic long-document task (passkey, needle). Benchmark corpora are ingested into an "
        "`eval-…` index of this store (reused while unchanged), so a re-run is quick.",
        elem_classes=["ds-help"],
    )
    beir = ctx.beir_choices()
    with gr.Row():
        source = gr.Radio(
            [
                ("Your questions", "judgments"),
                ("BEIR folder", "beir"),
                ("Synthetic task", "synthetic"),
            ],
            value="judgments",
            label="Evaluate on",
            scale=1,
            min_width=240,
            elem_id="ds-eval-source",
        )
        encs = gr.Dropdown(
            encoders,
            value=[],
            multiselect=True,
            label="Encoders (the first is the baseline; none: all of the index's)",
            scale=3,
            elem_id="ds-eval-encoders",
        )
    # BEIR and synthetic corpora are ingested with this chunking (your index keeps its own).
    with gr.Row(visible=False) as chunk_row:
        chunks = chunk_controls.build(
            EVAL_CHUNKINGS, "whole", elem_prefix="ds-eval",
            info="late: the token chunks, each embedded in one pass over its document "
            "(mean-pooled encoders only)",
        )  # fmt: skip
    with gr.Row(visible=True) as judged_row:
        judged_file = gr.File(
            label="Judged questions (.jsonl or .tsv)", file_types=[".jsonl", ".tsv", ".txt", ".json"],
            type="filepath", scale=3, elem_id="ds-eval-judgments",
        )  # fmt: skip
        judged_index = gr.Dropdown(
            ctx.index_names(), value=ctx.default_index or next(iter(ctx.index_names()), None),
            label="Index of your documents", scale=2, elem_id="ds-eval-index",
        )  # fmt: skip
    # Indexes made since the page opened (Ingest tab) show up when the list is opened.
    judged_index.focus(lambda: gr.update(choices=ctx.index_names()), outputs=[judged_index])
    with gr.Row(visible=False) as beir_row:
        folder = gr.Dropdown(
            beir,
            value=beir[0] if beir else None,
            label="BEIR folder (allow-list)",
            info=None
            if beir
            else "Start the UI with --allow-dir DIR (a BEIR folder or a folder of them).",
            scale=3,
            elem_id="ds-eval-folder",
        )
        max_q = gr.Number(50, label="Only the first N queries", precision=0, minimum=1, scale=1)
    with gr.Row(visible=False) as synth_row:
        task = gr.Dropdown(
            [("passkey (find the document holding a number)", "passkey"),
             ("needle (find the document holding a sentence)", "needle")],
            value="passkey", label="Synthetic task", scale=3, elem_id="ds-eval-task",
        )  # fmt: skip
        lengths = gr.Textbox(
            "256,512,1024", label="Document lengths (tokens)", scale=2, elem_id="ds-eval-lengths"
        )
        n_docs = gr.Number(
            20,
            label="Documents per length",
            precision=0,
            minimum=1,
            scale=1,
            elem_id="ds-eval-docs",
        )
        n_q = gr.Number(
            10,
            label="Queries per length",
            precision=0,
            minimum=1,
            scale=1,
            elem_id="ds-eval-queries",
        )
    source.change(
        lambda v: (
            *(gr.update(visible=v == x) for x in ("judgments", "beir", "synthetic")),
            gr.update(visible=v != "judgments"),  # your index keeps the chunking it was built with
        ),
        inputs=[source],
        outputs=[judged_row, beir_row, synth_row, chunk_row],
    )
    run = gr.Button("Run evaluation", variant="primary", elem_id="ds-eval-btn")
    status = gr.HTML("", elem_id="ds-eval-status", js_on_load=None, min_height=60)
    with gr.Row():
        table = gr.Markdown("", elem_id="ds-eval-table")
    plot = gr.Image(
        label="Plot", type="filepath", visible=False, elem_id="ds-eval-plot", buttons=[]
    )

    def do_eval(src, fld, tsk, e, mq, lens, nd, nq, chk, ct, ov, jf, ji, progress=gr.Progress()):  # noqa: B008
        progress(None, desc="Starting")
        view = evaluate(
            ctx, src, fld, tsk, e, max_queries=mq, lengths=lens, n_docs=nd, n_queries=nq, chunking=chk,
            chunk_tokens=ct, overlap=ov, judgments=jf, index=ji,
            on_log=lambda line: progress(None, desc=line),
        )  # fmt: skip
        return view.message, view.table, gr.update(value=view.plot, visible=bool(view.plot))

    run.click(
        do_eval,
        inputs=[
            source,
            folder,
            task,
            encs,
            max_q,
            lengths,
            n_docs,
            n_q,
            *chunks.inputs,
            judged_file,
            judged_index,
        ],
        outputs=[status, table, plot],
        show_progress_on=[status],
    )
