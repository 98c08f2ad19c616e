"""Durable Objects from Python: namespaces, stubs and storage.

These are thin handles: every call runs on the emulator thread through the same storage
engine (:mod:`mfbook.storage`) that JavaScript uses, so a write from a notebook conflicts
with a running transaction exactly like a write from another request would. Each blocking
method has an ``*_async`` twin awaitable from any event loop.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable, Coroutine, Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from . import codec
from .backends.base import CommitConflict
from .errors import ConflictError, SqlError, StorageRangeError, StorageTypeError
from .ids import DurableObjectId
from .messages import ENFORCED_MAX_VALUE_SIZE, MAX_KEY_SIZE, MAX_KEYS, MAX_SQL_ROW_SIZE, UNDEFINED_KEY_SUFFIX, text
from .sql.python_api import PySql
from .storage import ListOptions, ObjectStorage, Transaction
from .v8size import v8_size_of_text

if TYPE_CHECKING:
    from .miniflare import Miniflare
    from .runtime import NamespaceSpec

__all__ = ["DurableObjectStorage", "PyTransaction"]

T = TypeVar("T")


# ---------------------------------------------------------------------- validation
def _check_key(key: Any, method: str, owner: str, *, many: bool = False, sqlite: bool = False) -> str:
    if key is None or key is codec.UNDEFINED:
        raise StorageTypeError(f"Failed to execute '{method}' on '{owner}'{UNDEFINED_KEY_SUFFIX}")
    if isinstance(key, (bytes, bytearray, memoryview)):
        # str() would store the text "b'...'": keys are text, as in JS.
        raise StorageTypeError(
            f"Failed to execute '{method}' on '{owner}': keys are str, not {type(key).__name__} "
            "(decode the bytes first, e.g. key.decode('utf-8'))."
        )
    name = str(key)
    size = len(name.encode("utf-8", "surrogatepass"))
    if sqlite:  # SQLite-backed: only the row (key and value together) is limited
        if size > MAX_SQL_ROW_SIZE:
            raise SqlError(text("sqlTooBig"), code="SQLITE_TOOBIG")
    elif size > MAX_KEY_SIZE:
        raise StorageRangeError(text("keyTooLargeMany", key=name) if many else text("keyTooLarge"))
    return name


def _encode_value(value: Any, key: str | None, *, row_key: str | None = None) -> bytes:
    """The value's stored text; ``row_key``: the key of a SQLite-backed object's row (its limit)."""
    if value is codec.UNDEFINED:
        raise StorageTypeError(text("putUndefined"))
    # None is JS null (as everywhere in the codec): a value read back can always be written back.
    encoded = codec.encode(value)
    if row_key is not None:
        key_size = len(row_key.encode("utf-8", "surrogatepass"))
        if (len(encoded) * 3 + 16 + key_size > MAX_SQL_ROW_SIZE) and (
            v8_size_of_text(encoded) + key_size > MAX_SQL_ROW_SIZE
        ):
            raise SqlError(text("sqlTooBig"), code="SQLITE_TOOBIG")
    elif (len(encoded) * 3 + 16 > ENFORCED_MAX_VALUE_SIZE or '"$":"view"' in encoded) and (
        v8_size_of_text(encoded) > ENFORCED_MAX_VALUE_SIZE  # as V8 serializes it (see v8size.py)
    ):
        raise StorageRangeError(text("valueTooLarge") if key is None else text("valueTooLargeMany", key=key))
    return encoded.encode("utf-8")


def _keys_list(keys: Iterable[Any], method: str, owner: str, *, sqlite: bool = False) -> builtins.list[str]:
    keys = list(keys)
    if len(keys) > MAX_KEYS:
        raise StorageRangeError(text("tooManyKeys"))
    return [_check_key(key, method, owner, many=True, sqlite=sqlite) for key in keys if key is not None]


def _put_entries(
    key_or_entries: Any, value: Any, owner: str, *, sqlite: bool = False
) -> builtins.list[tuple[str, bytes]]:
    if isinstance(key_or_entries, Mapping):
        if len(key_or_entries) > MAX_KEYS:
            raise StorageRangeError(text("tooManyPairs"))
        entries = []
        for key, item in key_or_entries.items():
            key = _check_key(key, "put", owner, many=True, sqlite=sqlite)
            if item is codec.UNDEFINED:
                continue
            entries.append((key, _encode_value(item, key, row_key=key if sqlite else None)))
        return entries
    key = _check_key(key_or_entries, "put", owner, sqlite=sqlite)
    return [(key, _encode_value(value, None, row_key=key if sqlite else None))]


def _alarm_ms(scheduled: int | float | datetime) -> int:
    if isinstance(scheduled, datetime):
        if scheduled.tzinfo is None:
            scheduled = scheduled.replace(tzinfo=timezone.utc)
        return int(scheduled.timestamp() * 1000)
    if isinstance(scheduled, bool) or not isinstance(scheduled, (int, float)):
        raise StorageTypeError(
            "Failed to execute 'setAlarm' on 'DurableObjectStorage': parameter 1 is not of type 'date'."
        )
    return max(0, int(scheduled))


def _decode_rows(rows: builtins.list[tuple[str, bytes]]) -> dict[str, Any]:
    return {key: codec.decode(value) for key, value in rows}


class _Operator:
    """Runs storage calls on the emulator thread (blocking and awaitable forms)."""

    _owner = "DurableObjectStorage"
    #: The object's class is SQLite-backed (the SQLite backend's limits apply).
    _sqlite = False

    def __init__(self, mf: Miniflare, resolve: Callable[[], ObjectStorage]) -> None:
        self._mf = mf
        self._resolve = resolve

    def _call(self, function: Callable[[ObjectStorage], T]) -> T:
        return self._mf._loop.call(lambda: function(self._idle(self._resolve())))

    def _idle(self, storage: ObjectStorage) -> ObjectStorage:
        # Another thread may be waiting on Redis for this object (mfbook/backend_waits.py).
        self._mf._runtime.waits.wait_idle(f"{storage.binding}:{storage.object_id}")
        return storage

    async def _call_async(self, function: Callable[[ObjectStorage], T]) -> T:
        async def run() -> T:
            return function(self._idle(self._resolve()))

        return await self._mf._loop.run_async(run())


class DurableObjectStorage(_Operator):
    """Storage of one object, from Python (``mf.get_durable_object_storage(id)``).

    Values are decoded to natural Python types (see :mod:`mfbook.codec`); writes commit at
    once (each call is its own atomic batch) and are numbered on the trace like JS commits.
    """

    def __init__(self, mf: Miniflare, namespace: NamespaceSpec, object_id: DurableObjectId) -> None:
        super().__init__(mf, lambda: mf._runtime.storage_for(namespace, object_id.hex, object_id.name))
        self.id = object_id
        self._sqlite = namespace.sqlite

    # ---------------------------------------------------------------- SQLite-backed objects
    @property
    def sqlite(self) -> bool:
        """Whether the object's class is SQLite-backed (it has :attr:`sql`)."""
        return self._sqlite

    @property
    def sql(self) -> PySql:
        """The SQL API of a SQLite-backed object: ``storage.sql.exec("SELECT ...", *bindings)``."""
        return PySql(self._call, self._call_async)

    def bookmark(self) -> str:
        """A bookmark of the object's current state (SQLite-backed objects)."""
        return self.sql.bookmark()

    def restore(self, target: str | datetime) -> str:
        """Restores the whole storage to a bookmark or a ``datetime``; returns an undo bookmark."""
        return self.sql.restore(target)

    # ---------------------------------------------------------------- reads
    def _get(self, keys: Any) -> Callable[[ObjectStorage], Any]:
        if isinstance(keys, (list, tuple)):
            wanted = _keys_list(keys, "get", self._owner, sqlite=self._sqlite)
            return lambda storage: _decode_rows(storage.get_many(wanted))
        key = _check_key(keys, "get", self._owner, sqlite=self._sqlite)

        def read(storage: ObjectStorage) -> Any:
            value = storage.get(key)
            return None if value is None else codec.decode(value)

        return read

    def get(self, keys: str | builtins.list[str]) -> Any:
        """``get(key)`` → value or None; ``get([keys])`` → dict of the found keys, sorted."""
        return self._call(self._get(keys))

    async def get_async(self, keys: str | builtins.list[str]) -> Any:
        return await self._call_async(self._get(keys))

    def _list(self, options: dict[str, Any]) -> Callable[[ObjectStorage], dict[str, Any]]:
        parsed = ListOptions.from_mapping(options)
        return lambda storage: _decode_rows(storage.list(parsed))

    def list(
        self,
        *,
        start: str | None = None,
        start_after: str | None = None,
        end: str | None = None,
        prefix: str | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """Keys and values in UTF-8 byte order (``start`` inclusive, ``end`` exclusive)."""
        return self._call(
            self._list(dict(start=start, start_after=start_after, end=end, prefix=prefix, reverse=reverse, limit=limit))
        )

    async def list_async(self, **options: Any) -> dict[str, Any]:
        return await self._call_async(self._list(options))

    def get_alarm(self) -> int | None:
        """Scheduled alarm time in ms since the epoch, or None."""
        return self._call(lambda storage: storage.get_alarm())

    async def get_alarm_async(self) -> int | None:
        return await self._call_async(lambda storage: storage.get_alarm())

    # ---------------------------------------------------------------- writes
    def _write(self, stage: Callable[[ObjectStorage], T]) -> Callable[[ObjectStorage], T]:
        def run(storage: ObjectStorage) -> T:
            result = stage(storage)
            try:
                storage.flush()
            except Exception:
                storage.discard_staged()
                raise
            return result

        return run

    def _put(self, key_or_entries: Any, value: Any) -> Callable[[ObjectStorage], None]:
        entries = _put_entries(key_or_entries, value, self._owner, sqlite=self._sqlite)
        return self._write(lambda storage: storage.put(entries))

    def put(self, key_or_entries: str | Mapping[str, Any], value: Any = codec.UNDEFINED) -> None:
        """``put(key, value)`` or ``put({key: value, ...})``; None is stored as JS ``null``.

        A value of ``mfbook.UNDEFINED`` is refused (``put(key)``) or skipped (in a dict), as
        ``undefined`` is in JS.
        """
        self._call(self._put(key_or_entries, value))

    async def put_async(self, key_or_entries: str | Mapping[str, Any], value: Any = codec.UNDEFINED) -> None:
        await self._call_async(self._put(key_or_entries, value))

    def _delete(self, keys: Any) -> Callable[[ObjectStorage], bool | int]:
        if isinstance(keys, (list, tuple)):
            wanted = _keys_list(keys, "delete", self._owner, sqlite=self._sqlite)
            return self._write(lambda storage: storage.delete(wanted))
        key = _check_key(keys, "delete", self._owner, sqlite=self._sqlite)
        return self._write(lambda storage: storage.delete([key]) > 0)

    def delete(self, keys: str | builtins.list[str]) -> bool | int:
        """``delete(key)`` → whether it existed; ``delete([keys])`` → how many existed."""
        return self._call(self._delete(keys))

    async def delete_async(self, keys: str | builtins.list[str]) -> bool | int:
        return await self._call_async(self._delete(keys))

    def delete_all(self) -> None:
        """Deletes every key (the alarm stays)."""
        self._call(self._write(lambda storage: storage.delete_all()))

    async def delete_all_async(self) -> None:
        await self._call_async(self._write(lambda storage: storage.delete_all()))

    def set_alarm(self, scheduled: int | float | datetime) -> None:
        """Schedules the object's alarm (ms since the epoch, or a datetime)."""
        when = _alarm_ms(scheduled)
        self._call(self._write(lambda storage: storage.set_alarm(when)))

    async def set_alarm_async(self, scheduled: int | float | datetime) -> None:
        when = _alarm_ms(scheduled)
        await self._call_async(self._write(lambda storage: storage.set_alarm(when)))

    def delete_alarm(self) -> None:
        self._call(self._write(lambda storage: storage.set_alarm(None)))

    async def delete_alarm_async(self) -> None:
        await self._call_async(self._write(lambda storage: storage.set_alarm(None)))

    # ---------------------------------------------------------------- transactions
    # Each step below returns a function that runs on the emulator thread; the closure itself
    # runs on the caller's thread (or loop), so JS requests keep running between its calls.
    @staticmethod
    def _begin_step(
        attempt: int, replaced: Transaction | None, conflict: CommitConflict | None
    ) -> Callable[[ObjectStorage], Transaction]:
        def begin(storage: ObjectStorage) -> Transaction:
            txn = storage.begin(attempt=attempt)
            if replaced is not None and conflict is not None:
                storage._emit(
                    "txn.retry",
                    txn_id=txn.txn_id,
                    attempt=txn.attempt,
                    keys=tuple(conflict.keys),
                    data={"replaces": replaced.txn_id, "winning_version": conflict.winning_version},
                )
            return txn

        return begin

    @staticmethod
    def _finish_step(txn: Transaction, handle: PyTransaction) -> Callable[[ObjectStorage], None]:
        def finish(storage: ObjectStorage) -> None:
            if handle._state == "rolledback":
                storage.rollback(txn)
            else:
                storage.commit(txn)

        return finish

    @staticmethod
    def _abort_step(txn: Transaction) -> Callable[[ObjectStorage], None]:
        return lambda storage: storage.rollback(txn, reason="closure raised")

    def _give_up(
        self, txn: Transaction, conflict: CommitConflict
    ) -> tuple[Callable[[ObjectStorage], None], ConflictError]:
        keys = tuple(conflict.keys)
        error = ConflictError(
            f"Transaction gave up after {txn.attempt} attempts: keys "
            f"{', '.join(repr(k) for k in keys) or '(alarm)'} kept changing under it "
            f"(last conflicting commit #{conflict.winning_version}).",
            object_id=self.id.hex,
            keys=keys,
            txn_id=txn.txn_id,
            attempts=txn.attempt,
        )

        def trace(storage: ObjectStorage) -> None:
            storage._emit(
                "txn.giveup", txn_id=txn.txn_id, attempt=txn.attempt, keys=keys, data={"attempts": txn.attempt}
            )

        return trace, error

    def transaction(self, function: Callable[[PyTransaction], T], *, max_attempts: int | None = None) -> T:
        """Runs ``function(txn)`` as an optimistic transaction, retrying on conflicts.

        ``function`` runs on the calling thread; each ``txn`` call runs on the emulator, so
        JS requests keep running between them and may conflict. Calling ``txn.rollback()``
        makes the transaction write nothing. Returns ``function``'s result.

        Raises:
            ConflictError: Still conflicting after ``max_attempts`` runs.
        """
        limit = max_attempts or self._mf._runtime.txn_max_attempts
        replaced: Transaction | None = None
        conflict: CommitConflict | None = None
        attempt = 1
        while True:
            txn = self._call(self._begin_step(attempt, replaced, conflict))
            handle = PyTransaction(self, txn)
            try:
                result = function(handle)
            except BaseException:
                handle._state = "committed"
                self._call(self._abort_step(txn))
                raise
            try:
                self._call(self._finish_step(txn, handle))
                return result
            except CommitConflict as error:
                conflict = error
            finally:
                if handle._state == "open":
                    handle._state = "committed"
            if attempt >= limit:
                trace, give_up = self._give_up(txn, conflict)
                self._call(trace)
                raise give_up
            attempt += 1
            replaced = txn

    async def transaction_async(
        self, function: Callable[[PyTransaction], Coroutine[Any, Any, T]], *, max_attempts: int | None = None
    ) -> T:
        """Like :meth:`transaction`, with an ``async def function(txn)`` (``await txn.get_async(...)``)."""
        limit = max_attempts or self._mf._runtime.txn_max_attempts
        replaced: Transaction | None = None
        conflict: CommitConflict | None = None
        attempt = 1
        while True:
            txn = await self._call_async(self._begin_step(attempt, replaced, conflict))
            handle = PyTransaction(self, txn)
            try:
                result = await function(handle)
            except BaseException:
                handle._state = "committed"
                await self._call_async(self._abort_step(txn))
                raise
            try:
                await self._call_async(self._finish_step(txn, handle))
                return result
            except CommitConflict as error:
                conflict = error
            finally:
                if handle._state == "open":
                    handle._state = "committed"
            if attempt >= limit:
                trace, give_up = self._give_up(txn, conflict)
                await self._call_async(trace)
                raise give_up
            attempt += 1
            replaced = txn

    def __repr__(self) -> str:
        return f"<DurableObjectStorage {self.id.binding}:{self.id.hex[:12]}…>"


class PyTransaction(_Operator):
    """The ``txn`` handed to a Python transaction closure."""

    _owner = "DurableObjectTransaction"

    def __init__(self, storage: DurableObjectStorage, txn: Transaction) -> None:
        super().__init__(storage._mf, storage._resolve)
        self._sqlite = storage._sqlite
        self._txn = txn
        self._state = "open"

    def _check(self, operation: str) -> None:
        if self._state == "rolledback":
            raise RuntimeError(text("txnRolledBack", op=operation))
        if self._state == "committed":
            raise RuntimeError(text("txnCommitted", op=operation))

    def get(self, keys: str | builtins.list[str]) -> Any:
        self._check("get")
        txn = self._txn
        if isinstance(keys, (list, tuple)):
            wanted = _keys_list(keys, "get", self._owner, sqlite=self._sqlite)
            return self._call(lambda storage: _decode_rows(storage.txn_get(txn, wanted)))
        key = _check_key(keys, "get", self._owner, sqlite=self._sqlite)
        rows = self._call(lambda storage: storage.txn_get(txn, [key]))
        return codec.decode(rows[0][1]) if rows else None

    def put(self, key_or_entries: str | Mapping[str, Any], value: Any = codec.UNDEFINED) -> None:
        self._check("put")
        entries = _put_entries(key_or_entries, value, self._owner, sqlite=self._sqlite)
        txn = self._txn
        self._call(lambda storage: storage.txn_put(txn, entries))

    def delete(self, keys: str | builtins.list[str]) -> bool | int:
        self._check("delete")
        txn = self._txn
        if isinstance(keys, (list, tuple)):
            wanted = _keys_list(keys, "delete", self._owner, sqlite=self._sqlite)
            return self._call(lambda storage: storage.txn_delete(txn, wanted))
        key = _check_key(keys, "delete", self._owner, sqlite=self._sqlite)
        return self._call(lambda storage: storage.txn_delete(txn, [key])) > 0

    def list(self, **options: Any) -> dict[str, Any]:
        self._check("list")
        parsed = ListOptions.from_mapping(options)
        txn = self._txn
        return self._call(lambda storage: _decode_rows(storage.txn_list(txn, parsed)))

    def get_alarm(self) -> int | None:
        self._check("getAlarm")
        txn = self._txn
        return self._call(lambda storage: storage.txn_get_alarm(txn))

    def set_alarm(self, scheduled: int | float | datetime) -> None:
        self._check("setAlarm")
        when = _alarm_ms(scheduled)
        txn = self._txn
        self._call(lambda storage: storage.txn_set_alarm(txn, when))

    def delete_alarm(self) -> None:
        self._check("deleteAlarm")
        txn = self._txn
        self._call(lambda storage: storage.txn_set_alarm(txn, None))

    def delete_all(self) -> None:
        raise RuntimeError(text("txnDeleteAll"))

    def rollback(self) -> None:
        if self._state == "rolledback":
            return
        self._check("rollback")
        self._state = "rolledback"

    async def get_async(self, keys: str | builtins.list[str]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, self.get, keys)

    async def put_async(self, key_or_entries: str | Mapping[str, Any], value: Any = codec.UNDEFINED) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.put, key_or_entries, value)
