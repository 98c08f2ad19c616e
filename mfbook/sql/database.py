"""One SQLite-backed Durable Object's database: user SQL with the runtime's rules and texts.

:class:`SqlDatabase` owns one :mod:`sqlite3` connection (in memory or a file). ``exec`` runs
``sql.exec(query, ...bindings)`` as workerd does: every statement but the last runs at once
and must have no parameters, the last one's rows are returned; the security limits and the
authorizer of :mod:`mfbook.sql.authorizer` apply; errors carry the runtime's texts
(``<sqlite message>[ at offset N]: SQLITE_<CODE>[ (extended: SQLITE_<CODE>_<X>)]``).

Transactions: the object's writes of one event form an *implicit transaction*, opened by the
first statement (:meth:`SqlDatabase.begin`) and committed at the output gate
(:meth:`SqlDatabase.commit`) or rolled back (:meth:`SqlDatabase.rollback`).
``transactionSync`` nests savepoints inside it (:meth:`savepoint`, :meth:`release`,
:meth:`rollback_to`).

Values: JS numbers arrive as ``float`` (as in workerd, which binds doubles), BigInts as
``int``, strings as ``str`` (lone surrogates become U+FFFD, as V8 → UTF-8 does), blobs as
``bytes``. Rows come back with SQLite's own types; the JS side turns integers into numbers.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import SqlError
from .authorizer import TRANSACTION_MESSAGE, Authorizer
from .reads import ReadCounter

__all__ = ["SqlDatabase", "SqlResult", "TrustedConnection", "open_connection", "split_statements"]

# workerd's limits (SqliteDatabase::setupSecurity); set where Python can (3.11+).
_LIMITS = {
    "SQLITE_LIMIT_LENGTH": 4 * 1024 * 1024,
    "SQLITE_LIMIT_SQL_LENGTH": 100_000,
    "SQLITE_LIMIT_COLUMN": 100,
    "SQLITE_LIMIT_EXPR_DEPTH": 100,
    "SQLITE_LIMIT_COMPOUND_SELECT": 5,
    "SQLITE_LIMIT_VDBE_OP": 25_000,
    "SQLITE_LIMIT_FUNCTION_ARG": 127,
    "SQLITE_LIMIT_ATTACHED": 0,
    "SQLITE_LIMIT_LIKE_PATTERN_LENGTH": 50,
    "SQLITE_LIMIT_VARIABLE_NUMBER": 100,
    "SQLITE_LIMIT_TRIGGER_DEPTH": 10,
}
# SQLite's primary result codes (fixed by its C API; Python names them only from 3.11).
_PRIMARY_NAMES = dict(
    enumerate(
        (
            "SQLITE_OK SQLITE_ERROR SQLITE_INTERNAL SQLITE_PERM SQLITE_ABORT SQLITE_BUSY SQLITE_LOCKED SQLITE_NOMEM"
            " SQLITE_READONLY SQLITE_INTERRUPT SQLITE_IOERR SQLITE_CORRUPT SQLITE_NOTFOUND SQLITE_FULL"
            " SQLITE_CANTOPEN SQLITE_PROTOCOL SQLITE_EMPTY SQLITE_SCHEMA SQLITE_TOOBIG SQLITE_CONSTRAINT"
            " SQLITE_MISMATCH SQLITE_MISUSE SQLITE_NOLFS SQLITE_AUTH SQLITE_FORMAT SQLITE_RANGE SQLITE_NOTADB"
            " SQLITE_NOTICE SQLITE_WARNING"
        ).split()
    )
)
_NEAR = re.compile(r'^near "(.*)": syntax error$', re.S)
_SURROGATES = re.compile("[\ud800-\udfff]")
_COMMENTS = re.compile(r"--[^\n]*(\n|$)|/\*.*?(\*/|$)", re.S)
_NO_STATEMENT = "SQL code did not contain a statement."
#: SQLite virtual-machine steps between two polls of the CPU budget.
_PROGRESS_STEPS = 20_000
_TRUSTED_MARK = f"/* mfbook {secrets.token_hex(16)} */ "
_PARAMETERS_ONLY_LAST = (
    "When executing multiple SQL statements in a single call, only the last statement can have parameters."
)
_WRONG_BINDINGS = "Wrong number of parameter bindings for SQL query."


@dataclass(frozen=True)
class SqlResult:
    """What one ``exec`` returned.

    Attributes:
        columns: Column names of the last statement (may repeat).
        rows: Its rows, as tuples of SQLite values (``int``, ``float``, ``str``, ``bytes``, ``None``).
        rows_read: Rows the statements read, counted like the runtime's ``rowsRead``
            (see :mod:`mfbook.sql.reads`).
        rows_written: Rows inserted, updated or deleted (also by triggers).
        statements: How many statements ran.
        duration_ms: Wall time of the call.
    """

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    rows_read: int
    rows_written: int
    statements: int
    duration_ms: float


def open_connection(path: str) -> sqlite3.Connection:
    """Opens a database in autocommit mode with the runtime's limits (``":memory:"`` or a file)."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=256)
    setlimit: Any = getattr(connection, "setlimit", None)
    if setlimit is not None:
        for name, value in _LIMITS.items():
            setlimit(getattr(sqlite3, name), value)
    return connection


