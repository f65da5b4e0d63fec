"""HTML for the web UI: pure functions from search, ingest and eval results to markup.

Nothing here imports gradio, torch or the services; every value that came from a document, a
query or an exception is escaped with :func:`esc` before it reaches the page. Query terms are
highlighted by finding them in the *raw* text and escaping the pieces around them, so a
document can never inject markup (or Gradio template syntax) into the page.

Hits may be objects with attributes (``search.store.Hit``) or plain mappings.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Gradio's HTML component treats its template as a JS template string / Handlebars; encode
# the characters those use so that text from documents is always shown literally.
_EXTRA_ENTITIES = str.maketrans({"$": "&#36;", "{": "&#123;", "}": "&#125;", "`": "&#96;"})

_STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "does", "for", "from",
    "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "of", "on", "or", "so",
    "such", "than", "that", "the", "their", "then", "there", "these", "this", "to", "was",
    "were", "what", "when", "where", "which", "who", "why", "will", "with", "you", "your",
))  # fmt: skip

# Pairs of hits found by both encoders share one of these colours (left and right badges).
PAIR_COLOURS = (
    "#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed",
    "#0891b2", "#65a30d", "#dc2626", "#4f46e5", "#ca8a04",
)  # fmt: skip

SNIPPET_CHARS = 300


def esc(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    if value is None:
        return ""
    return html.escape(str(value), quote=True).translate(_EXTRA_ENTITIES)


def field(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name`` or ``obj[name]``; falls back to ``obj.payload[name]``."""
    value = obj.get(name, default) if isinstance(obj, Mapping) else getattr(obj, name, default)
    if value is None and name != "payload":
        payload = field(obj, "payload")
        if isinstance(payload, Mapping):
            value = payload.get(name, default)
    return default if value is None else value


# ---------------------------------------------------------------------------------------------
# Query terms, highlighting and snippets


def query_terms(query: str) -> list[str]:
    """Distinct words of the query worth highlighting (no stop words, longest first)."""
    words = re.findall(r"\w[\w'-]*\w|\w", query.lower())
    terms = {w for w in words if w not in _STOPWORDS and (len(w) > 1 or w.isdigit())}
    return sorted(terms, key=lambda w: (-len(w), w))


def _term_pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    # A word starting with a term (so "embedding" matches "embeddings"), case-insensitive.
    alternatives = "|".join(re.escape(t) for t in terms)
    return re.compile(rf"(?<!\w)(?:{alternatives})\w*", re.IGNORECASE)


def match_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    pattern = _term_pattern(terms)
    return [] if pattern is None else [m.span() for m in pattern.finditer(text)]


def highlight(text: str, query_or_terms: str | Sequence[str]) -> str:
    """Escaped ``text`` with the query terms wrapped in ``<mark>``."""
    terms = query_terms(query_or_terms) if isinstance(query_or_terms, str) else query_or_terms
    out: list[str] = []
    pos = 0
    for start, end in match_spans(text, terms):
        out.append(esc(text[pos:start]))
        out.append(f"<mark>{esc(text[start:end])}</mark>")
        pos = end
    out.append(esc(text[pos:]))
    return "".join(out)


