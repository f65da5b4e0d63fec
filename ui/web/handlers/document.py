"""The document drawer: a hit's whole document, from the index (never from the file system)."""

from __future__ import annotations

from typing import Any

from ui.web import render
from ui.web.handlers.context import WebContext, error_html, plain


def document(
    ctx: WebContext, index: str | None, doc_id: str | None, chunk: Any = None, query: str = ""
) -> str:
    """The document's chunks from the index (never from the file system)."""
    if not index or not doc_id:
        return ""
    try:
        focus = int(chunk) if chunk not in (None, "") else None
    except (TypeError, ValueError):
        focus = None
    try:
        chunks = [plain(h) for h in ctx.service.document(index, str(doc_id))]
    except Exception as exc:
        return error_html(exc, "open the document")
    return render.document_html(chunks, focus, query)