def _is_blank(text: str) -> bool:
    return not _COMMENTS.sub(" ", text).strip(" \t\n\r\v\f;")


def split_statements(query: str) -> list[str]:
    """Splits SQL into statements the way SQLite's parser would (strings, comments, triggers).

    Raises:
        SqlError: The text holds no statement, or ends in a comment after the last one.
    """
    statements: list[str] = []
    start = 0
    position = query.find(";")
    while position != -1:
        candidate = query[start : position + 1]
        if sqlite3.complete_statement(candidate):
            if not _is_blank(candidate):
                statements.append(candidate)
            elif not statements or candidate.strip(" \t\n\r\v\f") != ";":
                if _COMMENTS.search(candidate) is None:
                    raise SqlError(_NO_STATEMENT, code="SQLITE_ERROR")
            start = position + 1
        position = query.find(";", position + 1)
    rest = query[start:]
    if rest.strip(" \t\n\r\v\f"):
        if _is_blank(rest):
            raise SqlError(_NO_STATEMENT, code="SQLITE_ERROR")
        statements.append(rest)
    if not statements:
        raise SqlError(_NO_STATEMENT, code="SQLITE_ERROR")
    return statements


def _usv(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return _SURROGATES.sub("\ufffd", value)
    return value


def _error(error: sqlite3.Error, statement: str) -> SqlError:
    """workerd's text for a SQLite failure."""
    message = str(error)
    near = _NEAR.match(message)
    if near is not None:
        offset = statement.find(near.group(1))
        if offset >= 0:
            message += f" at offset {offset}"
    extended = getattr(error, "sqlite_errorcode", None)
    if extended is None:
        return SqlError(message, code="SQLITE_ERROR")
    primary = _PRIMARY_NAMES.get(extended & 0xFF, "SQLITE_ERROR")
    message += f": {primary}"
    extended_name = getattr(error, "sqlite_errorname", primary)
    if extended != extended & 0xFF and extended_name != primary:
        message += f" (extended: {extended_name})"
    return SqlError(message, code=extended_name)


class TrustedConnection:
    """The connection as mfbook's own code uses it (only inside :meth:`SqlDatabase.trusted`).

    SQLite asks the authorizer when a statement is *prepared*, and :mod:`sqlite3` caches
    prepared statements by their text: were a user statement spelled like one of mfbook's,
    it would reuse the trusted preparation. So every trusted statement starts with a comment
    holding a secret made at import (128 random bits), which user code cannot spell.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.raw = connection

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.raw.execute(_TRUSTED_MARK + sql, parameters)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        return self.raw.executemany(_TRUSTED_MARK + sql, rows)

    @property
    def total_changes(self) -> int:
        return self.raw.total_changes

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction


class SqlDatabase:
    """The SQL side of one object (see the module docstring).

    Args:
        connection: An open connection (from :func:`open_connection`).
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self._authorizer = Authorizer()
        connection.set_authorizer(self._authorizer)
        self._trusted = TrustedConnection(connection)
        self._depth = 0
        self._reads = ReadCounter(connection, self._lookup)
        self._schema_changes = 0

    def _lookup(self, sql: str, parameters: tuple[Any, ...]) -> Any:
        with self.trusted() as connection:
            return connection.execute(sql, parameters).fetchone()

    # ------------------------------------------------------------------ trusted access
    @contextmanager
    def trusted(self) -> Iterator[TrustedConnection]:
        """mfbook's own statements (KV table, metadata): the authorizer lets everything pass."""
        previous = self._authorizer.trusted
        self._authorizer.trusted = True
        try:
            yield self._trusted
        finally:
            self._authorizer.trusted = previous

    # ------------------------------------------------------------------ user SQL
    def exec(self, query: str, bindings: Sequence[Any] = (), *, stop: Callable[[], bool] | None = None) -> SqlResult:
        """Runs ``sql.exec(query, ...bindings)``; the caller has opened the implicit transaction.

        Args:
            query: One or more statements.
            bindings: Values for the last statement's parameters.
            stop: Polled while SQLite works; when it returns True the statement is interrupted
                (the request's CPU budget is spent).

        Raises:
            SqlError: Any failure, with the runtime's text.
        """
        if stop is None:
            return self._exec(query, bindings)
        self.connection.set_progress_handler(lambda: 1 if stop() else 0, _PROGRESS_STEPS)
        try:
            return self._exec(query, bindings)
        finally:
            self.connection.set_progress_handler(None, 0)

    def _exec(self, query: str, bindings: Sequence[Any]) -> SqlResult:
        started = time.perf_counter()
        statements = split_statements(_usv(query))
        parameters = [_usv(value) for value in bindings]
        connection = self.connection
        before = connection.total_changes
        rows: list[tuple[Any, ...]] = []
        columns: tuple[str, ...] = ()
        read = 0
        reads = self._reads
        for index, statement in enumerate(statements):
            last = index == len(statements) - 1
            try:
                if self._authorizer.schema_changes != self._schema_changes:
                    self._schema_changes = self._authorizer.schema_changes
                    reads.forget_plans()
                steps = reads.before(statement)
                changes = connection.total_changes
                self._authorizer.transaction_denied = False
                cursor = connection.execute(statement, parameters if last else ())
                if last:
                    rows = cursor.fetchall()
                    columns = tuple(column[0] for column in cursor.description or ())
                    read += reads.after(statement, steps, rows, connection.total_changes - changes)
                else:
                    read += reads.after(statement, steps, cursor.fetchall(), connection.total_changes - changes)
            except sqlite3.ProgrammingError as error:
                if "supplied" in str(error) and "bindings" in str(error):
                    raise SqlError(
                        _PARAMETERS_ONLY_LAST if not last else _WRONG_BINDINGS, code="SQLITE_RANGE"
                    ) from None
                raise _error(error, statement) from None
            except sqlite3.Error as error:
                if self._authorizer.transaction_denied:
                    raise SqlError(TRANSACTION_MESSAGE, code="SQLITE_AUTH") from None
                raise _error(error, statement) from None
        written = connection.total_changes - before
        return SqlResult(
            columns=columns,
            rows=rows,
            rows_read=read,
            rows_written=written,
            statements=len(statements),
            duration_ms=(time.perf_counter() - started) * 1000,
        )

    def size(self) -> int:
        """``sql.databaseSize``: bytes in use (pages minus free pages, times the page size)."""
        with self.trusted() as connection:
            pages, free, page_size = connection.execute(
                "SELECT (SELECT * FROM pragma_page_count), (SELECT * FROM pragma_freelist_count),"
                " (SELECT * FROM pragma_page_size)"
            ).fetchone()
        return int((pages - free) * page_size)

    def user_tables(self) -> list[str]:
        """Names of the object's own tables (not ``_cf_*``, not SQLite's), sorted."""
        with self.trusted() as connection:
            rows = connection.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'"
                " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            ).fetchall()
        return [row[0] for row in rows]

    # ------------------------------------------------------------------ transactions
    @property
    def in_transaction(self) -> bool:
        return self.connection.in_transaction

    @property
    def depth(self) -> int:
        """Open ``transactionSync`` levels."""
        return self._depth

    def begin(self) -> bool:
        """Opens the implicit transaction unless one is open; returns whether it did."""
        if self.connection.in_transaction:
            return False
        with self.trusted() as connection:
            connection.execute("BEGIN")
        return True

    def commit(self) -> None:
        """Commits the implicit transaction (and any savepoint left open)."""
        self._depth = 0
        if self.connection.in_transaction:
            with self.trusted() as connection:
                try:
                    connection.execute("COMMIT")
                except sqlite3.Error as error:
                    raise _error(error, "COMMIT") from None

    def rollback(self) -> None:
        """Drops every write since :meth:`begin`."""
        self._depth = 0
        if self.connection.in_transaction:
            with self.trusted() as connection:
                connection.execute("ROLLBACK")

    def savepoint(self) -> int:
        """Opens one ``transactionSync`` level (inside the implicit transaction); returns its depth."""
        self.begin()
        with self.trusted() as connection:
            connection.execute(f"SAVEPOINT _cf_sync_savepoint_{self._depth}")
        self._depth += 1
        return self._depth

    def release(self) -> None:
        """Ends the innermost level, keeping its writes."""
        self._pop("RELEASE")

    def rollback_to(self) -> None:
        """Ends the innermost level, dropping its writes."""
        self._pop("ROLLBACK TO", then_release=True)

    def _pop(self, verb: str, *, then_release: bool = False) -> None:
        if self._depth == 0:
            raise SqlError("No transactionSync() is open.", code="SQLITE_ERROR")
        self._depth -= 1
        name = f"_cf_sync_savepoint_{self._depth}"
        with self.trusted() as connection:
            connection.execute(f"{verb} {name}")
            if then_release:
                connection.execute(f"RELEASE {name}")

    def close(self) -> None:
        self.connection.close()
