"""Point-in-time recovery for SQLite-backed objects, done locally with snapshots.

Cloudflare's runtime keeps a log of every page written and names points in it with
*bookmarks*. mfbook keeps something simpler and honest: after every committed event that
changed an object's database, a compressed copy of the whole database (SQL tables, the
``_cf_KV`` table and the alarm) is appended to the object's :class:`BookmarkLog`. A bookmark
names one entry (``"<time ms, 16 hex>-<sequence, 8 hex>"``, so bookmarks sort by time as the
runtime's do); restoring copies that entry back over the database.

Entries older than the retention window (default 30 days, as Cloudflare's) are dropped, and
so are the oldest beyond ``max_entries`` (default 1,000) — a local emulator's databases are
small, but a long benchmark should not fill the memory. In memory the log lives as long as the
emulator; on disk it is a second SQLite file beside the object's database (``bookmarks.sqlite3``),
so bookmarks survive restarts too.
"""

from __future__ import annotations

import bisect
import re
import sqlite3
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from ..errors import SqlError

__all__ = ["DEFAULT_MAX_ENTRIES", "DEFAULT_RETENTION_DAYS", "BookmarkLog", "parse_bookmark"]

DEFAULT_RETENTION_DAYS = 30.0
DEFAULT_MAX_ENTRIES = 1_000
_BOOKMARK = re.compile(r"([0-9a-f]{16})-([0-9a-f]{8})")
_DAY_MS = 86_400_000


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
        self._images: dict[tuple[int, int], bytes] = {}
        self._sequence = 0
        self._file: sqlite3.Connection | None = None
        self._path = path  # opened on first use, so reading an object creates no file

    def _load(self) -> None:
        path, self._path = self._path, None
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS bookmarks (time_ms INTEGER NOT NULL, sequence INTEGER NOT NULL,"
            " image BLOB NOT NULL, PRIMARY KEY (time_ms, sequence))"
        )
        for time_ms, sequence, image in connection.execute(
            "SELECT time_ms, sequence, image FROM bookmarks ORDER BY time_ms, sequence"
        ):
            self._keys.append((time_ms, sequence))
            self._images[(time_ms, sequence)] = image
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
        packed = zlib.compress(image, 1)
        self._keys.append(key)
        self._images[key] = packed
        if self._file is not None:
            self._file.execute("INSERT INTO bookmarks VALUES (?, ?, ?)", (time_ms, self._sequence, packed))
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
            del self._images[key]
        if self._file is not None:
            first = self._keys[0]
            self._file.execute("DELETE FROM bookmarks WHERE time_ms < ?1 OR (time_ms = ?1 AND sequence < ?2)", first)

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
        packed = self._images.get(parse_bookmark(bookmark))
        if packed is None:
            raise SqlError(f"Bookmark {bookmark} is not in the point-in-time recovery window.", code="SQLITE_ERROR")
        return zlib.decompress(packed)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _name(key: tuple[int, int]) -> str:
    return f"{key[0]:016x}-{key[1]:08x}"
