"""In-memory backend: data lives as long as the backend object.

Each object keeps a dict of encoded key → value, a sorted list of encoded keys (maintained with
:mod:`bisect`, so listing never sorts), and the write version of every key written (tombstones
included, until they are compacted: see :mod:`mfbook.backends.base`) for conflict checks.
"""

from __future__ import annotations

import bisect
import builtins
import threading
from collections.abc import Iterable

from .base import (
    KEEP,
    Backend,
    CommitBatch,
    ObjectStore,
    check_reads,
    decode_key,
    encode_key,
    should_compact,
    validate_object_hex,
)

__all__ = ["MemoryBackend", "MemoryObjectStore"]


class MemoryObjectStore(ObjectStore):
    """One Durable Object's data in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[bytes, bytes] = {}
        self._sorted: builtins.list[bytes] = []
        self._key_versions: dict[bytes, int] = {}
        self._alarm: int | None = None
        self._alarm_version = 0
        self._version = 0
        self._size = 0
        self._tombstones = 0  # made since the last compaction
        self._floor = 0

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        with self._lock:
            found: dict[str, bytes] = {}
            for key in keys:
                value = self._values.get(encode_key(key))
                if value is not None:
                    found[key] = value
            return found

    def _list_range(
        self, low: bytes, high: bytes | None, *, reverse: bool, limit: int | None
    ) -> builtins.list[tuple[str, bytes]]:
        with self._lock:
            first = bisect.bisect_left(self._sorted, low)
            stop = len(self._sorted) if high is None else bisect.bisect_left(self._sorted, high)
            if reverse:
                begin = first if limit is None else max(first, stop - limit)
                chosen = self._sorted[begin:stop][::-1]
            else:
                chosen = self._sorted[first : stop if limit is None else min(stop, first + limit)]
            return [(decode_key(raw), self._values[raw]) for raw in chosen]

    def _commit(self, batch: CommitBatch) -> int:
        encoded_puts = [(encode_key(key), bytes(value)) for key, value in batch.puts.items()]
        encoded_deletes = [encode_key(key) for key in batch.deletes]
        with self._lock:
            check_reads(
                batch, written=self._key_versions.get, alarm_version=self._alarm_version, floor=self._floor
            )
            if not batch.writes:
                return self._version
            version = self._version + 1
            if batch.delete_all:
                for raw in self._sorted:
                    self._key_versions[raw] = version
                self._tombstones += len(self._sorted)
                self._values.clear()
                self._sorted.clear()
                self._size = 0
            for raw in encoded_deletes:
                self._remove(raw, version)
            for raw, value in encoded_puts:
                self._insert(raw, value, version)
            if batch.alarm is not KEEP:
                self._alarm = batch.alarm
                self._alarm_version = version
            self._version = version
            if should_compact(self._tombstones, lambda: len(self._values)):
                self._compact(version)
            return version

    def _compact(self, version: int) -> None:
        for raw in [raw for raw in self._key_versions if raw not in self._values]:
            del self._key_versions[raw]
        self._floor = version
        self._tombstones = 0

    def _remove(self, raw: bytes, version: int) -> None:
        old = self._values.pop(raw, None)
        if old is None:
            return
        del self._sorted[bisect.bisect_left(self._sorted, raw)]
        self._size -= len(raw) + len(old)
        self._key_versions[raw] = version
        self._tombstones += 1

    def _insert(self, raw: bytes, value: bytes, version: int) -> None:
        old = self._values.get(raw)
        if old is None:
            bisect.insort(self._sorted, raw)
            self._size += len(raw)
        else:
            self._size -= len(old)
        self._values[raw] = value
        self._size += len(value)
        self._key_versions[raw] = version

    def version(self) -> int:
        with self._lock:
            return self._version

    def get_alarm(self) -> int | None:
        with self._lock:
            return self._alarm

    def count(self) -> int:
        with self._lock:
            return len(self._values)

    def size_bytes(self) -> int:
        with self._lock:
            return self._size

    def has_data(self) -> bool:
        """Return whether the object has any key or an alarm."""
        with self._lock:
            return bool(self._values) or self._alarm is not None


class MemoryBackend(Backend):
    """Backend keeping every object in process memory."""

    location = "memory"
    read_cache = True  # nobody outside this emulator can write it

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stores: dict[tuple[str, str], MemoryObjectStore] = {}

    def open(self, binding: str, object_hex: str) -> MemoryObjectStore:
        validate_object_hex(object_hex)
        with self._lock:
            store = self._stores.get((binding, object_hex))
            if store is None:
                store = self._stores[(binding, object_hex)] = MemoryObjectStore()
            return store

    def list_objects(self, binding: str) -> builtins.list[str]:
        with self._lock:
            stores = [(key[1], store) for key, store in self._stores.items() if key[0] == binding]
        return sorted(object_hex for object_hex, store in stores if store.has_data())

    def close(self) -> None:
        """Nothing to release; data stays readable until the backend is dropped."""
