"""The storage of one SQLite-backed object: its SQL tables and its KV pairs in ONE database.

:class:`SqlObjectStore` is an :class:`~mfbook.backends.base.ObjectStore` (so the async KV API,
transactions, coalescing and alarms of :mod:`mfbook.storage` work unchanged) whose keys live,
as in workerd, in a ``_cf_KV`` table of the object's own SQLite database, beside the tables
its code creates with ``sql.exec``. mfbook's bookkeeping (commit versions, tombstones for
transaction validation, the alarm) is in ``_cf_mfbook_meta`` and ``_cf_mfbook_versions``;
user SQL cannot touch any ``_cf_`` table.

A commit made while the implicit transaction of the SQL API is open writes into it and then
commits it: the KV writes and the SQL writes of one event become durable together, at the
output gate. Every commit that changed the database appends a snapshot to the object's
:class:`~mfbook.sql.bookmarks.BookmarkLog`.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path

from ..backends.base import CommitBatch, ObjectStore, check_reads, decode_key, encode_key, should_compact
from ..backends.sql_versions import range_query, version_in, write_meta
from ..errors import SqlError
from .bookmarks import BookmarkLog
from .database import SqlDatabase, TrustedConnection, open_connection
from .images import load_image, take_image

__all__ = ["SqlObjectStore"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS _cf_KV (key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS _cf_mfbook_versions (key BLOB PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS _cf_mfbook_meta (id INTEGER PRIMARY KEY CHECK (id = 0), version INTEGER NOT NULL,"
    " alarm INTEGER, alarm_version INTEGER NOT NULL, floor INTEGER NOT NULL, tombstones INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO _cf_mfbook_meta VALUES (0, 0, NULL, 0, 0, 0)",
)
_CHUNK = 500


class SqlObjectStore(ObjectStore):
    """One SQLite-backed object (see the module docstring).

    Args:
        path: Database file, or ``None`` for an in-memory database.
        bookmarks: The object's snapshot log.
        on_commit: Called after every commit that wrote something.
    """

    def __init__(
        self, path: Path | None, *, bookmarks: BookmarkLog, on_commit: Callable[[], None] | None = None
    ) -> None:
        self.path = path
        self.bookmarks = bookmarks
        self._on_commit = on_commit
        self._database: SqlDatabase | None = None
        self._changes_at_begin = 0
        #: Bookmark to restore when the object's next session starts (``onNextSessionRestoreBookmark``),
        #: and the name promised for the state just before that restore.
        self.pending_restore: str | None = None
        self._pending_undo: str | None = None

    # ------------------------------------------------------------------ the database
    def database(self, *, create: bool = True) -> SqlDatabase | None:
        """The object's database, opened (and created) on first use."""
        if self._database is not None:
            return self._database
        if self.path is not None and not create and not self.path.exists():
            return None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = open_connection(":memory:" if self.path is None else str(self.path))
        database = SqlDatabase(connection)
        with database.trusted() as trusted:
            if self.path is not None:
                trusted.execute("PRAGMA journal_mode = WAL")
                trusted.execute("PRAGMA synchronous = NORMAL")
                trusted.execute("PRAGMA busy_timeout = 10000")
            for statement in _SCHEMA:
                trusted.execute(statement)
        self._database = database
        if self.bookmarks.empty:
            self._snapshot(database)
        return database

    def _snapshot(self, database: SqlDatabase) -> None:
        with database.trusted() as connection:  # the image is read through an internal table
            self.bookmarks.record(take_image(connection.raw))

    def _db(self) -> SqlDatabase:
        database = self.database()
        assert database is not None
        return database

    def begin(self) -> bool:
        """Opens the event's implicit transaction unless open; returns whether it did."""
        database = self._db()
        opened = database.begin()
        if opened:
            self._changes_at_begin = database.connection.total_changes
        return opened

    def in_transaction(self) -> bool:
        return self._database is not None and self._database.in_transaction

    # ------------------------------------------------------------------ reads
    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        wanted = {encode_key(key): key for key in keys}
        database = self.database(create=False)
        if database is None or not wanted:
            return {}
        raw_keys = list(wanted)
        found: dict[str, bytes] = {}
        with database.trusted() as connection:
            for index in range(0, len(raw_keys), _CHUNK):
                chunk = raw_keys[index : index + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for raw, value in connection.execute(f"SELECT key, value FROM _cf_KV WHERE key IN ({marks})", chunk):
                    found[wanted[raw]] = value
        return {key: found[key] for key in wanted.values() if key in found}

    def _list_range(
        self, low: bytes, high: bytes | None, *, reverse: bool, limit: int | None
    ) -> builtins.list[tuple[str, bytes]]:
        database = self.database(create=False)
        if database is None:
            return []
        sql, params = range_query("SELECT key, value FROM _cf_KV WHERE 1", low, high, reverse=reverse, limit=limit)
        with database.trusted() as connection:
            rows = connection.execute(sql, params).fetchall()
        return [(decode_key(raw), value) for raw, value in rows]

    def _meta(self, column: str, default: int | None) -> int | None:
        database = self.database(create=False)
        if database is None:
            return default
        with database.trusted() as connection:
            row = connection.execute(f"SELECT {column} FROM _cf_mfbook_meta WHERE id = 0").fetchone()
        return default if row is None or row[0] is None else int(row[0])

    def version(self) -> int:
        return self._meta("version", 0) or 0

    def get_alarm(self) -> int | None:
        return self._meta("alarm", None)

    def count(self) -> int:
        database = self.database(create=False)
        if database is None:
            return 0
        with database.trusted() as connection:
            return int(connection.execute("SELECT count(*) FROM _cf_KV").fetchone()[0])

    def size_bytes(self) -> int:
        database = self.database(create=False)
        if database is None:
            return 0
        with database.trusted() as connection:
            row = connection.execute("SELECT total(length(key) + length(value)) FROM _cf_KV").fetchone()
        return int(row[0])

    def has_data(self) -> bool:
        """Whether the object has KV pairs, an alarm or tables of its own."""
        database = self.database(create=False)
        if database is None:
            return False
        return self.count() > 0 or self.get_alarm() is not None or bool(database.user_tables())

    # ------------------------------------------------------------------ writes
    def _commit(self, batch: CommitBatch) -> int:
        database = self._db()
        try:
            with database.trusted() as connection:
                if not database.in_transaction:
                    connection.execute("BEGIN IMMEDIATE")
                    self._changes_at_begin = connection.total_changes
                current, alarm_version, floor, tombstones = connection.execute(
                    "SELECT version, alarm_version, floor, tombstones FROM _cf_mfbook_meta WHERE id = 0"
                ).fetchone()
                written = version_in(connection, "_cf_mfbook_versions")
                check_reads(batch, written=written, alarm_version=alarm_version, floor=floor)
                version = int(current)
                if batch.writes:
                    version += 1
                    self._write(connection, version, batch, tombstones)
                changed = connection.total_changes != self._changes_at_begin
            if database.depth:
                # A transaction level (transactionSync, or an async transaction awaiting I/O) is
                # open: as in workerd, the event's writes commit once it has closed.
                return version
            database.commit()
        except BaseException as error:
            database.rollback()
            if isinstance(error, sqlite3.Error):
                raise SqlError(f"{error}", code=getattr(error, "sqlite_errorname", "SQLITE_ERROR")) from error
            raise
        if changed:
            self._snapshot(database)
            if self._on_commit is not None:
                self._on_commit()
        return version

    def _write(self, connection: TrustedConnection, version: int, batch: CommitBatch, tombstones: int) -> None:
        before = connection.total_changes
        if batch.delete_all:
            self._drop_everything(connection, version)
        deleted = [(encode_key(key),) for key in batch.deletes]
        if deleted:
            connection.executemany("DELETE FROM _cf_KV WHERE key = ?", deleted)
        made = connection.total_changes - before
        if deleted:
            connection.executemany(
                "INSERT OR REPLACE INTO _cf_mfbook_versions VALUES (?, ?)", [(raw, version) for (raw,) in deleted]
            )
        if batch.puts:
            rows = [(encode_key(key), bytes(value)) for key, value in batch.puts.items()]
            connection.executemany("INSERT OR REPLACE INTO _cf_KV VALUES (?, ?)", rows)
            connection.executemany(
                "INSERT OR REPLACE INTO _cf_mfbook_versions VALUES (?, ?)", [(raw, version) for raw, _ in rows]
            )
        write_meta(connection, "_cf_mfbook_meta", version, batch.alarm)
        if made:
            self._count_tombstones(connection, tombstones + made, version)

    @staticmethod
    def _drop_everything(connection: TrustedConnection, version: int) -> None:
        """``deleteAll()``: every KV pair and every table, view, index and trigger of the object."""
        connection.execute("INSERT OR REPLACE INTO _cf_mfbook_versions SELECT key, ? FROM _cf_KV", (version,))
        connection.execute("DELETE FROM _cf_KV")
        objects = connection.execute(
            "SELECT type, name FROM sqlite_schema WHERE name NOT LIKE '\\_cf\\_%' ESCAPE '\\'"
            " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND type IN ('table', 'view', 'trigger')"
        ).fetchall()
        for kind, name in sorted(objects, key=lambda item: item[0] != "trigger"):
            quoted = '"' + name.replace('"', '""') + '"'
            connection.execute(f"DROP {kind.upper()} IF EXISTS {quoted}")

    def delete_all_now(self) -> None:
        """``deleteAll()`` inside the open implicit transaction (the sync path of the SQL API)."""
        database = self._db()
        self.begin()
        with database.trusted() as connection:
            current = connection.execute("SELECT version FROM _cf_mfbook_meta WHERE id = 0").fetchone()[0]
            self._drop_everything(connection, current + 1)
            connection.execute("UPDATE _cf_mfbook_meta SET version = ? WHERE id = 0", (current + 1,))

    @staticmethod
    def _count_tombstones(connection: TrustedConnection, tombstones: int, version: int) -> None:
        live = "SELECT count(*) FROM _cf_KV"
        if should_compact(tombstones, lambda: int(connection.execute(live).fetchone()[0])):
            connection.execute("DELETE FROM _cf_mfbook_versions WHERE key NOT IN (SELECT key FROM _cf_KV)")
            connection.execute("UPDATE _cf_mfbook_meta SET floor = ?, tombstones = 0 WHERE id = 0", (version,))
        else:
            connection.execute("UPDATE _cf_mfbook_meta SET tombstones = ? WHERE id = 0", (tombstones,))

    # ------------------------------------------------------------------ bookmarks
    def restore_next_session(self, bookmark: str) -> str:
        """``onNextSessionRestoreBookmark``: the restore waits for the object's next session.

        As in the runtime, the current session goes on with (and commits) its data; the
        restore happens when the object next starts (after ``ctx.abort()``, a reload or a
        reset), see :meth:`start_session`.

        Returns:
            A bookmark naming the state just before the restore (to undo it later); it becomes
            usable once the restore has happened.

        Raises:
            SqlError: Unknown or expired bookmark.
        """
        self.bookmarks.image(bookmark)  # unknown or expired: fail now
        self.pending_restore = bookmark
        if self._pending_undo is None:
            self._pending_undo = self.bookmarks.reserve()
        return self._pending_undo

    def start_session(self) -> bool:
        """A new instance of the object is about to run: performs a pending restore; returns whether."""
        bookmark, undo = self.pending_restore, self._pending_undo
        if bookmark is None or (self._database is not None and self._database.in_transaction):
            return False
        self.pending_restore = self._pending_undo = None
        before = self.restore(bookmark)
        if undo is not None:
            self.bookmarks.alias(undo, before)
        return True

    def restore(self, bookmark: str) -> str:
        """Puts the whole database back to a bookmark; returns a bookmark of the state before.

        Raises:
            SqlError: Unknown or expired bookmark, or the implicit transaction is open.
        """
        image = self.bookmarks.image(bookmark)
        database = self._db()
        if database.in_transaction:
            raise SqlError("Cannot restore a bookmark while a transaction is open.", code="SQLITE_ERROR")
        undo = self.bookmarks.current()
        with database.trusted() as connection:
            load_image(image, connection.raw)
        self._snapshot(database)
        if self._on_commit is not None:
            self._on_commit()
        return undo

    def close(self) -> None:
        if self._database is not None and self.path is not None:
            self._database.close()
            self._database = None
