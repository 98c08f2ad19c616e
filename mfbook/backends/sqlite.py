"""SQLite backend: one database per object at ``<root>/<binding>/<hex id>/storage.sqlite3``.

- The binding directory name is :func:`~mfbook.backends.base.escape_binding` of the binding
  and the object directory is the validated hex id, so nothing is written outside ``root``.
- Keys are BLOBs (the encoded key), so any key works and ``ORDER BY key`` is byte order.
- Schema: ``kv(key BLOB PRIMARY KEY, value BLOB NULL, version INTEGER)`` where a NULL value is a
  tombstone, and ``meta(id=0, version, alarm, alarm_version, floor, tombstones)``; tombstones
  are compacted as :mod:`mfbook.backends.base` describes (``floor``, ``tombstones`` made since).
- WAL journal, ``synchronous=NORMAL``: each commit is one ``BEGIN IMMEDIATE … COMMIT``
  transaction, atomic even if the process is killed mid-write. The object version is read
  inside that transaction, so two processes sharing a directory serialize their commits and
  see each other's writes (``busy_timeout`` waits for the other writer; if it never finishes,
  :class:`~mfbook.backends.base.BackendUnavailable` is raised).
- Files are created lazily by the first commit that writes; reading an object that does not
  exist creates nothing.
- Besides the object directories, the root holds one file, ``.mfbook-commits``: a counter every
  process bumps after each commit, so that the objects' JS read caches notice commits made by
  other processes sharing the directory (:mod:`mfbook.backends.commit_counter`).
"""

from __future__ import annotations

import builtins
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

from .base import (
    Backend,
    BackendUnavailable,
    CommitBatch,
    ObjectStore,
    check_reads,
    decode_key,
    encode_key,
    escape_binding,
    should_compact,
    unescape_binding,
    validate_object_hex,
)
from .commit_counter import CommitCounter
from .sql_versions import range_query, version_in, write_meta

__all__ = ["DATABASE_NAME", "SqliteBackend", "SqliteObjectStore"]

#: File name of each object's database inside its directory.
DATABASE_NAME = "storage.sqlite3"

_BUSY_TIMEOUT_MS = 10_000
_CHUNK = 500
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv ("
    " key BLOB PRIMARY KEY NOT NULL, value BLOB, version INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS meta ("
    " id INTEGER PRIMARY KEY CHECK (id = 0), version INTEGER NOT NULL,"
    " alarm INTEGER, alarm_version INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO meta (id, version, alarm, alarm_version) VALUES (0, 0, NULL, 0)",
)
# Columns added after the first release (databases written before get them on open).
_META_COLUMNS = {"floor": "INTEGER NOT NULL DEFAULT 0", "tombstones": "INTEGER NOT NULL DEFAULT 0"}


def _initialize(connection: sqlite3.Connection) -> None:
    """Switch to WAL and create the schema, retrying while another process does the same.

    Changing the journal mode of a new database can fail with ``SQLITE_BUSY`` without the
    busy handler being called, so this retries for up to the busy timeout.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA:
                    connection.execute(statement)
                present = {row[1] for row in connection.execute("PRAGMA table_info(meta)")}
                for column, declaration in _META_COLUMNS.items():
                    if column not in present:
                        connection.execute(f"ALTER TABLE meta ADD COLUMN {column} {declaration}")
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            return
        except sqlite3.OperationalError as error:
            busy = "locked" in str(error) or "busy" in str(error)
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def objects_in(directory: Path, database_name: str, has_data: Callable[[str], bool]) -> builtins.list[str]:
    """Sorted ids of the objects with a ``database_name`` file (and data) under a binding's directory."""
    try:
        names = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
    except FileNotFoundError:
        return []
    found: builtins.list[str] = []
    for name in names:
        try:
            validate_object_hex(name)
        except ValueError:
            continue
        if (directory / name / database_name).exists() and has_data(name):
            found.append(name)
    return found


