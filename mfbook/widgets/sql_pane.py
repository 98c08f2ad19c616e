"""The storage browser's SQL pane: the shown object's tables, one table's schema and rows by page.

The :class:`~mfbook.widgets.storage_browser.StorageBrowser` holds one :class:`SqlPane` and
copies what :meth:`SqlPane.read` returns into its ``tables``, ``table`` and ``table_page``
traits; ``storage_sql.js`` draws them beside the key/value table. The reads go through
:class:`~mfbook.widgets.sql_model.SqlTablesView`: off the trace, without constructing the
object. A KV-backed object has no tables, and the pane stays empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .sql_model import SqlTablesView

if TYPE_CHECKING:
    from ..objects import DurableObjectStorage

__all__ = ["SqlPane", "SqlPaneState"]


@dataclass(frozen=True)
class SqlPaneState:
    """What the pane shows.

    Attributes:
        tables: ``{"name", "rows", "schema"}`` per table, sorted by name.
        table: The table shown ("" when the object has none).
        page: ``{"table", "index", "columns", "rows", "has_next", "has_previous", "range"}``
            of the shown table ({} when none).
    """

    tables: list[dict[str, Any]]
    table: str
    page: dict[str, Any]


class SqlPane:
    """The SQL tables of the object a storage browser shows.

    Args:
        page_size: Rows per page.
    """

    def __init__(self, *, page_size: int = 50) -> None:
        self.page_size = page_size
        self.table = ""
        self.index = 0

    def select(self, table: str) -> None:
        """Shows ``table`` from its first page."""
        if table != self.table:
            self.table = table
            self.index = 0

    def next_page(self) -> None:
        self.index += 1

    def previous_page(self) -> None:
        self.index = max(0, self.index - 1)

    def read(self, storage: DurableObjectStorage | None) -> SqlPaneState:
        """The tables of ``storage``'s object and the shown page (an empty state without tables)."""
        if storage is None or not storage.sqlite:  # a KV-backed object: not even a round trip
            return SqlPaneState([], "", {})
        view = SqlTablesView(storage, page_size=self.page_size)
        tables = view.tables()
        if not tables:
            self.table, self.index = "", 0
            return SqlPaneState([], "", {})
        names = [table.name for table in tables]
        if self.table not in names:
            self.table, self.index = names[0], 0
        shown = tables[names.index(self.table)]
        last_index = max(0, (shown.rows - 1) // self.page_size)
        self.index = min(self.index, last_index)
        page = view.page(self.table, self.index)
        first = self.index * self.page_size
        range_text = f"{first + 1}–{first + len(page.rows)} of {shown.rows:,}" if page.rows else f"0 of {shown.rows:,}"
        return SqlPaneState(
            [{"name": table.name, "rows": table.rows, "schema": table.schema} for table in tables],
            self.table,
            {
                "table": page.table,
                "index": page.index,
                "columns": list(page.columns),
                "rows": [list(row) for row in page.rows],
                "has_next": page.has_next,
                "has_previous": page.has_previous,
                "range": range_text,
            },
        )
