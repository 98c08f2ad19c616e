"""A commit counter shared by every process using one persistence directory.

Objects on disk may be written by other processes (or other ``Miniflare`` instances) sharing
the directory, so the JS read cache of an object stays correct only if the emulator learns of
their commits before any more of the object's code runs. Checking each object's database
before every delivery would cost a query per cached object; instead every commit bumps one
64-bit counter in ``<root>/.mfbook-commits`` (memory-mapped, bumped under ``flock``), and
the emulator compares it with the value it last saw before each delivery — one memory read.
A difference it did not cause itself means someone else committed: the caches are dropped.

The counter is advisory. It holds no data, a missing or unreadable file counts as "changed",
and a process killed between its SQLite commit and the bump leaves other live processes'
caches stale until the next bump anywhere (a window of microseconds at the moment of a crash).
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no shared counter, no cache for files
    fcntl = None  # type: ignore[assignment]

__all__ = ["COUNTER_NAME", "CommitCounter"]

#: File name of the counter, directly under the persistence root.
COUNTER_NAME = ".mfbook-commits"
_FORMAT = struct.Struct("<Q")


class CommitCounter:
    """The shared counter of one persistence root (one instance per backend)."""

    #: False where the platform has no ``flock`` (the read cache is then off for files).
    available = fcntl is not None

    def __init__(self, root: Path) -> None:
        self.path = root / COUNTER_NAME
        self._fd: int | None = None
        self._map: mmap.mmap | None = None
        self._seen = 0
        self._foreign = False
        self._unusable = False  # the file cannot be opened (read-only directory...): assume changes

    def _open(self, *, create: bool) -> bool:
        if self._map is not None:
            return True
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            else:
                fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return False
        except OSError:
            self._unusable = True
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.fstat(fd).st_size < _FORMAT.size:
                    os.ftruncate(fd, _FORMAT.size)  # zero-filled
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            self._map = mmap.mmap(fd, _FORMAT.size)
        except OSError:  # no flock or mmap on this file system
            os.close(fd)
            self._unusable = True
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def bump(self) -> None:
        """Announces one commit of this process (call after the commit is durable)."""
        if not self.available or self._unusable or not self._open(create=True):
            return
        assert self._map is not None and self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            (value,) = _FORMAT.unpack_from(self._map, 0)
            if value != self._seen:
                self._foreign = True
            _FORMAT.pack_into(self._map, 0, value + 1)
            self._seen = value + 1
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def changed_elsewhere(self) -> bool:
        """True once after anyone else committed under the root since the last call."""
        if self._map is None:
            if not self.available or self._unusable:
                return True
            if not self.path.exists():
                return False  # nobody has committed anything here yet
            if not self._open(create=False):
                return self._unusable
        assert self._map is not None
        (value,) = _FORMAT.unpack_from(self._map, 0)
        if value != self._seen or self._foreign:
            self._seen = value
            self._foreign = False
            return True
        return False

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
