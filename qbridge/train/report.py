"""Tables for reports: Markdown text and rich tables from the same rows."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

__all__ = ["fmt", "markdown_table", "rich_table"]


def fmt(value: Any, spec: str | None = None) -> str:
    """A cell: floats with ``spec`` (default 4 significant digits), ints with thousands separators."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return format(value, spec) if spec else f"{value:.4g}"
    return str(value)


def _cells(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str, str | None]]) -> list[list[str]]:
    return [[fmt(r.get(key), spec) for key, _, spec in columns] for r in rows]


def _md(text: str) -> str:
    return text.replace("|", "\\|")  # a literal pipe would end the cell


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str, str | None]]) -> str:
    """``columns``: (key, header, format spec or None)."""
    head = "| " + " | ".join(_md(h) for _, h, _ in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(_md(c) for c in cells) + " |" for cells in _cells(rows, columns)]
    return "\n".join([head, sep, *body])


def rich_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str, str | None]], title: str = ""):
    from rich.table import Table

    t = Table(title=title or None)
    for key, h, _ in columns:
        numeric = all(isinstance(r.get(key), (int, float)) or r.get(key) is None for r in rows)
        t.add_column(h, justify="right" if numeric else "left")
    for c in _cells(rows, columns):
        t.add_row(*c)
    return t
