"""The SQL API of one object, shared by its JavaScript (through host calls) and by Python.

:class:`ObjectSql` sits on an object's :class:`~mfbook.storage.ObjectStorage`: SQL runs in the
implicit transaction of the current event (committed by the storage's flush at the output
gate, together with the staged KV writes), every statement is traced as ``sql.exec``
(statement, rows read and written, duration), and ``transactionSync`` levels also remember
the staged KV writes so that a throwing callback undoes both.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import WorkerError
from ..storage import ObjectStorage
from .database import SqlDatabase, SqlResult
from .store import SqlObjectStore

__all__ = ["NOT_ENABLED_MESSAGE", "ObjectSql", "sql_store"]

#: workerd's error for ``ctx.storage.sql`` (and the other SQLite-only APIs) on a KV-backed class.
NOT_ENABLED_MESSAGE = (
    "SQL is not enabled for this Durable Object class. To enable it, change "
    "`new_classes` to `new_sqlite_classes` within the 'migrations' field in "
    "your wrangler.jsonc or wrangler.toml file. If using workerd directly,"
    "set `enableSql = true` in your workerd config for the class. Note "
    "that this change cannot be made after the class is "
    "already deployed to production."
)
_STATEMENT_TRACE_LIMIT = 500


def sql_store(storage: ObjectStorage) -> SqlObjectStore:
    """The object's SQL store.

    Raises:
        WorkerError: The class is not SQLite-backed (workerd's ``Error`` and text).
    """
    store = storage.store
    if not isinstance(store, SqlObjectStore):
        raise WorkerError("Error", NOT_ENABLED_MESSAGE)
    return store


class ObjectSql:
    """SQL, synchronous KV and ``transactionSync`` of one SQLite-backed object.

    Args:
        storage: The object's storage (its store must be a :class:`SqlObjectStore`).
    """

    _instances: weakref.WeakKeyDictionary[ObjectStorage, ObjectSql] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, storage: ObjectStorage) -> ObjectSql:
        """The object's one :class:`ObjectSql` (it keeps the open ``transactionSync`` levels)."""
        found = cls._instances.get(storage)
        if found is None or found.store is not storage.store:
            found = cls._instances[storage] = cls(storage)
        return found

    def __init__(self, storage: ObjectStorage) -> None:
        self.storage = storage
        self.store = sql_store(storage)
        self._levels: list[tuple[dict[str, bytes | None], Any, bool]] = []

    @property
    def database(self) -> SqlDatabase:
        database = self.store.database()
        assert database is not None
        return database

    def exec(
        self,
        query: str,
        bindings: Sequence[Any] = (),
        *,
        request_id: int | None = None,
        stop: Callable[[], bool] | None = None,
        trace: bool = True,
    ) -> tuple[SqlResult, bool]:
        """Runs one ``sql.exec`` in the event's implicit transaction.

        Returns:
            The result, and whether this call opened the implicit transaction (then the
            caller must make sure the storage is flushed at the output gate).

        Raises:
            SqlError: The statement failed (the runtime's text).
        """
        opened = self.store.begin()
        result = self.database.exec(query, bindings, stop=stop)
        if not trace or not self.storage.trace.enabled:
            return result, opened
        statement = query if len(query) <= _STATEMENT_TRACE_LIMIT else query[:_STATEMENT_TRACE_LIMIT] + "…"
        self.storage._emit(
            "sql.exec",
            request_id=request_id,
            data={
                "statement": statement,
                "rows_read": result.rows_read,
                "rows_written": result.rows_written,
                "statements": result.statements,
                "ms": result.duration_ms,
            },
        )
        return result, opened

    def size(self) -> int:
        return self.database.size()

    # ------------------------------------------------------------------ transactionSync
    def begin_sync(self) -> bool:
        """Opens a ``transactionSync`` level; returns whether the implicit transaction was opened."""
        opened = self.store.begin()
        self.database.savepoint()
        self._levels.append(self.storage.staged_state())
        return opened

    def end_sync(self, *, commit: bool) -> None:
        """Closes the innermost level, keeping (``commit``) or dropping its SQL and KV writes."""
        if not self._levels:
            raise WorkerError("Error", "No transactionSync() is open.")
        staged = self._levels.pop()
        if commit:
            self.database.release()
        else:
            self.database.rollback_to()
            self.storage.restore_staged(staged)

    def delete_all(self) -> bool:
        """``deleteAll()``: drops every table and KV pair now, in the implicit transaction."""
        opened = self.store.begin()
        self.storage.drop_staged_keys()
        self.store.delete_all_now()
        return opened

    def abort(self) -> None:
        """Drops the event's SQL writes and every open ``transactionSync`` level."""
        self._levels.clear()
        self.database.rollback()