class SqliteObjectStore(ObjectStore):
    """One Durable Object stored in its own SQLite database."""

    def __init__(
        self,
        directory: Path,
        *,
        on_connect: Callable[[SqliteObjectStore], None] | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        """Create a store for ``directory`` (nothing is opened until needed).

        Args:
            directory: The object's directory.
            on_connect: Called (holding this store's lock) after the connection opens.
            on_commit: Called after every commit that wrote something.
        """
        self._directory = directory
        self._path = directory / DATABASE_NAME
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None
        self._on_connect = on_connect
        self._on_commit = on_commit

    @property
    def path(self) -> Path:
        """Path of the object's database file (may not exist yet)."""
        return self._path

    def _connect(self, *, create: bool) -> sqlite3.Connection | None:
        if self._connection is not None:
            return self._connection
        if not create and not self._path.exists():
            return None
        try:
            if create:
                self._directory.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, cached_statements=256
            )
            connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA synchronous = NORMAL")
            _initialize(connection)
        except (sqlite3.Error, OSError) as error:
            raise self._unavailable(error) from error
        self._connection = connection
        if self._on_connect is not None:
            self._on_connect(self)
        return connection

    def _unavailable(self, error: BaseException) -> BackendUnavailable:
        return BackendUnavailable(f"SQLite storage at {self._path} is unavailable: {error}", location=str(self._path))

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        wanted = {encode_key(key): key for key in keys}
        with self._lock:
            connection = self._connect(create=False)
            if connection is None or not wanted:
                return {}
            raw_keys = list(wanted)
            found: dict[str, bytes] = {}
            try:
                for index in range(0, len(raw_keys), _CHUNK):
                    chunk = raw_keys[index : index + _CHUNK]
                    marks = ",".join("?" * len(chunk))
                    rows = connection.execute(
                        f"SELECT key, value FROM kv WHERE key IN ({marks}) AND value IS NOT NULL",
                        chunk,
                    )
                    for raw, value in rows:
                        found[wanted[raw]] = value
            except sqlite3.Error as error:
                raise self._unavailable(error) from error
        return {key: found[key] for key in wanted.values() if key in found}

    def _list_range(
        self, low: bytes, high: bytes | None, *, reverse: bool, limit: int | None
    ) -> builtins.list[tuple[str, bytes]]:
        sql, params = range_query(
            "SELECT key, value FROM kv WHERE value IS NOT NULL", low, high, reverse=reverse, limit=limit
        )
        with self._lock:
            connection = self._connect(create=False)
            if connection is None:
                return []
            try:
                rows = connection.execute(sql, params).fetchall()
            except sqlite3.Error as error:
                raise self._unavailable(error) from error
        return [(decode_key(raw), value) for raw, value in rows]

    def _commit(self, batch: CommitBatch) -> int:
        encoded_puts = [(encode_key(key), bytes(value)) for key, value in batch.puts.items()]
        encoded_deletes = [(encode_key(key),) for key in batch.deletes]
        with self._lock:
            connection = self._connect(create=batch.writes)
            if connection is None:  # nothing stored and nothing to write: version 0 everywhere
                return 0
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise self._unavailable(error) from error
            try:
                current, alarm_version, floor, tombstones = connection.execute(
                    "SELECT version, alarm_version, floor, tombstones FROM meta WHERE id = 0"
                ).fetchone()
                check_reads(batch, written=version_in(connection, "kv"), alarm_version=alarm_version, floor=floor)
                if not batch.writes:
                    connection.execute("COMMIT")
                    return int(current)
                version = current + 1
                before = connection.total_changes
                if batch.delete_all:
                    connection.execute(
                        "UPDATE kv SET value = NULL, version = ? WHERE value IS NOT NULL",
                        (version,),
                    )
                if encoded_deletes:
                    connection.executemany(
                        "UPDATE kv SET value = NULL, version = ?1 WHERE key = ?2 AND value IS NOT NULL",
                        [(version, raw) for (raw,) in encoded_deletes],
                    )
                made = connection.total_changes - before  # rows that became tombstones
                if encoded_puts:
                    connection.executemany(
                        "INSERT OR REPLACE INTO kv (key, value, version) VALUES (?, ?, ?)",
                        [(raw, value, version) for raw, value in encoded_puts],
                    )
                write_meta(connection, "meta", version, batch.alarm)
                if made:
                    self._count_tombstones(connection, tombstones + made, version)
                connection.execute("COMMIT")
                if self._on_commit is not None:
                    self._on_commit()
                return int(version)
            except BaseException as error:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                if isinstance(error, sqlite3.Error):
                    raise self._unavailable(error) from error
                raise

    @staticmethod
    def _count_tombstones(connection: sqlite3.Connection, tombstones: int, version: int) -> None:
        """Records new tombstones; drops them all once there are enough (see the module doc)."""
        live = "SELECT count(*) FROM kv WHERE value IS NOT NULL"
        if should_compact(tombstones, lambda: int(connection.execute(live).fetchone()[0])):
            connection.execute("DELETE FROM kv WHERE value IS NULL")
            connection.execute("UPDATE meta SET floor = ?, tombstones = 0 WHERE id = 0", (version,))
        else:
            connection.execute("UPDATE meta SET tombstones = ? WHERE id = 0", (tombstones,))

    def _scalar(self, sql: str, default: int | None) -> int | None:
        with self._lock:
            connection = self._connect(create=False)
            if connection is None:
                return default
            try:
                row = connection.execute(sql).fetchone()
            except sqlite3.Error as error:
                raise self._unavailable(error) from error
        return None if row is None or row[0] is None else int(row[0])

    def version(self) -> int:
        return self._scalar("SELECT version FROM meta WHERE id = 0", 0) or 0

    def get_alarm(self) -> int | None:
        return self._scalar("SELECT alarm FROM meta WHERE id = 0", None)

    def count(self) -> int:
        return self._scalar("SELECT count(*) FROM kv WHERE value IS NOT NULL", 0) or 0

    def size_bytes(self) -> int:
        return self._scalar("SELECT total(length(key) + length(value)) FROM kv WHERE value IS NOT NULL", 0) or 0

    def has_data(self) -> bool:
        """Return whether the object has any key or an alarm."""
        return (
            self.get_alarm() is not None
            or self._scalar("SELECT EXISTS (SELECT 1 FROM kv WHERE value IS NOT NULL)", 0) == 1
        )

    @property
    def connected(self) -> bool:
        """Whether the store holds an open connection."""
        return self._connection is not None

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def try_close(self) -> bool:
        """Close the connection unless another thread is using the store right now."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self._close_locked()
        finally:
            self._lock.release()
        return True

    def _close_locked(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class SqliteBackend(Backend):
    """Backend storing each object in its own SQLite database under ``root``."""

    def __init__(self, root: str | os.PathLike[str], *, max_connections: int = 128) -> None:
        """Create a backend rooted at ``root`` (made absolute now; created on first write).

        Args:
            root: Directory holding one subdirectory per binding.
            max_connections: Open databases kept at most; the longest-open ones are closed
                (and reopen transparently when used again).
        """
        self.root = Path(root).absolute()
        self.location = str(self.root)
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._stores: dict[tuple[str, str], SqliteObjectStore] = {}
        self._connected: OrderedDict[int, SqliteObjectStore] = OrderedDict()
        self._connected_lock = threading.Lock()
        self.commits = CommitCounter(self.root)

    @property
    def read_cache(self) -> bool:  # type: ignore[override]
        return self.commits.available

    def changed_elsewhere(self) -> bool:
        return self.commits.changed_elsewhere()

    def _register_connection(self, store: SqliteObjectStore) -> None:
        with self._connected_lock:
            self._connected[id(store)] = store
            self._connected.move_to_end(id(store))
            for key in list(self._connected)[: max(0, len(self._connected) - self.max_connections)]:
                victim = self._connected[key]
                if victim is not store and victim.try_close():
                    del self._connected[key]
            for key, candidate in list(self._connected.items()):
                if not candidate.connected:
                    del self._connected[key]

    def object_directory(self, binding: str, object_hex: str) -> Path:
        """Return the directory holding the data of one object."""
        return self.root / escape_binding(binding) / validate_object_hex(object_hex)

    def open(self, binding: str, object_hex: str) -> SqliteObjectStore:
        directory = self.object_directory(binding, object_hex)
        with self._lock:
            store = self._stores.get((binding, object_hex))
            if store is None:
                store = self._stores[(binding, object_hex)] = SqliteObjectStore(
                    directory, on_connect=self._register_connection, on_commit=self.commits.bump
                )
            return store

    def list_objects(self, binding: str) -> builtins.list[str]:
        directory = self.root / escape_binding(binding)
        return objects_in(directory, DATABASE_NAME, lambda name: self.open(binding, name).has_data())

    def list_bindings(self) -> builtins.list[str]:
        """Return the binding names that have a directory under ``root``."""
        try:
            return sorted(unescape_binding(e.name) for e in os.scandir(self.root) if e.is_dir())
        except (FileNotFoundError, ValueError):
            return []

    def close(self) -> None:
        with self._lock:
            stores = list(self._stores.values())
            self._stores.clear()
        for store in stores:
            store.close()
        self.commits.close()
