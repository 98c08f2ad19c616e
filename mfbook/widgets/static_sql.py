"""The SQL pane of a storage snapshot as static HTML and rich text (exports, no widget front end).

``StorageBrowser.snapshot()["sql"]`` holds the pane's state (see :mod:`.sql_pane`): the
object's tables, the one shown and its page. Nothing is drawn for an object without tables.
"""

from __future__ import annotations

from html import escape
from typing import Any

from rich.table import Table
from rich.text import Text

__all__ = ["sql_html", "sql_rich"]

_CELL = "padding:2px 8px"


def sql_html(sql: dict[str, Any] | None) -> str:
    """The shown table (schema line, page of rows) and the other tables' names, as HTML."""
    if not sql or not sql.get("tables"):
        return ""
    page = sql.get("page") or {}
    names = " · ".join(
        f"<b>{escape(table['name'])}</b> ({table['rows']:,})"
        if table["name"] == sql["table"]
        else f"{escape(table['name'])} ({table['rows']:,})"
        for table in sql["tables"]
    )
    schema = next((table["schema"] for table in sql["tables"] if table["name"] == sql["table"]), "")
    head = "".join(f"<th style='text-align:left;{_CELL}'>{escape(name)}</th>" for name in page.get("columns", []))
    rows = (
        "".join(
            "<tr class='mf-sql-row'>" + "".join(f"<td style='{_CELL}'>{escape(cell)}</td>" for cell in row) + "</tr>"
            for row in page.get("rows", [])
        )
        or f"<tr><td style='{_CELL};color:#777'>(no rows)</td></tr>"
    )
    return (
        f"<div class='mf-sql-static' style='margin-top:8px'><div>SQL tables: {names}</div>"
        f"<div><code>{escape(schema)}</code> · {escape(page.get('range', ''))}</div>"
        f"<table class='mf-sql' style='border-collapse:collapse'><thead><tr>{head}</tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )


def sql_rich(sql: dict[str, Any] | None) -> list[Any]:
    """The same as rich renderables (an empty list without tables)."""
    if not sql or not sql.get("tables"):
        return []
    page = sql.get("page") or {}
    schema = next((table["schema"] for table in sql["tables"] if table["name"] == sql["table"]), "")
    names = ", ".join(f"{table['name']} ({table['rows']:,})" for table in sql["tables"])
    table = Table(title=f"{schema} · {page.get('range', '')}")
    for name in page.get("columns", []):
        table.add_column(name)
    for row in page.get("rows", []):
        table.add_row(*row)
    return [Text(f"SQL tables: {names}"), table]
