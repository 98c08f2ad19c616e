"""Where SQLite-backed objects live: beside the emulator's KV backend, one database per object.

- Memory (the ``MemoryBackend``): an in-memory database per object, owned by the emulator,
  so it outlives ``set_options`` reloads like the KV objects do.
- Files (the ``SqliteBackend`` directory): ``<root>/<binding>/<hex id>/sql.sqlite3`` (WAL,
  crash-safe, readable with the ``sqlite3`` CLI) and ``bookmarks.sqlite3`` beside it, in the
  same per-object directory the KV-backed classes use.
- Redis: refused with a :class:`~mfbook.errors.ConfigError` — a SQLite database cannot be
  shared through Redis honestly; give those workers a directory (``durable_objects_persist``
  per worker) or keep them in memory.
"""

from __future__ import annotations

import builtins
import threading
from pathlib import Path

from ..backends.base import Backend, escape_binding, validate_object_hex
from ..backends.memory import MemoryBackend
from ..backends.sqlite import SqliteBackend, objects_in
from ..errors import ConfigError
from .bookmarks import DEFAULT_MAX_ENTRIES, DEFAULT_RETENTION_DAYS, BookmarkLog
from .store import SqlObjectStore

__all__ = ["DATABASE_NAME", "SqlBackend", "SqlBackends"]

#: File name of a SQLite-backed object's database inside its directory.
DATABASE_NAME = "sql.sqlite3"
BOOKMARKS_NAME = "bookmarks.sqlite3"


class SqlBackend(Backend):
    """The SQLite-backed objects stored beside one KV backend (see the module docstring).

    Args:
        root: Directory of the file backend, or ``None`` for memory.
        retention_days: Point-in-time recovery window of every object.
        max_bookmarks: Snapshots kept per object at most.
    """

    read_cache = False  # the SQL API reads the database directly, so JS keeps no KV cache

    def __init__(
        self,
        root: Path | None,
        *,
        retention_days: float = DEFAULT_RETENTION_DAYS,
        max_bookmarks: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self.root = root
        self.location = "memory (SQLite)" if root is None else f"{root} (SQLite)"
        self.retention_days = retention_days
        self.max_bookmarks = max_bookmarks
        self._stores: dict[tuple[str, str], SqlObjectStore] = {}
        self._lock = threading.Lock()

    def object_directory(self, binding: str, object_hex: str) -> Path | None:
        if self.root is None:
            return None
        return self.root / escape_binding(binding) / validate_object_hex(object_hex)

    def open(self, binding: str, object_hex: str) -> SqlObjectStore:
        directory = self.object_directory(binding, validate_object_hex(object_hex))
        with self._lock:
            store = self._stores.get((binding, object_hex))
            if store is None:
                log = BookmarkLog(
                    path=None if directory is None else directory / BOOKMARKS_NAME,
                    retention_days=self.retention_days,
                    max_entries=self.max_bookmarks,
                )
                store = SqlObjectStore(None if directory is None else directory / DATABASE_NAME, bookmarks=log)
                self._stores[(binding, object_hex)] = store
            return store

    def list_objects(self, binding: str) -> builtins.list[str]:
        if self.root is None:
            with self._lock:
                stores = [(key[1], store) for key, store in self._stores.items() if key[0] == binding]
            return sorted(hex_id for hex_id, store in stores if store.has_data())
        directory = self.root / escape_binding(binding)
        return objects_in(directory, DATABASE_NAME, lambda name: self.open(binding, name).has_data())

    def close(self) -> None:
        with self._lock:
            stores = list(self._stores.values())
            if self.root is not None:
                self._stores.clear()
        for store in stores:
            store.close()
            store.bookmarks.close()


class SqlBackends:
    """The :class:`SqlBackend` beside each KV backend of an emulator (made on first use)."""

    def __init__(self, *, retention_days: float = DEFAULT_RETENTION_DAYS) -> None:
        self.retention_days = retention_days
        self._backends: dict[int, tuple[Backend, SqlBackend]] = {}

    def over(self, backend: Backend) -> SqlBackend:
        """The SQL backend beside ``backend``.

        Raises:
            ConfigError: ``backend`` is Redis.
        """
        found = self._backends.get(id(backend))
        if found is not None:
            return found[1]
        if isinstance(backend, MemoryBackend):
            sql = SqlBackend(None, retention_days=self.retention_days)
        elif isinstance(backend, SqliteBackend):
            sql = SqlBackend(backend.root, retention_days=self.retention_days)
        else:
            raise ConfigError(
                "durable_objects_persist: SQLite-backed Durable Object classes cannot be stored in "
                f"{backend.location}; "
                "persist their worker to a directory (durable_objects_persist=True or a path, also per worker "
                "in workers=[...]) or keep it in memory",
                option="durable_objects_persist",
            )
        self._backends[id(backend)] = (backend, sql)
        return sql

    def close(self) -> None:
        for _, sql in self._backends.values():
            sql.close()
        self._backends.clear()
