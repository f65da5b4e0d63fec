"""The Search tab: one encoder's ranking, or two side by side with their agreement."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ui.web import render
from ui.web.handlers.context import NONE_CHOICE, WebContext, error_html, plain


@dataclass
class SearchView:
    """What a search returns to the page."""

    header: str
    results: str
    state: dict[str, Any] = field(default_factory=dict)


def parse_filters(text: str | None) -> Any:
    """``filetype=pdf; source='notes/*'; page=2..5`` -> the service's filters (or None).

    Expressions are separated by ``;`` or new lines (commas separate alternatives inside one).
    """
    if not text or not text.strip():
        return None
    from search.filters import parse_where

    exprs = [part.strip() for chunk in text.splitlines() for part in chunk.split(";")]
    return parse_where([e for e in exprs if e])


def search(
    ctx: WebContext,
    query: str | None,
    index: str | None,
    encoder_a: str | None,
    encoder_b: str | None,
    k: float | int | None = 10,
    level: str = "doc",
    instruction: str | None = None,
    filters: str | None = None,
) -> SearchView:
    """Run ``query`` with encoder A alone, or A and B side by side (``encoder_b`` set)."""
    query = (query or "").strip()
    if not query:
        return SearchView(
            render.message("Type a question or some keywords, then press Enter.", "info",
                           title="The query is empty."),
            "",
        )  # fmt: skip
    if not index:
        return SearchView(
            render.message(
                "There is no index to search yet. Add documents in the Ingest tab.", "error",
                title="No index selected.",
            ),
            "",
        )  # fmt: skip
    if not encoder_a and encoder_b and encoder_b != NONE_CHOICE:
        encoder_a, encoder_b = encoder_b, None
    if not encoder_a:
        return SearchView(render.message("Pick encoder A.", "error", title="No encoder."), "")
    if encoder_b in (None, "", NONE_CHOICE) or encoder_b == encoder_a:
        encoder_b = None
    try:
        kk = int(k or 10)
        where = parse_filters(filters)
        instr = (instruction or "").strip() or None
        if encoder_b is None:
            result = ctx.service.search(
                query, index=index, encoder=encoder_a, k=kk, level=level,
                instruction=instr, where=where,
            )  # fmt: skip
            hits = [plain(h) for h in result.hits]
            header = render.single_header(len(hits), kk, level, result.seconds)
            body = render.results_html(query, level, encoder_a, hits, result.encoder)
        else:
            comp = ctx.service.compare(
                query, index=index, encoders=(encoder_a, encoder_b), k=kk, level=level,
                instruction=instr, where=where,
            )  # fmt: skip
            agr = comp.agreement
            header = render.agreement_html(
                agr.overlap_at_k, agr.rbo, agr.k, len(agr.shared), level,
                [sum(comp.left.seconds.values()), sum(comp.right.seconds.values())],
                depth=agr.depth,
            )  # fmt: skip
            body = render.results_html(
                query, level,
                encoder_a, [plain(h) for h in comp.left.hits], comp.left.encoder,
                encoder_b, [plain(h) for h in comp.right.hits], comp.right.encoder,
            )  # fmt: skip
    except Exception as exc:
        return SearchView(error_html(exc, "run the query"), "")
    return SearchView(header, body, {"index": index, "query": query})
