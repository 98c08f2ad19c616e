"""The SQL tables of a SQLite-backed object in an export (``mf.export_storage``), and back.

:mod:`mfbook.export` writes, after an object's key lines, its own schema and rows (never the
``_cf_`` tables: the key lines and the alarm line already hold what those keep)::

    {"binding": "NOTES", "id": "<64 hex>", "schema": "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"}
    {"binding": "NOTES", "id": "<64 hex>", "table": "notes", "row": [1, "hello"]}
    {"binding": "NOTES", "id": "<64 hex>", "schema": "CREATE INDEX notes_body ON notes (body)"}

- A *schema line* is one ``CREATE`` statement as SQLite keeps it (``sqlite_schema.sql``).
  Tables come first, then their rows, then indexes, views and triggers (so importing the
  rows fires no trigger and builds each index once).
- A *row line* holds one row of a table, its values in column order: JSON numbers, strings
  and ``null`` for themselves; ``{"$b": "<base64>"}`` for a blob; ``{"$f": "inf"}``,
  ``{"$f": "-inf"}`` for infinite floats. Integers are exact at any size. The hidden ``rowid``
  of a table without an ``INTEGER PRIMARY KEY`` is not kept, as ``sqlite3 .dump`` does not.
- ``AUTOINCREMENT`` counters travel as rows of table ``sqlite_sequence``.

Import runs the schema through the object's SQL rules (a file cannot create ``_cf_`` tables,
attach databases or run ``PRAGMA``\\ s) and the rows as parameterised ``INSERT``\\ s, all in the
object's implicit transaction: the commit of the key lines makes them durable together.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterator
from typing import Any

from ..errors import SqlError
from .database import SqlDatabase

__all__ = ["SEQUENCE_TABLE", "decode_cell", "dump_lines", "encode_cell", "load_schema", "load_row", "quote_name"]

SEQUENCE_TABLE = "sqlite_sequence"
_CREATE = re.compile(r"\s*CREATE\s+(UNIQUE\s+|VIRTUAL\s+)?(TABLE|INDEX|VIEW|TRIGGER)\b", re.I)


def quote_name(name: str) -> str:
    """An SQL identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def encode_cell(value: Any) -> Any:
    """A SQLite value as JSON (see the module docstring)."""
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode("ascii")}
    if isinstance(value, float) and math.isinf(value):
        return {"$f": "inf" if value > 0 else "-inf"}
    return value


def decode_cell(value: Any) -> Any:
    """Inverse of :func:`encode_cell`.

    Raises:
        ValueError: Not a value :func:`encode_cell` writes.
    """
    if isinstance(value, dict):
        if set(value) == {"$b"} and isinstance(value["$b"], str):
            return base64.b64decode(value["$b"], validate=True)
        if value in ({"$f": "inf"}, {"$f": "-inf"}):
            return math.inf if value["$f"] == "inf" else -math.inf
        raise ValueError(f"not a SQL value: {value!r}")
    if value is None or isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return value
    raise ValueError(f"not a SQL value: {value!r}")


def dump_lines(database: SqlDatabase) -> Iterator[dict[str, Any]]:
    """The object's schema and row lines (without ``binding`` and ``id``), in import order.

    A virtual table (FTS5, R*Tree) travels as its ``CREATE VIRTUAL TABLE`` and its rows; the
    shadow tables SQLite keeps for it are rebuilt by the import, so they are left out.
    """
    with database.trusted() as connection:
        shadow = {name for (name,) in connection.execute("SELECT name FROM pragma_table_list WHERE type = 'shadow'")}
        schema = [
            (kind, name, sql)
            for kind, name, sql in connection.execute(
                "SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL"
                " AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
                " ORDER BY rowid"
            ).fetchall()
            if name not in shadow
        ]
        tables = [name for kind, name, _ in schema if kind == "table"]
        for kind, _, sql in schema:
            if kind == "table":
                yield {"schema": sql}
        for name in tables:
            for row in connection.execute(f"SELECT * FROM {quote_name(name)}"):
                yield {"table": name, "row": [encode_cell(value) for value in row]}
        if connection.execute("SELECT 1 FROM sqlite_schema WHERE name = ?", (SEQUENCE_TABLE,)).fetchone():
            for name, seq in connection.execute(f"SELECT name, seq FROM {SEQUENCE_TABLE}"):
                if not name.startswith("_cf_"):
                    yield {"table": SEQUENCE_TABLE, "row": [name, seq]}
        for kind, _, sql in schema:
            if kind != "table":
                yield {"schema": sql}


def load_schema(database: SqlDatabase, sql: str) -> None:
    """Runs one schema line under the object's SQL rules (the caller opened the transaction).

    Raises:
        ValueError: Not a single ``CREATE TABLE/INDEX/VIEW/TRIGGER`` statement.
        SqlError: SQLite refused it (the runtime's text).
    """
    if _CREATE.match(sql) is None:
        raise ValueError(f"a schema line holds one CREATE TABLE, INDEX, VIEW or TRIGGER statement, not {sql[:60]!r}")
    database.exec(sql)


def load_row(database: SqlDatabase, table: str, row: list[Any]) -> None:
    """Inserts one row line (the caller opened the transaction).

    Raises:
        ValueError: A value :func:`encode_cell` does not write.
        SqlError: SQLite refused the row (unknown table, constraint...).
    """
    values = [decode_cell(value) for value in row]
    if table == SEQUENCE_TABLE:
        if len(values) != 2 or not isinstance(values[0], str) or values[0].startswith("_cf_"):
            raise ValueError(f"a {SEQUENCE_TABLE} row is [table name, counter], not {row!r}")
        with database.trusted() as connection:
            connection.execute(f"DELETE FROM {SEQUENCE_TABLE} WHERE name = ?", (values[0],))
            connection.execute(f"INSERT INTO {SEQUENCE_TABLE} (name, seq) VALUES (?, ?)", values)
        return
    if not values:
        raise SqlError(f"table {table} has no columns to insert", code="SQLITE_ERROR")
    marks = ", ".join("?" * len(values))
    database.exec(f"INSERT INTO {quote_name(table)} VALUES ({marks})", values)
