"""Point-in-time recovery for SQLite-backed objects, done locally with shared-page snapshots.

Cloudflare's runtime keeps a log of every page written and names points in it with
*bookmarks*. mfbook keeps something simpler and honest: after every committed event that
changed an object's database, the object's :class:`BookmarkLog` records the whole database
image (SQL tables, the ``_cf_KV`` table and the alarm) as a list of 4 KiB pages, sharing every
page that did not change with the previous snapshot, so a commit costs one copy of the
database (``serialize``, a memory copy) plus the pages it changed. A bookmark names one
snapshot (``"<time ms, 16 hex>-<sequence, 8 hex>"``, so bookmarks sort by time as the
runtime's do); restoring copies that image back over the database.

Snapshots older than the retention window (default 30 days, as Cloudflare's) are dropped, and
so are the oldest beyond ``max_entries`` (default 1,000). In memory the log lives as long as
the emulator; on disk it is a second SQLite file beside the object's database
(``bookmarks.sqlite3``: a ``pages`` table and a ``bookmarks`` table listing page ids), so
bookmarks survive restarts too.
"""

from __future__ import annotations

import bisect
import json
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import SqlError

__all__ = ["DEFAULT_MAX_ENTRIES", "DEFAULT_RETENTION_DAYS", "BookmarkLog", "parse_bookmark"]

DEFAULT_RETENTION_DAYS = 30.0
DEFAULT_MAX_ENTRIES = 1_000
_BOOKMARK = re.compile(r"([0-9a-f]{16})-([0-9a-f]{8})")
_DAY_MS = 86_400_000
#: Snapshots are kept as pages of this many bytes (SQLite's default page size).
PAGE = 4096
#: On disk, unreferenced pages are collected after this many snapshots were dropped.
_COLLECT_EVERY = 64


def parse_bookmark(bookmark: str) -> tuple[int, int]:
    """``(time_ms, sequence)`` of a bookmark.

    Raises:
        SqlError: Not a bookmark mfbook made.
    """
    match = _BOOKMARK.fullmatch(bookmark) if isinstance(bookmark, str) else None
    if match is None:
        raise SqlError(f"Invalid bookmark: {bookmark!r}", code="SQLITE_ERROR")
    return int(match.group(1), 16), int(match.group(2), 16)


