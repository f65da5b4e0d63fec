"""Plain-text tables for the command line (no dependencies)."""

from __future__ import annotations

from collections.abc import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], max_width: int = 60) -> str:
    """Left-aligned columns; cells longer than ``max_width`` are cut with an ellipsis."""

    def cell(value: object) -> str:
        text = " ".join(str(value).split())
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[cell(h) for h in headers], *[[cell(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def snippet(text: str, limit: int = 160) -> str:
    """One line of ``text``, cut at a word boundary near ``limit`` characters."""
    # A token window may begin on the previous sentence's full stop; don't show it.
    flat = " ".join(text.split()).lstrip(".,;:!?)]} ")
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", 0, limit - 1)
    return flat[: cut if cut > limit // 2 else limit - 1] + "…"


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def side_by_side(
    left_title: str,
    right_title: str,
    rows: Sequence[tuple[Sequence[str], Sequence[str]]],
    width: int,
    gutter: str = " │ ",
) -> str:
    """Two columns of multi-line cells, one block per row, separated by a rule."""
    col = max(20, (width - len(gutter)) // 2)
    out = [_fit(left_title, col).ljust(col) + gutter + _fit(right_title, col)]
    out.append("─" * col + "─┼─" + "─" * col)
    for left, right in rows:
        for i in range(max(len(left), len(right))):
            a = _fit(left[i], col) if i < len(left) else ""
            b = _fit(right[i], col) if i < len(right) else ""
            out.append((a.ljust(col) + gutter + b).rstrip())
        out.append("─" * col + "─┼─" + "─" * col)
    return "\n".join(out)
