"""The synchronous host operations behind ``ctx.storage.sql``, ``ctx.storage.kv`` and friends.

Each handler takes the bridge's call context (``call.actor`` is the object whose code runs,
from the host's own record, never from the payload; ``call.request`` its request) and a
JSON payload from ``mfbook/js/sql_storage.js``, and returns a JSON-able result. Errors are
raised as :class:`~mfbook.errors.WorkerError`/:class:`~mfbook.errors.SqlError` and become the
JS error with the runtime's name and text.

Wire formats (JS ⇄ Python, inside JSON):

- a binding is a JSON number (a JS number, bound as a double like workerd does), a string,
  ``null``, ``{"$i": "<decimal>"}`` (a BigInt), ``{"$d": "Infinity"}`` (an infinite number) or
  ``{"$b": "<latin-1>"}`` (bytes);
- an ``exec`` result is ``{"c": columns, "r": rows, "rr": rows read, "rw": rows written,
  "o": 1 if it opened the event's implicit transaction}`` plus ``"b": [[row, column], ...]``
  naming cells that hold bytes (sent as latin-1 strings) and ``"x": [[row, column], ...]``
  naming non-finite floats (sent as strings);
- KV values are the value codec's text (``mfbook/codec.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import WorkerError
from ..storage import ListOptions, ObjectStorage
from .object_sql import ObjectSql, sql_store

__all__ = ["SQL_SYNC_HANDLERS", "decode_binding", "encode_result"]


class _Actor(Protocol):
    key: str
    storage: ObjectStorage


class _Request(Protocol):
    request_id: int


class SyncCallLike(Protocol):
    """What the handlers need of the bridge's call context."""

    @property
    def actor(self) -> _Actor | None: ...

    @property
    def request(self) -> _Request | None: ...


def _storage(call: SyncCallLike, payload: Any) -> ObjectStorage:
    """The running object's storage; the payload's object key must name that object."""
    actor = call.actor
    if actor is None:
        raise WorkerError("Error", "The SQL API is only available inside a Durable Object.")
    if isinstance(payload, dict) and payload.get("a", actor.key) != actor.key:
        raise WorkerError("Error", "Cannot perform I/O on behalf of a different Durable Object.")
    return actor.storage


def _sql(call: SyncCallLike, payload: Any) -> ObjectSql:
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
    """Rows for the wire: bytes as latin-1 strings and non-finite floats as strings, both marked."""
    out: list[list[Any]] = []
    blobs: list[list[int]] = []
    odd: list[list[int]] = []
    for row_index, row in enumerate(rows):
        values = list(row)
        for column_index, value in enumerate(values):
            if isinstance(value, bytes):
                values[column_index] = value.decode("latin-1")
                blobs.append([row_index, column_index])
            elif isinstance(value, float) and not math.isfinite(value):
                values[column_index] = repr(value)
                odd.append([row_index, column_index])
        out.append(values)
    result: dict[str, Any] = {"c": list(columns), "r": out}
    if blobs:
        result["b"] = blobs
    if odd:
        result["x"] = odd
    return result


def _exec(call: SyncCallLike, payload: dict[str, Any]) -> dict[str, Any]:
    query = payload.get("q")
    if not isinstance(query, str):
        raise WorkerError("TypeError", "Failed to execute 'exec' on 'SqlStorage': parameter 1 is not of type 'string'.")
    bindings = [decode_binding(value) for value in payload.get("b") or ()]
    request = call.request
    result, opened = _sql(call, payload).exec(query, bindings, request_id=request.request_id if request else None)
    wire = encode_result(result.columns, result.rows)
    wire["rr"] = result.rows_read
    wire["rw"] = result.rows_written
    wire["o"] = int(opened)
    return wire


def _size(call: SyncCallLike, payload: Any) -> int:
    return _sql(call, payload).size()


def _kv_get(call: SyncCallLike, payload: dict[str, Any]) -> str | None:
    storage = _storage(call, payload)
    sql_store(storage)
    value = storage.get(str(payload["k"]))
    return None if value is None else value.decode("utf-8")


def _kv_put(call: SyncCallLike, payload: dict[str, Any]) -> None:
    storage = _storage(call, payload)
    sql_store(storage)
    storage.put([(str(payload["k"]), str(payload["v"]).encode("utf-8"))])


def _kv_delete(call: SyncCallLike, payload: dict[str, Any]) -> bool:
    storage = _storage(call, payload)
    sql_store(storage)
    return storage.delete([str(payload["k"])]) > 0


def _kv_list(call: SyncCallLike, payload: dict[str, Any]) -> list[list[str]]:
    storage = _storage(call, payload)
    sql_store(storage)
    rows = storage.list(ListOptions.from_mapping(payload.get("options") or {}))
    return [[key, value.decode("utf-8")] for key, value in rows]


def _txn_begin(call: SyncCallLike, payload: Any) -> int:
    return int(_sql(call, payload).begin_sync())


def _txn_end(call: SyncCallLike, payload: dict[str, Any]) -> None:
    _sql(call, payload).end_sync(commit=bool(payload["commit"]))


def _delete_all(call: SyncCallLike, payload: Any) -> int:
    return int(_sql(call, payload).delete_all())


def _bookmark_current(call: SyncCallLike, payload: Any) -> str:
    return sql_store(_storage(call, payload)).bookmarks.current()


def _bookmark_for_time(call: SyncCallLike, payload: dict[str, Any]) -> str:
    return sql_store(_storage(call, payload)).bookmarks.for_time(float(payload["t"]))


def _bookmark_restore_next(call: SyncCallLike, payload: dict[str, Any]) -> str:
    store = sql_store(_storage(call, payload))
    bookmark = str(payload["b"])
    store.bookmarks.image(bookmark)  # unknown or expired: fail now
    store.pending_restore = bookmark
    return store.bookmarks.current()


#: Operation name -> handler, merged into the bridge's table of synchronous host calls.
SQL_SYNC_HANDLERS: dict[str, Callable[[Any, Any], Any]] = {
    "sql.exec": _exec,
    "sql.size": _size,
    "sql.deleteAll": _delete_all,
    "sql.txnBegin": _txn_begin,
    "sql.txnEnd": _txn_end,
    "kv.get": _kv_get,
    "kv.put": _kv_put,
    "kv.delete": _kv_delete,
    "kv.list": _kv_list,
    "bookmark.current": _bookmark_current,
    "bookmark.forTime": _bookmark_for_time,
    "bookmark.restoreNext": _bookmark_restore_next,
}
