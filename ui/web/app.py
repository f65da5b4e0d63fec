"""The Gradio Blocks app: Search, Ingest, Judge and Evaluate tabs over one open store.

Thin by design: each tab is built by its own module (``search_tab``, ``ingest_tab``,
``judge_tab``, ``eval_tab``), whose events call that tab's handlers (``ui.web.handlers.*``) over
one :class:`~ui.web.handlers.WebContext`; handlers call the search, ingest and evaluation
services and render HTML with :mod:`ui.web.render`. Offline: analytics
off, system fonts, no external scripts. Importing this module does not import torch.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


import gradio as gr

from ui.web import render
from ui.web.eval_tab import build_eval_tab
from ui.web.handlers import WebContext
from ui.web.ingest_tab import build_ingest_tab
from ui.web.judge_tab import build_judge_tab
from ui.web.search_tab import build_search_tab


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

    with gr.Blocks(title="diffsearch", analytics_enabled=False) as demo:
        gr.HTML(
            '<div id="ds-header"><h1>diff<span>search</span></h1><p>Ask your documents, and see '
            "how a diffusion-LM and an autoregressive-LM embedder rank them, side by side.</p></div>",
            js_on_load=None,
        )
        with gr.Tabs():
            with gr.Tab("Search", id="search"):
                index = build_search_tab(ctx)
            with gr.Tab("Ingest", id="ingest"):
                build_ingest_tab(ctx, _available_encoders(), index)
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
