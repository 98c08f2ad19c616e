"""Durable Object storage semantics, shared by JavaScript and Python callers.

One :class:`ObjectStorage` per object (created without constructing the object). It keeps
Miniflare 2's behaviour in one place:

* **Write coalescing**: writes are *staged* in a shadow map that reads see at once, and
  :meth:`ObjectStorage.flush` commits everything staged as one atomic backend batch. The
  runtime flushes after each delivery (that is, after the microtasks of the current turn),
  so writes issued without an ``await`` between them land together.
* **delete results** are decided against the shadow first, then the backend, as Miniflare
  does when deletes and un-awaited puts are mixed.
* **OCC transactions** (:class:`Transaction`): reads record a read set, writes stay private
  until commit, and the backend validates the read set against newer commits (also made by
  other processes, for Redis); a conflict raises :class:`CommitConflict` and the caller
  retries.

Everything here runs under the engine lock (on a caller's thread or the background loop).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .backends.base import KEEP, CommitConflict, ObjectStore
from .errors import StorageRangeError, StorageTypeError
from .messages import MAX_KEYS, text
from .trace import Trace

__all__ = ["ListOptions", "ObjectStorage", "Transaction", "sort_key"]


def sort_key(key: str) -> bytes:
    """Keys sort by their UTF-8 bytes (lone surrogates encoded as WTF-8), as Workers do."""
    return key.encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class ListOptions:
    """Arguments of ``list()``; validated by :meth:`from_mapping`."""

    start: str | None = None
    start_after: str | None = None
    end: str | None = None
    prefix: str | None = None
    reverse: bool = False
    limit: int | None = None

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> ListOptions:
        limit = options.get("limit")
        if limit is not None and limit <= 0:
            raise StorageTypeError(text("listLimit"))
        if options.get("start") is not None and options.get("startAfter", options.get("start_after")) is not None:
            raise StorageTypeError(text("listStartAfter"))
        return cls(
            start=options.get("start"),
            start_after=options.get("startAfter", options.get("start_after")),
            end=options.get("end"),
            prefix=options.get("prefix"),
            reverse=bool(options.get("reverse", False)),
            limit=int(limit) if limit is not None else None,
        )

    def admits(self, key: str) -> bool:
        """True when ``key`` falls inside the range and prefix (ignoring limit)."""
        encoded = sort_key(key)
        if self.start is not None and encoded < sort_key(self.start):
            return False
        if self.start_after is not None and encoded <= sort_key(self.start_after):
            return False
        if self.end is not None and encoded >= sort_key(self.end):
            return False
        return self.prefix is None or key.startswith(self.prefix)


@dataclass
class Transaction:
    """One attempt of an optimistic transaction.

    Attributes:
        txn_id: Id on the trace (new for every attempt).
        attempt: 1 for the first run of the closure.
        read_version: Backend commit version when the attempt began.
        read_keys: Keys read by get, delete and list.
        read_alarm: Whether getAlarm was called.
        writes: Private writes (None = delete) in program order.
        alarm: Pending alarm change (``KEEP`` when untouched).
    """

    txn_id: int
    attempt: int
    read_version: int
    read_keys: set[str] = field(default_factory=set)
    read_alarm: bool = False
    writes: dict[str, bytes | None] = field(default_factory=dict)
    alarm: Any = KEEP
    state: str = "open"  # open | committed | conflicted | rolledback | aborted

    def mark_written(self, keys: Iterable[str]) -> None:
        """Adds keys to the write set, enforcing the 128-key transaction limit."""
        pending = set(self.writes).union(keys)
        if len(pending) > MAX_KEYS:
            raise StorageRangeError(text("txnTooManyKeys"))


class ObjectStorage:
    """Storage of one Durable Object: shadow copies over a backend :class:`ObjectStore`.

    Args:
        store: The object's backend store.
        binding: Namespace binding (for the trace).
        object_id: Hex id (for the trace).
        trace: Where commits and transaction steps are recorded.
        object_name: ``idFromName`` name when known.
    """

    def __init__(
        self,
        store: ObjectStore,
        *,
        binding: str,
        object_id: str,
        trace: Trace,
        object_name: str | None = None,
        on_alarm_change: Callable[[ObjectStorage], None] | None = None,
        on_foreign_write: Callable[[ObjectStorage], None] | None = None,
    ) -> None:
        self.store = store
        self.binding = binding
        self.object_id = object_id
        self.object_name = object_name
        self.trace = trace
        self._staged: dict[str, bytes | None] = {}
        self._staged_alarm: Any = KEEP
        self._staged_delete_all = False
        self._on_alarm_change = on_alarm_change
        self._on_foreign_write = on_foreign_write
        # The commit version up to which this object's JS read cache is known to hold: every
        # commit since then was this instance's own (see begin()). None: not known. The cache
        # is empty when this instance is made, so the current version holds for it.
        self._cache_version: int | None = None
        if on_foreign_write is not None:
            try:
                self._cache_version = store.version()
            except Exception:  # noqa: BLE001 - unknown: the first transaction drops the cache
                self._cache_version = None

    # ------------------------------------------------------------------ reads
    def _read(self, key: str) -> bytes | None:
        if key in self._staged:
            return self._staged[key]
        if self._staged_delete_all:
            return None
        return self.store.get_many([key]).get(key)

    def get(self, key: str) -> bytes | None:
        return self._read(key)

    def get_many(self, keys: Iterable[str]) -> builtins.list[tuple[str, bytes]]:
        """Found keys only, sorted by UTF-8 bytes."""
        wanted = sorted(set(keys), key=sort_key)
        missing = [key for key in wanted if key not in self._staged]
        found = self.store.get_many(missing) if missing and not self._staged_delete_all else {}
        result = []
        for key in wanted:
            value = self._staged[key] if key in self._staged else found.get(key)
            if value is not None:
                result.append((key, value))
        return result

    def list(
        self, options: ListOptions, *, overlay: Mapping[str, bytes | None] | None = None
    ) -> builtins.list[tuple[str, bytes]]:
        """Lists keys and values, merging staged (and ``overlay``) writes over the backend."""
        changes: dict[str, bytes | None] = dict(self._staged)
        if overlay:
            changes.update(overlay)
        start = options.start
        drop_start_after = options.start_after is not None
        if drop_start_after:
            start = options.start_after
        limit = options.limit
        backend_limit = None
        if limit is not None:
            backend_limit = limit + len(changes) + (1 if drop_start_after else 0)
        rows: builtins.list[tuple[str, bytes]] = []
        if not self._staged_delete_all:
            rows = self.store.list(
                start=start, end=options.end, prefix=options.prefix, reverse=options.reverse, limit=backend_limit
            )
        if changes:
            merged = {key: value for key, value in rows if key not in changes}
            for key, value in changes.items():
                if value is not None and options.admits(key):
                    merged[key] = value
            rows = sorted(merged.items(), key=lambda item: sort_key(item[0]), reverse=options.reverse)
        if drop_start_after:
            rows = [row for row in rows if row[0] != options.start_after]
        if limit is not None:
            rows = rows[:limit]
        return rows

    def get_alarm(self) -> int | None:
        if self._staged_alarm is not KEEP:
            return self._staged_alarm  # type: ignore[no-any-return]
        return self.store.get_alarm()

    # ------------------------------------------------------------------ staged writes
    @property
    def has_staged(self) -> bool:
        return bool(self._staged) or self._staged_alarm is not KEEP or self._staged_delete_all

    def put(self, entries: Iterable[tuple[str, bytes]]) -> None:
        for key, value in entries:
            self._staged[key] = value

    def delete(self, keys: builtins.list[str]) -> int:
        """Stages deletes; returns how many of the keys existed (counting staged puts)."""
        deleted = 0
        for key in keys:
            if self._read(key) is not None:
                deleted += 1
            self._staged[key] = None
        return deleted

    def delete_all(self) -> None:
        self._staged.clear()
        self._staged_delete_all = True

    def set_alarm(self, time_ms: int | None) -> None:
        self._staged_alarm = time_ms

    def flush(self, *, by_object_code: bool = False) -> int | None:
        """Commits everything staged as one atomic batch; returns the commit version.

        Args:
            by_object_code: The writes were staged by the object's own (non-transactional) JS,
                whose read cache already holds them; any other writer makes
                ``on_foreign_write`` run so that cache is dropped.
        """
        if not self.has_staged:
            if self.store.in_transaction():  # SQL writes of this event (SQLite-backed objects)
                return self.store.commit(puts={}, deletes=())
            return None
        puts = {key: value for key, value in self._staged.items() if value is not None}
        deletes = [key for key, value in self._staged.items() if value is None]
        alarm = self._staged_alarm
        delete_all = self._staged_delete_all
        self._staged = {}
        self._staged_alarm = KEEP
        self._staged_delete_all = False
        version = self.store.commit(puts=puts, deletes=deletes, alarm=alarm, delete_all=delete_all)
        self._note_own_commit(version, wrote=True)
        keys = tuple(sorted([*puts, *deletes], key=sort_key))
        self._emit(
            "storage.commit",
            keys=keys,
            data={
                "version": version,
                "puts": len(puts),
                "deletes": len(deletes),
                "delete_all": delete_all,
                **({"alarm": alarm} if alarm is not KEEP else {}),
            },
        )
        if alarm is not KEEP and self._on_alarm_change is not None:
            self._on_alarm_change(self)
        if (keys or delete_all) and not by_object_code and self._on_foreign_write is not None:
            self._on_foreign_write(self)
        return version

    def staged_state(self) -> tuple[dict[str, bytes | None], Any, bool]:
        """A copy of what is staged (``transactionSync`` restores it when its callback throws)."""
        return dict(self._staged), self._staged_alarm, self._staged_delete_all

    def restore_staged(self, state: tuple[dict[str, bytes | None], Any, bool]) -> None:
        """Puts back a :meth:`staged_state`."""
        staged, self._staged_alarm, self._staged_delete_all = state
        self._staged = dict(staged)

    def drop_staged_keys(self) -> None:
        """Forgets staged puts and deletes (a SQLite-backed ``deleteAll`` already removed them)."""
        self._staged = {}

    def discard_staged(self) -> None:
        """Drops staged writes that failed to commit (the object is reset after that)."""
        self._staged = {}
        self._staged_alarm = KEEP
        self._staged_delete_all = False

    # ------------------------------------------------------------------ transactions
    def begin(self, *, attempt: int = 1, request_id: int | None = None) -> Transaction:
        """Starts a transaction attempt (flushing staged writes first so they count as older)."""
        # Only the object's own JS stages writes between flushes (Python API writers stage and
        # flush in one step), so whatever is staged here is already in its read cache.
        self.flush(by_object_code=True)
        txn = Transaction(txn_id=self.trace.new_txn_id(), attempt=attempt, read_version=self.store.version())
        self._check_cache_version(txn.read_version)
        self._emit(
            "txn.begin",
            txn_id=txn.txn_id,
            attempt=attempt,
            request_id=request_id,
            data={"read_version": txn.read_version},
        )
        return txn

    def txn_get(self, txn: Transaction, keys: builtins.list[str]) -> builtins.list[tuple[str, bytes]]:
        txn.read_keys.update(keys)
        private = {key: txn.writes[key] for key in keys if key in txn.writes}
        result = dict(self.get_many([key for key in keys if key not in private]))
        for key, value in private.items():
            if value is not None:
                result[key] = value
        self._emit("txn.read", txn_id=txn.txn_id, attempt=txn.attempt, keys=tuple(keys))
        return sorted(result.items(), key=lambda item: sort_key(item[0]))

    def txn_note_read(self, txn: Transaction, keys: builtins.list[str]) -> None:
        """Records a read the object's code answered itself (own write or read cache)."""
        txn.read_keys.update(keys)
        self._emit("txn.read", txn_id=txn.txn_id, attempt=txn.attempt, keys=tuple(keys), data={"cached": True})

    def txn_put(self, txn: Transaction, entries: builtins.list[tuple[str, bytes]]) -> None:
        txn.mark_written(key for key, _ in entries)
        for key, value in entries:
            txn.writes[key] = value
        self._emit("txn.write", txn_id=txn.txn_id, attempt=txn.attempt, keys=tuple(key for key, _ in entries))

    def txn_delete(self, txn: Transaction, keys: builtins.list[str]) -> int:
        txn.mark_written(keys)
        txn.read_keys.update(keys)
        deleted = 0
        for key in keys:
            current = txn.writes[key] if key in txn.writes else self._read(key)
            if current is not None:
                deleted += 1
            txn.writes[key] = None
        self._emit("txn.write", txn_id=txn.txn_id, attempt=txn.attempt, keys=tuple(keys), data={"delete": True})
        return deleted

    def txn_list(self, txn: Transaction, options: ListOptions) -> builtins.list[tuple[str, bytes]]:
        rows = self.list(options, overlay=txn.writes)
        txn.read_keys.update(key for key, _ in rows)
        self._emit(
            "txn.read", txn_id=txn.txn_id, attempt=txn.attempt, keys=tuple(key for key, _ in rows), data={"list": True}
        )
        return rows

    def txn_get_alarm(self, txn: Transaction) -> int | None:
        txn.read_alarm = True
        if txn.alarm is not KEEP:
            return txn.alarm  # type: ignore[no-any-return]
        return self.get_alarm()

    def txn_set_alarm(self, txn: Transaction, time_ms: int | None) -> None:
        txn.alarm = time_ms

    def commit(self, txn: Transaction, *, request_id: int | None = None, by_object_code: bool = False) -> int | None:
        """Validates and commits a transaction attempt.

        ``by_object_code``: the object's own JS transaction, whose writes the caller puts into
        the read cache itself (any other committer makes ``on_foreign_write`` drop it).

        Raises:
            CommitConflict: A newer commit wrote a key (or the alarm) this attempt read.
        """
        self.flush(by_object_code=True)  # see begin()
        puts = {key: value for key, value in txn.writes.items() if value is not None}
        deletes = [key for key, value in txn.writes.items() if value is None]
        read_keys = tuple(sorted(txn.read_keys, key=sort_key))
        self._emit(
            "txn.validate",
            txn_id=txn.txn_id,
            attempt=txn.attempt,
            keys=read_keys,
            request_id=request_id,
            data={"read_version": txn.read_version},
        )
        try:
            version = self.store.commit(
                puts=puts,
                deletes=deletes,
                alarm=txn.alarm,
                read_keys=read_keys,
                read_alarm=txn.read_alarm,
                read_version=txn.read_version,
            )
        except CommitConflict as conflict:
            txn.state = "conflicted"
            self._emit(
                "txn.conflict",
                txn_id=txn.txn_id,
                attempt=txn.attempt,
                request_id=request_id,
                keys=tuple(conflict.keys),
                data={
                    "winning_version": conflict.winning_version,
                    "read_version": txn.read_version,
                    "read_keys": list(read_keys),
                    "write_keys": sorted(txn.writes, key=sort_key),
                },
            )
            raise
        txn.state = "committed"
        self._note_own_commit(version, wrote=bool(txn.writes) or txn.alarm is not KEEP)
        written = tuple(sorted(txn.writes, key=sort_key))
        self._emit(
            "txn.commit",
            txn_id=txn.txn_id,
            attempt=txn.attempt,
            request_id=request_id,
            keys=written,
            data={"version": version, "read_keys": list(read_keys), "write_keys": list(written)},
        )
        if txn.alarm is not KEEP and self._on_alarm_change is not None:
            self._on_alarm_change(self)
        if written and not by_object_code and self._on_foreign_write is not None:
            self._on_foreign_write(self)
        return version

    def _check_cache_version(self, version: int) -> None:
        """Drops the read cache when someone else committed since it was last known good.

        A transaction reads at ``version``, and its reads answered by the JS cache are validated
        against it. Another process's commit may be in ``version`` before the shared commit
        counter tells this process to drop its cache (the counter is bumped after the commit),
        so a stale cached read would pass validation and its update would be lost. Comparing
        the version with the last one this instance accounted for closes that window: runs
        between deliveries, before the transaction's closure reads anything.
        """
        if version != self._cache_version and self._on_foreign_write is not None:
            self._on_foreign_write(self)
        self._cache_version = version

    def _note_own_commit(self, version: int, *, wrote: bool) -> None:
        expected = None if self._cache_version is None else self._cache_version + (1 if wrote else 0)
        self._cache_version = version if version == expected else None

    def rollback(self, txn: Transaction, *, request_id: int | None = None, reason: str = "rollback") -> None:
        txn.state = "rolledback"
        self._emit(
            "txn.rollback", txn_id=txn.txn_id, attempt=txn.attempt, request_id=request_id, data={"reason": reason}
        )

    # ------------------------------------------------------------------ trace
    def _emit(self, kind: str, **fields: Any) -> None:
        self.trace.emit(kind, binding=self.binding, object_id=self.object_id, object_name=self.object_name, **fields)
