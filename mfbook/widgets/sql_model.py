"""The SQL side of the storage browser: an object's tables, their schema and paged rows.

Pure Python over ``storage.sql`` (no widget code). Reads are not traced (the browser must not
fill the trace it refreshes on) and never construct the object. A KV-backed object has no
tables.

>>> tables = SqlTablesView(storage).tables()      # doctest: +SKIP
>>> [(t.name, t.rows) for t in tables]            # doctest: +SKIP
[('notes', 2)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import WorkerError

if TYPE_CHECKING:
    from ..objects import DurableObjectStorage

__all__ = ["SqlColumn", "SqlPage", "SqlTable", "SqlTablesView"]

_CELL_PREVIEW = 80


@dataclass(frozen=True)
class SqlColumn:
    """One column of a table (``PRAGMA table_info``)."""

    name: str
    type: str
    not_null: bool
    primary_key: bool


@dataclass(frozen=True)
class SqlTable:
    """A table of the object, its columns and its row count."""

    name: str
    columns: tuple[SqlColumn, ...]
    rows: int

    @property
    def schema(self) -> str:
        """``name (col TYPE PK, ...)`` on one line."""
        parts = []
        for column in self.columns:
            flags = (" PRIMARY KEY" if column.primary_key else "") + (" NOT NULL" if column.not_null else "")
            parts.append(f"{column.name} {column.type}".rstrip() + flags)
        return f"{self.name} ({', '.join(parts)})"


@dataclass(frozen=True)
class SqlPage:
    """One page of a table's rows, as display text (``NULL``, ``x'..'`` for blobs)."""

    table: str
    index: int
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.index > 0


def quote(name: str) -> str:
    """A SQL identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def cell_text(value: Any) -> str:
    """How a cell shows: ``NULL``, ``x'0aff'`` for blobs (cut), text cut at 80 characters."""
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        text = "x'" + value[:32].hex() + "'"
        return text + ("…" if len(value) > 32 else "")
    text = str(value)
    return text if len(text) <= _CELL_PREVIEW else text[: _CELL_PREVIEW - 1] + "…"


class SqlTablesView:
    """The tables of one object (see the module docstring).

    Args:
        storage: The object's storage handle.
        page_size: Rows per page.
    """

    def __init__(self, storage: DurableObjectStorage, *, page_size: int = 50) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._sql = storage.sql
        self.page_size = page_size

    def tables(self) -> list[SqlTable]:
        """The object's own tables, sorted (none for a KV-backed object)."""
        try:
            names = self._sql.tables()
        except WorkerError:
            return []
        result = []
        for name in names:
            info = self._sql.exec(f"PRAGMA table_info({quote(name)})", trace=False)
            columns = tuple(
                SqlColumn(str(row["name"]), str(row["type"] or ""), bool(row["notnull"]), bool(row["pk"]))
                for row in info.rows
            )
            count = self._sql.exec(f"SELECT count(*) AS n FROM {quote(name)}", trace=False).one()["n"]
            result.append(SqlTable(name, columns, int(count)))
        return result

    def page(self, table: str, index: int = 0) -> SqlPage:
        """Rows ``index * page_size`` onwards of ``table``, in rowid order when it has one."""
        index = max(0, index)
        order = "" if self._without_rowid(table) else " ORDER BY rowid"
        found = self._sql.exec(
            f"SELECT * FROM {quote(table)}{order} LIMIT ? OFFSET ?",
            self.page_size + 1,
            index * self.page_size,
            trace=False,
        )
        rows = tuple(tuple(cell_text(value) for value in row) for row in found.raw[: self.page_size])
        return SqlPage(table, index, found.columns, rows, len(found.raw) > self.page_size)

    def _without_rowid(self, table: str) -> bool:
        found = self._sql.exec(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?", table, trace=False
        ).raw
        return bool(found) and "WITHOUT ROWID" in str(found[0][0]).upper()
