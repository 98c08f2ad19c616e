"""The synchronous host operations behind ``ctx.storage.sql``, ``ctx.storage.kv`` and friends.

Each handler takes the caller (:class:`SqlCall`: the object and the request, resolved by the
runtime from the object key the kernel puts in the payload, as for every storage operation,
and accepted only when that object lives in the isolate being driven) and a JSON payload from
``mfbook/js/sql_storage.js``, and returns a JSON-able result. Errors are raised as
:class:`~mfbook.errors.WorkerError`/:class:`~mfbook.errors.SqlError` and become the JS error
with the runtime's name and text.

Wire formats (JS ⇄ Python, inside JSON):

- a binding is a JSON number (a JS number, bound as a double like workerd does), a string,
  ``null``, ``{"$i": "<decimal>"}`` (a BigInt), ``{"$d": "Infinity"}`` (an infinite number) or
  ``{"$b": "<latin-1>"}`` (bytes);
- an ``exec`` result is ``{"c": columns, "r": rows, "rr": rows read, "rw": rows written}``
  plus ``"b": [[row, column], ...]``
  naming cells that hold bytes (sent as latin-1 strings) and ``"x": [[row, column], ...]``
  naming non-finite floats (sent as strings);
- KV values are the value codec's text (``mfbook/codec.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from typing import Any, Protocol

from ..errors import WorkerError
from ..storage import ListOptions, ObjectStorage
from .object_sql import ObjectSql, sql_store
from .store import SqlObjectStore

__all__ = ["SqlCall", "decode_binding", "encode_result", "sql_handlers"]


class _Actor(Protocol):
    key: str
    storage: ObjectStorage


class _Request(Protocol):
    request_id: int


@dataclass(frozen=True)
class SqlCall:
    """Who a synchronous SQL operation comes from (resolved by the runtime, see :func:`sql_handlers`).

    Attributes:
        actor: The object whose storage the code uses; ``None`` outside an object.
        request: The running delivery's request.
        touch: Marks a storage the delivery wrote, for the output gate.
        stop: True once the request's CPU budget is spent (a slow statement is interrupted).
    """

    actor: _Actor | None
    request: _Request | None
    touch: Callable[[ObjectStorage], None] | None = None
    stop: Callable[[], bool] | None = None

    def wrote(self, storage: ObjectStorage) -> None:
        """Tells the runtime that the delivery wrote ``storage`` (the output gate commits it)."""
        if self.touch is not None:
            self.touch(storage)


def _storage(call: SqlCall, payload: Any) -> ObjectStorage:
    actor = call.actor
    if actor is None:
        raise WorkerError("Error", "Cannot perform I/O on behalf of a different Durable Object.")
    return actor.storage


def _sql(call: SqlCall, payload: Any) -> ObjectSql:
    return ObjectSql.of(_storage(call, payload))


def decode_binding(value: Any) -> Any:
    """A binding from the wire (see the module docstring)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        if "$b" in value:
            return str(value["$b"]).encode("latin-1")
        if "$i" in value:
            return int(value["$i"])
        if "$d" in value:
            return float(value["$d"])
        raise WorkerError("TypeError", "Unsupported SQL binding value.")
    return value


