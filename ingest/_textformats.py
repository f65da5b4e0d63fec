"""Parsers for the structured text formats: html title, e-mail, csv/tsv, json (``ingest.parse``).

Each returns raw elements ``[(text, category, page)]`` (and a title where the format has one);
``ingest.parse`` cleans them, assigns sections and wraps errors into ``ParseError``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ingest.errors import ParseError

Raw = list[tuple[str, str, int | None]]


def from_unstructured(elements: Iterable[Any]) -> Raw:
    """``unstructured`` elements as raw ``(text, category, page)`` triples."""
    out: Raw = []
    for e in elements:
        text = getattr(e, "text", "") or ""
        page = getattr(e.metadata, "page_number", None)
        out.append((text, getattr(e, "category", "UncategorizedText"), page))
    return out


_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_FILENAME_TITLE_RE = re.compile(r"^\S+\.(html?|xhtml|php|aspx?|pdf|docx?|txt)$", re.IGNORECASE)


def html_title(html: str) -> str | None:
    """The ``<title>`` of an html page, or None when missing, empty or just a file name."""
    m = _TITLE_RE.search(html[:200_000])
    if not m:
        return None
    import html as html_mod

    title = " ".join(html_mod.unescape(re.sub(r"<[^>]+>", " ", m.group(1))).split())
    if not title or _FILENAME_TITLE_RE.match(title) or title.lower() in {"untitled", "document"}:
        return None  # e.g. "glxz-10k_20211231.htm": a file name, not a title
    return title


def parse_eml(text: str, path: Path | None) -> tuple[Raw, str | None]:
    """E-mail: subject as title, body via ``partition_email`` (plain or html part)."""
    import email
    import email.policy

    from unstructured.partition.email import partition_email

    msg = email.message_from_string(text, policy=email.policy.default)
    subject = " ".join(str(msg.get("subject", "") or "").split()) or None
    if msg.get("from") is None and msg.get("subject") is None and msg.get("to") is None:
        raise ParseError("not an e-mail message (no From/To/Subject headers)")
    if path is not None:
        elements = partition_email(filename=str(path), languages=[""])
    else:
        elements = partition_email(file=io.BytesIO(text.encode("utf-8")), languages=[""])
    body = from_unstructured(elements)
    raw: Raw = [(subject, "Title", None)] if subject else []
    return raw + body, subject


def parse_table(text: str, delimiter: str | None) -> Raw:
    """csv/tsv: a header line, then one ``column: value; ...`` element per row."""
    import csv

    sample = text[:20_000]
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    rows = [
        r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if any(c.strip() for c in r)
    ]
    if not rows:
        return []
    header = [h.strip() for h in rows[0]]
    has_header = len(rows) > 1 and all(h and not _is_number(h) for h in header)
    out: Raw = []
    if has_header:
        out.append((" | ".join(header), "TableHeader", None))
        body = rows[1:]
    else:
        body = rows
    for row in body:
        cells = [c.strip() for c in row]
        if has_header:
            parts = [
                f"{header[i] if i < len(header) else f'col{i + 1}'}: {c}"
                for i, c in enumerate(cells)
                if c
            ]
            out.append(("; ".join(parts), "TableRow", None))
        else:
            out.append((" | ".join(cells), "TableRow", None))
    return out


def _is_number(s: str) -> bool:
    try:
        float(s.replace(",", ""))
    except ValueError:
        return False
    return True


def parse_json(text: str) -> Raw:
    """json: one ``path: value`` element per scalar leaf (strings, numbers, booleans)."""
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc.msg} (line {exc.lineno})") from exc
    out: Raw = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")
        elif node is not None and str(node).strip():
            out.append((f"{path}: {node}" if path else str(node), "Field", None))

    walk(data, "")
    return out