def snippet(text: str, query: str, width: int = SNIPPET_CHARS) -> str:
    """The ``width``-character window of ``text`` richest in query terms, highlighted."""
    text = " ".join(str(text or "").split())
    terms = query_terms(query)
    if len(text) <= width:
        return highlight(text, terms)
    spans = match_spans(text, terms)
    start = 0
    if spans:
        # Window start that covers the most distinct matches (ties: the earliest).
        best = -1
        for s, _ in spans:
            lo = max(0, s - width // 5)
            covered = {text[a:b].lower() for a, b in spans if a >= lo and b <= lo + width}
            if len(covered) > best:
                best, start = len(covered), lo
    end = min(len(text), start + width)
    start = max(0, min(start, end - width))
    # Cut on word boundaries.
    if start > 0:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 30 else start
    if end < len(text):
        space = text.rfind(" ", end - 30, end)
        end = space if space > start else end
    body = highlight(text[start:end], terms)
    return ("… " if start > 0 else "") + body + (" …" if end < len(text) else "")


# ---------------------------------------------------------------------------------------------
# Small pieces


def message(text: str, kind: str = "error", title: str | None = None) -> str:
    """A readable banner (``kind``: error, warning, info, ok)."""
    icon = {"error": "⚠", "warning": "⚠", "info": "ℹ", "ok": "✓"}.get(kind, "ℹ")
    head = f"<strong>{esc(title)}</strong> " if title else ""
    return (
        f'<div class="ds-msg ds-msg-{esc(kind)}" role="alert"><span class="ds-msg-icon">{icon}'
        f"</span><div>{head}{esc(text)}</div></div>"
    )


def placeholder(text: str) -> str:
    return f'<div class="ds-empty">{esc(text)}</div>'


def note(text: str) -> str:
    """One quiet line of help under a control."""
    return f'<div class="ds-help ds-note">{esc(text)}</div>'


def encoder_label(name: str, info: Mapping[str, Any] | None = None) -> str:
    """Plain-text label for an encoder picker: ``name — family · attention``."""
    from search.hybrid import retriever_tags

    details = [label for kind, label in retriever_tags(info or {}) if kind != "pooling"]
    return f"{name} — {' · '.join(details)}" if details else name


def _encoder_chip(name: str, info: Mapping[str, Any] | None, side: str) -> str:
    from search.hybrid import retriever_tags

    tags = "".join(
        f'<span class="ds-tag ds-tag-{esc(k)}">{esc(label)}</span>'
        for k, label in retriever_tags(info or {})
    )
    return (
        f'<div class="ds-col-head ds-side-{side}"><span class="ds-side-letter">{side.upper()}'
        f'</span><span class="ds-enc-name">{esc(name)}</span>{tags}</div>'
    )


def _fmt_score(score: Any) -> str:
    try:
        value = float(score)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(value) else f"{value:.3f}"


def _where(hit: Any, with_chunk: bool = True) -> str:
    bits = []
    page = field(hit, "page")
    if page not in (None, ""):
        bits.append(f"p. {page}")
    section = field(hit, "section")
    if section:
        bits.append(str(section))
    n_chunks = field(hit, "n_chunks")
    chunk = field(hit, "chunk")
    if with_chunk and chunk is not None and n_chunks and int(n_chunks) > 1:
        bits.append(f"chunk {int(chunk) + 1}/{n_chunks}")
    return " · ".join(bits)


def hit_key(hit: Any, level: str) -> str:
    """The key agreement figures use: the document id, or the chunk's point id."""
    key = field(hit, "key")
    if key:
        return str(key)
    if level == "doc":
        return str(field(hit, "doc_id", ""))
    return str(field(hit, "id", f"{field(hit, 'doc_id', '')}#{field(hit, 'chunk', 0)}"))


# ---------------------------------------------------------------------------------------------
# Search results


def agreement_html(
    overlap: float | None,
    rbo: float | None,
    k: int,
    shared: int,
    level: str,
    seconds: Sequence[float] = (),
    depth: int | None = None,
) -> str:
    """The compact header above the two columns.

    ``depth`` is how many hits could have been shared (fewer than ``k`` in a small index).
    """

    def meter(label: str, value: float | None, hint: str) -> str:
        if value is None:
            return ""
        pct = max(0.0, min(1.0, float(value))) * 100
        return (
            f'<div class="ds-metric" title="{esc(hint)}"><div class="ds-metric-label">{esc(label)}'
            f'</div><div class="ds-metric-value">{float(value):.2f}</div><div class="ds-meter">'
            f'<div style="width:{pct:.0f}%"></div></div></div>'
        )

    unit = "documents" if level == "doc" else "chunks"
    names = ["A", "B"] if len(seconds) == 2 else [""] * len(seconds)
    timing = " · ".join(
        f"{n} {s * 1000:.0f} ms".strip()
        for n, s in zip(names, seconds, strict=True)
        if s is not None
    )
    return (
        '<div class="ds-agreement">'
        + meter(f"overlap@{k}", overlap, f"share of the top {k} {unit} both encoders returned (out of those that exist)")
        + meter("RBO", rbo, "rank-biased overlap (p=0.9): top-weighted agreement, 1 = same ranking")
        + f'<div class="ds-metric"><div class="ds-metric-label">found by both</div>'
        f'<div class="ds-metric-value">{shared}<span class="ds-of">/{k if depth is None else depth}</span></div>'
        f'<div class="ds-metric-note">{esc(unit)}</div></div>'
        + (f'<div class="ds-metric ds-timing"><div class="ds-metric-label">query time</div>'
           f'<div class="ds-metric-note">{esc(timing)}</div></div>' if timing else "")
        + "</div>"
    )  # fmt: skip


def _shift_html(shift: int, other: str) -> str:
    """Arrow for how this side ranks a shared hit relative to the other side."""
    if shift > 0:
        return f'<span class="ds-shift ds-up" title="ranked {shift} higher here than on {other}">▲{shift}</span>'
    if shift < 0:
        return f'<span class="ds-shift ds-down" title="ranked {-shift} lower here than on {other}">▼{-shift}</span>'
    return ""  # same rank on both sides: the badge alone says so


def hit_card(
    hit: Any,
    rank: int,
    query: str,
    level: str,
    side: str,
    other_rank: int | None = None,
    colour: str | None = None,
    compare: bool = True,
) -> str:
    """One result: rank, score, title/source, where, snippet; a badge when both sides found it."""
    other = "B" if side == "a" else "A"
    doc_id = str(field(hit, "doc_id", ""))
    chunk = field(hit, "chunk", 0)
    title = field(hit, "title") or field(hit, "source") or doc_id
    source = field(hit, "source", "")
    key = hit_key(hit, level)
    classes = ["ds-hit", f"ds-side-{side}"]
    badge = ""
    style = ""
    if other_rank is not None:
        classes.append("ds-shared")
        style = f' style="--pair:{esc(colour or PAIR_COLOURS[0])}"'
        badge = (
            f'<span class="ds-badge" title="also found by {other} at rank {other_rank}">'
            f"{other} #{other_rank}</span>{_shift_html(other_rank - rank, other)}"
        )
    elif compare:
        badge = f'<span class="ds-only" title="only {side.upper()} found this">only {side.upper()}</span>'
    where = _where(hit)
    filetype = field(hit, "filetype", "")
    side_label = f" (encoder {side.upper()}, rank {rank})" if compare else ""
    return (
        f'<article class="{" ".join(classes)}"{style} data-key="{esc(key)}" data-doc="{esc(doc_id)}"'
        f' data-chunk="{esc(chunk)}" tabindex="0" role="button" aria-label="open {esc(title)}{side_label}">'
        f'<div class="ds-hit-top">'
        + (
            f'<span class="ds-side-mark" aria-hidden="true">{side.upper()}</span>'
            if compare
            else ""
        )
        + f'<span class="ds-rank">{rank}</span>'
        f'<span class="ds-title">{esc(title)}</span>{badge}'
        f'<span class="ds-score" title="cosine similarity">{_fmt_score(field(hit, "score"))}</span></div>'
        f'<div class="ds-meta"><span class="ds-source">{esc(source)}</span>'
        + (f'<span class="ds-ft">{esc(filetype)}</span>' if filetype else "")
        + (f'<span class="ds-where">{esc(where)}</span>' if where else "")
        + f'</div><p class="ds-snippet">{snippet(str(field(hit, "text", "")), query)}</p></article>'
    )


def results_html(
    query: str,
    level: str,
    left_name: str,
    left_hits: Sequence[Any],
    left_info: Mapping[str, Any] | None = None,
    right_name: str | None = None,
    right_hits: Sequence[Any] = (),
    right_info: Mapping[str, Any] | None = None,
) -> str:
    """Two result columns side by side (one in single-encoder mode), rows aligned by rank."""
    left_keys = [hit_key(h, level) for h in left_hits]
    right_keys = [hit_key(h, level) for h in right_hits]
    single = right_name is None
    right_rank = {k: i + 1 for i, k in enumerate(right_keys)}
    left_rank = {k: i + 1 for i, k in enumerate(left_keys)}
    colours: dict[str, str] = {}
    for key in left_keys:
        if key in right_rank and key not in colours:
            colours[key] = PAIR_COLOURS[len(colours) % len(PAIR_COLOURS)]

    def rank_of(hit: Any, i: int) -> int:
        return int(field(hit, "rank", i + 1))

    def cards(hits: Sequence[Any], keys: list[str], side: str, others: dict[str, int]) -> list[str]:
        return [
            hit_card(
                h, rank_of(h, i), query, level, side,
                None if single else others.get(key), colours.get(key), not single,
            )
            for i, (h, key) in enumerate(zip(hits, keys, strict=True))
        ]  # fmt: skip

    left_cards = cards(left_hits, left_keys, "a", right_rank)
    if single:
        body = "".join(f'<div class="ds-cell">{c}</div>' for c in left_cards) or placeholder(
            "No results."
        )
        return (
            f'<div class="ds-results ds-single">{_encoder_chip(left_name, left_info, "a")}'
            f"{body}</div>"
        )
    right_cards = cards(right_hits, right_keys, "b", left_rank)
    rows = []
    for i in range(max(len(left_cards), len(right_cards))):
        a = left_cards[i] if i < len(left_cards) else ""
        b = right_cards[i] if i < len(right_cards) else ""
        rows.append(f'<div class="ds-cell">{a}</div><div class="ds-cell">{b}</div>')
    if not rows:
        rows.append(placeholder("No results.") + placeholder("No results."))
    return (
        '<div class="ds-results ds-pair">'
        + _encoder_chip(left_name, left_info, "a")
        + _encoder_chip(right_name or "", right_info, "b")
        + "".join(rows)
        + "</div>"
    )


# ---------------------------------------------------------------------------------------------
# Document view


def document_html(chunks: Sequence[Any], focus_chunk: int | None, query: str = "") -> str:
    """A document's chunks in order with its metadata; the clicked chunk is marked."""
    if not chunks:
        return message("This document is no longer in the index.", "warning")
    first = chunks[0]
    title = field(first, "title") or field(first, "source") or field(first, "doc_id")
    pages = sorted({int(p) for c in chunks if (p := field(c, "page")) not in (None, "")})
    meta = [
        ("source", field(first, "source")),
        ("type", field(first, "filetype")),
        ("chunks", field(first, "n_chunks") or len(chunks)),
        ("pages", f"{pages[0]}–{pages[-1]}" if len(pages) > 1 else (pages[0] if pages else None)),
        ("document id", field(first, "doc_id")),
    ]
    meta_html = "".join(
        f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in meta if v not in (None, "")
    )
    terms = query_terms(query)
    parts = []
    for c in sorted(chunks, key=lambda c: int(field(c, "chunk", 0))):
        n = int(field(c, "chunk", 0))
        focus = focus_chunk is not None and n == int(focus_chunk)
        where = _where(c, with_chunk=False)
        parts.append(
            f'<section class="ds-chunk{" ds-focus" if focus else ""}" data-chunk="{n}">'
            f'<div class="ds-chunk-head">chunk {n + 1}'
            + (f" · {esc(where)}" if where else "")
            + (' <span class="ds-here">the hit you opened</span>' if focus else "")
            + f'</div><div class="ds-chunk-text">{highlight(str(field(c, "text", "")), terms)}</div></section>'
        )
    return (
        '<div class="ds-backdrop"></div><aside class="ds-drawer ds-doc" role="dialog" '
        f'aria-label="document: {esc(title)}"><div class="ds-doc-head">'
        '<button class="ds-close" type="button" title="close (Esc)" aria-label="close">×</button>'
        f'<div class="ds-doc-kicker">Document</div><h3>{esc(title)}</h3>'
        f'<dl class="ds-doc-meta">{meta_html}</dl></div>{"".join(parts)}</aside>'
    )


def single_header(n: int, k: int, level: str, seconds: Mapping[str, float]) -> str:
    """The line above one encoder's results: how many, and how long the query took."""
    unit = "documents" if level == "doc" else "chunks"
    took = sum(v for v in seconds.values() if v is not None) * 1000
    return (
        f'<div class="ds-agreement ds-single-head"><div class="ds-metric-note">'
        f"{n} {unit} (top {k}) · {took:.0f} ms · pick encoder B to compare</div></div>"
    )


# ---------------------------------------------------------------------------------------------
# Judging


def judge_pool_html(
    pool: Sequence[Any], question: str, encoders: Sequence[str], k: int, judged_before: bool
) -> str:
    """A question's blind pool (``search.judging.Candidate`` s) as numbered cards."""
    cards = "".join(
        f'<article class="ds-judge-card"><div class="ds-hit-top"><span class="ds-rank">{i}</span>'
        f'<span class="ds-title">{esc(c.title)}</span></div>'
        f'<div class="ds-meta"><span class="ds-source">{esc(c.doc_id)}</span></div>'
        + "".join(f'<p class="ds-snippet">{snippet(t, question)}</p>' for t in c.snippets)
        + "</article>"
        for i, c in enumerate(pool, 1)
    )
    head = (
        f'<div class="ds-help">{len(pool)} documents from the top {k} of '
        f"{esc(', '.join(encoders))}, in an order that does not tell which encoder found "
        "which. Tick the ones that answer the question, then save.</div>"
    )
    note = (
        message("This question was judged before; saving replaces those marks.", "info")
        if judged_before
        else ""
    )
    return note + head + f'<div class="ds-judge-list">{cards}</div>'


# ---------------------------------------------------------------------------------------------
# Ingest and evaluation


def ingest_summary_html(report: Mapping[str, Any], seconds: float | None = None) -> str:
    """The run's counts and the files that failed (with reasons)."""
    labels = [("seen", "files seen"), ("new", "new"), ("updated", "updated"),
              ("unchanged", "unchanged"), ("removed", "removed"), ("failed", "failed"),
              ("chunks", "chunks written")]  # fmt: skip
    stats = "".join(
        f'<div class="ds-stat{" ds-bad" if key == "failed" and report.get(key) else ""}">'
        f'<div class="ds-stat-value">{esc(report.get(key, 0))}</div>'
        f'<div class="ds-stat-label">{esc(label)}</div></div>'
        for key, label in labels
        if key in report
    )
    failures: Iterable[Any] = report.get("failures") or []
    rows = "".join(
        f"<tr><td>{esc(field(f, 'source', ''))}</td><td>{esc(field(f, 'reason', ''))}</td></tr>"
        for f in failures
    )
    fail_html = (
        f'<details class="ds-failures" open><summary>Files that could not be ingested</summary>'
        f"<table><thead><tr><th>file</th><th>reason</th></tr></thead><tbody>{rows}</tbody></table>"
        "</details>"
        if rows
        else ""
    )
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    kind = "warning" if report.get("failed") else "ok"
    holds = ""
    if report.get("total_documents") is not None and report.get("index"):
        holds = (
            f" Index {report['index']} now holds {report['total_documents']} documents"
            f" ({report.get('total_chunks', 0)} chunks{_chunking_text(report.get('chunking'))})."
        )
    head = message(f"Ingest finished{took}.{holds}", kind)
    return f'<div class="ds-ingest">{head}<div class="ds-stats">{stats}</div>{fail_html}</div>'


def _chunking_text(ch: Mapping[str, Any] | None) -> str:
    """``; chunking late, 64 tokens, overlap 16`` (empty without settings)."""
    if not ch or not ch.get("mode"):
        return ""
    parts = [str(ch["mode"])]
    if ch.get("chunk_tokens") is not None:
        parts.append(f"{ch['chunk_tokens']} tokens")
    if ch.get("overlap") is not None:
        parts.append(f"overlap {ch['overlap']}")
    return "; chunking " + ", ".join(parts)