class BookmarkLog:
    """Snapshots of one object's database (see the module docstring).

    Args:
        path: File keeping the log (``None``: memory only).
        retention_days: How long an entry stays restorable.
        max_entries: Entries kept at most (the oldest go first).
        clock: Wall clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        *,
        path: Path | None = None,
        retention_days: float = DEFAULT_RETENTION_DAYS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.retention_ms = int(retention_days * _DAY_MS)
        self.max_entries = max_entries
        self.clock = clock
        self._keys: list[tuple[int, int]] = []  # (time_ms, sequence), ascending
        self._pages: dict[tuple[int, int], tuple[bytes, ...]] = {}
        self._page_ids: dict[tuple[int, int], tuple[int, ...]] = {}  # on disk only
        self._sequence = 0
        self._pruned = 0
        self._file: sqlite3.Connection | None = None
        self._aliases: dict[tuple[int, int], tuple[int, int]] = {}  # reserved name -> snapshot
        self._path = path  # opened on first use, so reading an object creates no file

    def _load(self) -> None:
        path, self._path = self._path, None
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("CREATE TABLE IF NOT EXISTS pages (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS bookmarks (time_ms INTEGER NOT NULL, sequence INTEGER NOT NULL,"
            " pages TEXT NOT NULL, PRIMARY KEY (time_ms, sequence))"
        )
        stored = dict(connection.execute("SELECT id, data FROM pages"))
        for time_ms, sequence, ids in connection.execute(
            "SELECT time_ms, sequence, pages FROM bookmarks ORDER BY time_ms, sequence"
        ):
            key = (time_ms, sequence)
            page_ids = tuple(json.loads(ids))
            self._keys.append(key)
            self._page_ids[key] = page_ids
            self._pages[key] = tuple(stored[page_id] for page_id in page_ids)
            self._sequence = max(self._sequence, sequence)
        self._file = connection

    @property
    def empty(self) -> bool:
        self._load()
        return not self._keys

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def record(self, image: bytes) -> str:
        """Appends a snapshot of the database taken now; returns its bookmark."""
        self._load()
        time_ms = max(self.now_ms(), self._keys[-1][0] if self._keys else 0)
        self._sequence += 1
        key = (time_ms, self._sequence)
        previous = self._pages[self._keys[-1]] if self._keys else ()
        previous_ids = self._page_ids.get(self._keys[-1], ()) if self._keys else ()
        pages: list[bytes] = []
        ids: list[int] = []
        for index, start in enumerate(range(0, len(image), PAGE)):
            page = image[start : start + PAGE]
            if index < len(previous) and previous[index] == page:
                pages.append(previous[index])  # shared with the previous snapshot
                if self._file is not None:
                    ids.append(previous_ids[index])
                continue
            pages.append(page)
            if self._file is not None:
                cursor = self._file.execute("INSERT INTO pages (data) VALUES (?)", (page,))
                ids.append(int(cursor.lastrowid or 0))
        self._keys.append(key)
        self._pages[key] = tuple(pages)
        if self._file is not None:
            self._page_ids[key] = tuple(ids)
            self._file.execute(
                "INSERT INTO bookmarks VALUES (?, ?, ?)",
                (time_ms, self._sequence, json.dumps(ids, separators=(",", ":"))),
            )
        self._prune()
        return _name(key)

    def _prune(self) -> None:
        oldest = self.now_ms() - self.retention_ms
        drop = 0
        while drop < len(self._keys) - 1 and (
            self._keys[drop][0] < oldest or len(self._keys) - drop > self.max_entries
        ):
            drop += 1
        if not drop:
            return
        gone, self._keys = self._keys[:drop], self._keys[drop:]
        for key in gone:
            del self._pages[key]
            self._page_ids.pop(key, None)
        if self._file is not None:
            first = self._keys[0]
            self._file.execute("DELETE FROM bookmarks WHERE time_ms < ?1 OR (time_ms = ?1 AND sequence < ?2)", first)
            self._pruned += drop
            if self._pruned >= _COLLECT_EVERY:  # pages no snapshot lists any more
                self._pruned = 0
                self._file.execute(
                    "DELETE FROM pages WHERE id NOT IN (SELECT value FROM bookmarks, json_each(bookmarks.pages))"
                )

    def reserve(self) -> str:
        """A name for a snapshot still to come (see :meth:`alias`); it sorts before later snapshots."""
        self._load()
        time_ms = max(self.now_ms(), self._keys[-1][0] if self._keys else 0)
        self._sequence += 1
        return _name((time_ms, self._sequence))

    def alias(self, reserved: str, bookmark: str) -> None:
        """Makes a name from :meth:`reserve` stand for an existing snapshot."""
        self._aliases[parse_bookmark(reserved)] = parse_bookmark(bookmark)

    def current(self) -> str:
        """The bookmark of the latest snapshot."""
        self._load()
        if not self._keys:
            raise SqlError("No bookmark has been recorded yet.", code="SQLITE_ERROR")
        return _name(self._keys[-1])

    def for_time(self, time_ms: float) -> str:
        """The bookmark of the state at ``time_ms``: the latest snapshot taken at or before it.

        Raises:
            SqlError: The time is in the future, or older than what the log still keeps.
        """
        self._load()
        if int(time_ms) > self.now_ms():
            raise SqlError("Cannot get a bookmark for a time in the future.", code="SQLITE_ERROR")
        if time_ms < self.now_ms() - self.retention_ms:
            raise SqlError("Requested time is outside the point-in-time recovery window.", code="SQLITE_ERROR")
        index = bisect.bisect_right(self._keys, (int(time_ms), 0xFFFFFFFF)) - 1
        if index < 0:
            raise SqlError("No bookmark is old enough for the requested time.", code="SQLITE_ERROR")
        return _name(self._keys[index])

    def image(self, bookmark: str) -> bytes:
        """The database file image a bookmark names.

        Raises:
            SqlError: Unknown or expired bookmark.
        """
        self._load()
        key = parse_bookmark(bookmark)
        pages = self._pages.get(self._aliases.get(key, key))
        if pages is None:
            raise SqlError(f"Bookmark {bookmark} is not in the point-in-time recovery window.", code="SQLITE_ERROR")
        return b"".join(pages)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _name(key: tuple[int, int]) -> str:
    return f"{key[0]:016x}-{key[1]:08x}"
