"""The SQL API of a SQLite-backed object from Python: ``storage.sql.exec(...)``, bookmarks.

``mf.get_durable_object_storage(id).sql.exec("SELECT ...", *bindings)`` runs on the emulator
thread like every storage call, in a transaction of its own that commits before it returns
(never inside a JS event's implicit transaction), and does not construct the object.
Results are :class:`SqlRows`: rows as dicts, the column names, the counts, and a table when
shown in a notebook.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from ..errors import StorageTypeError
from ..storage import ObjectStorage
from .object_sql import ObjectSql, sql_store
from .store import SqlObjectStore

__all__ = ["PySql", "SqlRows", "python_binding"]

T = TypeVar("T")
Run = Callable[[Callable[[ObjectStorage], Any]], Any]
_TEXT_ROWS = 20


def python_binding(value: Any) -> Any:
    """A Python value as a SQL binding (``int``, ``float``, ``str``, bytes-like, ``None``, ``bool``).

    Raises:
        StorageTypeError: Any other type.
    """
    if value is None or isinstance(value, (int, float, str, bytes)):
        return int(value) if isinstance(value, bool) else value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise StorageTypeError(f"cannot bind a {type(value).__name__} to SQL: use int, float, str, bytes or None")


@dataclass(frozen=True)
class SqlRows:
    """The result of one ``exec`` from Python.

    Attributes:
        columns: Column names of the last statement.
        raw: Rows as tuples, in column order.
        rows_read: Rows read (as :class:`~mfbook.sql.database.SqlResult` counts them).
        rows_written: Rows inserted, updated or deleted.
    """

    columns: tuple[str, ...]
    raw: list[tuple[Any, ...]]
    rows_read: int
    rows_written: int

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Rows as dicts (a repeated column name keeps its last value, as in JS)."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.raw]

    def one(self) -> dict[str, Any]:
        """The only row.

        Raises:
            ValueError: No row, or more than one (the runtime's texts).
        """
        if not self.raw:
            raise ValueError("Expected exactly one result from SQL query, but got no results.")
        if len(self.raw) > 1:
            raise ValueError("Expected exactly one result from SQL query, but got multiple results.")
        return self.rows[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.raw)

    def __repr__(self) -> str:
        """A text table (the first 20 rows) and the counts."""
        counts = f"({len(self.raw)} rows, read {self.rows_read}, written {self.rows_written})"
        if not self.columns:
            return counts
        shown = [[_cell(value) for value in row] for row in self.raw[:_TEXT_ROWS]]
        widths = [max([len(name), *(len(row[index]) for row in shown)]) for index, name in enumerate(self.columns)]
        lines = [" | ".join(name.ljust(width) for name, width in zip(self.columns, widths, strict=True))]
        lines.append("-+-".join("-" * width for width in widths))
        lines += [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in shown]
        if len(self.raw) > _TEXT_ROWS:
            lines.append(f"... {len(self.raw) - _TEXT_ROWS} more rows")
        lines.append(counts)
        return "\n".join(line.rstrip() for line in lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(name)}</th>" for name in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_cell(value))}</td>" for value in row) + "</tr>" for row in self.raw
        )
        counts = f"{len(self.raw)} rows · read {self.rows_read} · written {self.rows_written}"
        return f'<table class="mfbook-sql"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table><p>{counts}</p>'


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return "x'" + value.hex() + "'"
    return str(value)


class PySql:
    """``storage.sql`` from Python (see the module docstring).

    Args:
        run: Runs a function of the object's storage on the emulator thread (blocking).
        run_async: The same, awaitable.
    """

    def __init__(self, run: Run, run_async: Callable[[Callable[[ObjectStorage], Any]], Any]) -> None:
        self._run = run
        self._run_async = run_async

    @staticmethod
    def _exec(query: str, bindings: Sequence[Any], *, trace: bool = True) -> Callable[[ObjectStorage], SqlRows]:
        if not isinstance(query, str):
            raise StorageTypeError(f"query must be a str, got {type(query).__name__}")
        values = [python_binding(value) for value in bindings]

        def run(storage: ObjectStorage) -> SqlRows:
            sql = ObjectSql.of(storage)
            try:
                result, _ = sql.exec(query, values, trace=trace)
                storage.flush()
            except BaseException:
                sql.database.rollback()
                raise
            return SqlRows(result.columns, result.rows, result.rows_read, result.rows_written)

        return run

    def exec(self, query: str, *bindings: Any, trace: bool = True) -> SqlRows:
        """Runs SQL (one or more statements; bindings go to the last) and commits it.

        ``trace=False`` leaves it off the trace (tools that read on every change use it).

        Raises:
            SqlError: The statement failed (the runtime's text).
            WorkerError: The class is not SQLite-backed.
        """
        return self._run(self._exec(query, bindings, trace=trace))  # type: ignore[no-any-return]

    async def exec_async(self, query: str, *bindings: Any, trace: bool = True) -> SqlRows:
        return await self._run_async(self._exec(query, bindings, trace=trace))  # type: ignore[no-any-return]

    @property
    def database_size(self) -> int:
        """Bytes in use, as ``sql.databaseSize``."""
        return self._run(lambda storage: ObjectSql.of(storage).size())  # type: ignore[no-any-return]

    def tables(self) -> list[str]:
        """The object's own tables (``_cf_`` tables left out), sorted."""
        return self._run(lambda storage: ObjectSql.of(storage).database.user_tables())  # type: ignore[no-any-return]

    def bookmark(self) -> str:
        """The bookmark of the object's current state (``getCurrentBookmark()``)."""
        return self._run(lambda storage: _store(storage).bookmarks.current())  # type: ignore[no-any-return]

    def restore(self, target: str | datetime) -> str:
        """Puts the object's whole storage (SQL and KV) back to a bookmark or a moment.

        Args:
            target: A bookmark, or a ``datetime`` (naive means UTC) within the retention window.

        Returns:
            A bookmark of the state before, to undo the restore.

        Raises:
            SqlError: Unknown or expired bookmark, or a time outside the window.
        """

        def restore(storage: ObjectStorage) -> str:
            store = _store(storage)
            if isinstance(target, datetime):
                moment = target if target.tzinfo is not None else target.replace(tzinfo=timezone.utc)
                bookmark = store.bookmarks.for_time(moment.timestamp() * 1000)
            else:
                bookmark = str(target)
            undo: str = store.restore(bookmark)
            return undo

        return self._run(restore)  # type: ignore[no-any-return]


def _store(storage: ObjectStorage) -> SqlObjectStore:
    return sql_store(storage)
