"""SQL shared by the SQLite backend and SQLite-backed objects' stores.

Both keep, per object, a one-row meta table (``version``, ``alarm``, ``alarm_version``,
``floor``, ``tombstones``) and a write version per key (see :mod:`mfbook.backends.base`), and
list keys by encoded-byte ranges; these helpers read and write them the same way through any
connection with ``execute``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from .base import KEEP, Keep

__all__ = ["range_query", "version_in", "write_meta"]


class _Executes(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...


def version_in(connection: _Executes, table: str) -> Callable[[bytes], int | None]:
    """Looks up an encoded key's write version in ``table`` (``key``, ``version`` columns)."""
    query = f"SELECT version FROM {table} WHERE key = ?"

    def written(raw: bytes) -> int | None:
        row = connection.execute(query, (raw,)).fetchone()
        return None if row is None else int(row[0])

    return written


def write_meta(connection: _Executes, table: str, version: int, alarm: int | None | Keep) -> None:
    """Records a commit's version in the meta ``table``, and its alarm unless :data:`KEEP`."""
    if alarm is KEEP:
        connection.execute(f"UPDATE {table} SET version = ? WHERE id = 0", (version,))
    else:
        connection.execute(
            f"UPDATE {table} SET version = ?1, alarm = ?2, alarm_version = ?1 WHERE id = 0", (version, alarm)
        )


def range_query(
    select: str, low: bytes, high: bytes | None, *, reverse: bool, limit: int | None
) -> tuple[str, list[Any]]:
    """Completes ``select`` (``SELECT ... WHERE <condition>``) for keys in ``[low, high)``, in byte order.

    Returns:
        The statement and its parameters.
    """
    sql = f"{select} AND key >= ?"
    params: list[Any] = [low]
    if high is not None:
        sql += " AND key < ?"
        params.append(high)
    sql += " ORDER BY key DESC" if reverse else " ORDER BY key"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return sql, params
