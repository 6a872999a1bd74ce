"""Rich renderings of the API's resources for people (the `--json` output bypasses these)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text


def when(value: str | None) -> str:
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value


def size(value: int | None) -> str:
    if value is None:
        return ""
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return str(value)


def text(value: Any) -> Text:
    """Any JSON value as plain text (never read as Rich markup)."""
    if value is None:
        return Text("")
    if isinstance(value, list):
        return Text(", ".join(str(item) for item in value))
    return Text(str(value))


def details(title: str, record: dict[str, Any], fields: Sequence[tuple[str, str]]) -> Table:
    """One record as a two-column table of `(label, field)` pairs; `*_at` fields as times."""
    table = Table(
        title=title, box=box.SIMPLE, show_header=False, title_justify="left", min_width=len(title)
    )
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, name in fields:
        value = record.get(name)
        table.add_row(label, when(value) if name.endswith("_at") else text(value))
    return table


def listing(
    title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]], *, no_wrap: int = 1
) -> Table:
    """A table of rows; the first `no_wrap` columns (identifiers) are never wrapped."""
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", min_width=len(title))
    for index, header in enumerate(headers):
        table.add_column(header, no_wrap=index < no_wrap, overflow="fold")
    for row in rows:
        table.add_row(*(cell if isinstance(cell, Text) else text(cell) for cell in row))
    return table


def columns(title: str, cols: Sequence[dict[str, Any]]) -> Table:
    return listing(
        title,
        ["Column", "Type", "Missing", "Distinct"],
        (
            [
                col["name"],
                col.get("type"),
                f"{100 * (col.get('missing_share') or 0):.1f}%",
                f"~{col.get('distinct')}"
                if col.get("distinct_approximate")
                else col.get("distinct"),
            ]
            for col in cols
        ),
    )
