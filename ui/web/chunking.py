"""The chunking controls of the Ingest and Evaluate tabs: a mode and the sizes it takes.

The modes come from their one source of truth (``ingest.chunk.CHUNKINGS``, or the evaluation's
``EVAL_CHUNKINGS``); which sizes a mode takes from ``ingest.chunk.takes_chunk_tokens`` and
``takes_overlap``. Only the labels are the page's own (a mode without one shows its name).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ingest.chunk import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP, takes_chunk_tokens, takes_overlap

_LABELS = {
    "whole": "Whole documents",
    "tokens": "Token chunks",
    "title": "Sections (headings)",
    "late": "Late chunks (one pass per document)",
}


def choices(modes: Sequence[str]) -> list[tuple[str, str]]:
    """``(label, mode)`` pairs for a radio, in the order of ``modes``."""
    return [(_LABELS.get(m, m), m) for m in modes]


def size_updates(mode: str | None, editable: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """Show the chunk-tokens and overlap boxes only for a mode that takes them."""
    mode = mode or ""
    return (
        gr.update(visible=takes_chunk_tokens(mode), interactive=editable),
        gr.update(visible=takes_overlap(mode), interactive=editable),
    )


@dataclass
class ChunkingControls:
    """The components: ``mode`` (a radio), ``chunk_tokens`` and ``overlap`` (numbers)."""

    mode: Any
    chunk_tokens: Any
    overlap: Any

    @property
    def inputs(self) -> list[Any]:
        return [self.mode, self.chunk_tokens, self.overlap]


def build(
    modes: Sequence[str], value: str, *, elem_prefix: str, info: str | None = None,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS, overlap: int = DEFAULT_OVERLAP,
    editable: bool = True, visible: bool = True,
) -> ChunkingControls:  # fmt: skip
    """The three components in the current row; the sizes follow the mode the user picks.

    Ids: ``{elem_prefix}-chunking``, ``{elem_prefix}-chunk-tokens``, ``{elem_prefix}-overlap``.
    """
    mode = gr.Radio(
        choices(modes), value=value, label="Chunking", info=info, interactive=editable,
        visible=visible, scale=3, min_width=260, elem_id=f"{elem_prefix}-chunking",
    )  # fmt: skip
    tokens = gr.Number(
        chunk_tokens, label="Chunk tokens", precision=0, minimum=1, interactive=editable,
        visible=visible and takes_chunk_tokens(value), scale=1, min_width=120,
        elem_id=f"{elem_prefix}-chunk-tokens",
    )  # fmt: skip
    over = gr.Number(
        overlap, label="Overlap (tokens)", precision=0, minimum=0, interactive=editable,
        visible=visible and takes_overlap(value), scale=1, min_width=120,
        elem_id=f"{elem_prefix}-overlap",
    )  # fmt: skip
    mode.input(lambda m: size_updates(m), inputs=[mode], outputs=[tokens, over])
    return ChunkingControls(mode, tokens, over)