def encode_result(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Rows for the wire: bytes as latin-1 strings and non-finite floats as strings, both marked.

    Most results hold neither, and a 1,000-row result must not cost a Python loop per cell:
    the cells' types are collected at C speed first, and only a result holding bytes or an
    infinity is rewritten cell by cell.
    """
    cells = list(chain.from_iterable(rows))
    kinds = set(map(type, cells))
    odd_floats = float in kinds and (math.inf in cells or -math.inf in cells)
    if bytes not in kinds and not odd_floats:
        return {"c": list(columns), "r": rows}
    out: list[list[Any]] = []
    blobs: list[list[int]] = []
    odd: list[list[int]] = []
    for row_index, row in enumerate(rows):
        values = list(row)
        for column_index, value in enumerate(values):
            if type(value) is bytes:
                values[column_index] = value.decode("latin-1")
                blobs.append([row_index, column_index])
            elif type(value) is float and not math.isfinite(value):
                values[column_index] = repr(value)
                odd.append([row_index, column_index])
        out.append(values)
    result: dict[str, Any] = {"c": list(columns), "r": out}
    if blobs:
        result["b"] = blobs
    if odd:
        result["x"] = odd
    return result


def _exec(call: SqlCall, payload: dict[str, Any]) -> dict[str, Any]:
    query = payload.get("q")
    if not isinstance(query, str):
        raise WorkerError("TypeError", "Failed to execute 'exec' on 'SqlStorage': parameter 1 is not of type 'string'.")
    bindings = [decode_binding(value) for value in payload.get("b") or ()]
    request = call.request
    sql = _sql(call, payload)
    result, opened = sql.exec(query, bindings, request_id=request.request_id if request else None, stop=call.stop)
    if opened:
        call.wrote(sql.storage)
    wire = encode_result(result.columns, result.rows)
    wire["rr"] = result.rows_read
    wire["rw"] = result.rows_written
    return wire


def _size(call: SqlCall, payload: Any) -> int:
    return _sql(call, payload).size()


def _kv_storage(call: SqlCall, payload: Any) -> ObjectStorage:
    storage = _storage(call, payload)
    sql_store(storage)
    return storage


def _trace(call: SqlCall, storage: ObjectStorage, kind: str, keys: tuple[str, ...], **data: Any) -> None:
    if storage.trace.enabled:
        request_id = call.request.request_id if call.request is not None else None
        storage._emit(kind, request_id=request_id, keys=keys, data={"sync": True, **data})


def _kv_get(call: SqlCall, payload: dict[str, Any]) -> str | None:
    storage = _kv_storage(call, payload)
    key = str(payload["k"])
    value = storage.get(key)
    _trace(call, storage, "storage.get", (key,))
    return None if value is None else value.decode("utf-8")


def _kv_get_many(call: SqlCall, payload: dict[str, Any]) -> list[list[str]]:
    storage = _kv_storage(call, payload)
    keys = [str(key) for key in payload["keys"]]
    _trace(call, storage, "storage.get", tuple(keys))
    return [[key, value.decode("utf-8")] for key, value in storage.get_many(keys)]


def _kv_put(call: SqlCall, payload: dict[str, Any]) -> None:
    storage = _kv_storage(call, payload)
    entries = [(str(key), str(text).encode("utf-8")) for key, text in payload["entries"]]
    storage.put(entries)
    call.wrote(storage)
    _trace(call, storage, "storage.put", tuple(key for key, _ in entries))


def _kv_delete(call: SqlCall, payload: dict[str, Any]) -> int:
    storage = _kv_storage(call, payload)
    keys = [str(key) for key in payload["keys"]]
    _trace(call, storage, "storage.delete", tuple(keys))
    call.wrote(storage)
    return storage.delete(keys)


def _kv_list(call: SqlCall, payload: dict[str, Any]) -> list[list[str]]:
    storage = _kv_storage(call, payload)
    rows = storage.list(ListOptions.from_mapping(payload.get("options") or {}))
    _trace(call, storage, "storage.list", (), count=len(rows))
    return [[key, value.decode("utf-8")] for key, value in rows]


def _txn_begin(call: SqlCall, payload: Any) -> None:
    sql = _sql(call, payload)
    if sql.begin_sync():
        call.wrote(sql.storage)


def _txn_end(call: SqlCall, payload: dict[str, Any]) -> None:
    sql = _sql(call, payload)
    sql.end_sync(commit=bool(payload["commit"]))
    if sql.database.in_transaction:  # a flush while the level was open left the commit to the output gate
        call.wrote(sql.storage)


def _delete_all(call: SqlCall, payload: Any) -> None:
    sql = _sql(call, payload)
    sql.delete_all()
    call.wrote(sql.storage)


def _abort(call: SqlCall, payload: Any) -> None:
    """``ctx.abort()``: the event's writes are dropped (the output gate never opens for them)."""
    storage = _storage(call, payload)
    storage.discard_staged()
    if isinstance(storage.store, SqlObjectStore):
        ObjectSql.of(storage).abort()


def _bookmark_current(call: SqlCall, payload: Any) -> str:
    return sql_store(_storage(call, payload)).bookmarks.current()


def _bookmark_for_time(call: SqlCall, payload: dict[str, Any]) -> str:
    return sql_store(_storage(call, payload)).bookmarks.for_time(float(payload["t"]))


def _bookmark_restore_next(call: SqlCall, payload: dict[str, Any]) -> str:
    return sql_store(_storage(call, payload)).restore_next_session(str(payload["b"]))


def _session(call: SqlCall, payload: Any) -> None:
    """A new instance of a SQLite-backed object is constructed: its session starts."""
    store = _storage(call, payload).store
    if isinstance(store, SqlObjectStore):
        store.start_session()


_HANDLERS: dict[str, Callable[[SqlCall, Any], Any]] = {
    "sql.exec": _exec,
    "sql.size": _size,
    "sql.deleteAll": _delete_all,
    "sql.txnBegin": _txn_begin,
    "sql.txnEnd": _txn_end,
    "kv.get": _kv_get,
    "kv.getMany": _kv_get_many,
    "kv.put": _kv_put,
    "kv.delete": _kv_delete,
    "kv.list": _kv_list,
    "object.abort": _abort,
    "object.session": _session,
    "bookmark.current": _bookmark_current,
    "bookmark.forTime": _bookmark_for_time,
    "bookmark.restoreNext": _bookmark_restore_next,
}


def sql_handlers(resolve: Callable[[Any], SqlCall]) -> dict[str, Callable[[Any], Any]]:
    """The operations for the bridge's table (``handler(payload)``).

    Args:
        resolve: Finds the caller of one operation from its payload and the runtime's record
            of the running delivery.
    """

    def bind(handler: Callable[[SqlCall, Any], Any]) -> Callable[[Any], Any]:
        return lambda payload: handler(resolve(payload), payload)

    return {name: bind(handler) for name, handler in _HANDLERS.items()}
