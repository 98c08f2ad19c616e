"""Storage operations queued by JavaScript, run against the object's storage engine.

The kernel's storage proxies queue ``st`` host operations; this part of :class:`Runtime`
executes them in program order, closes the object's input gate for their duration (unless
``allowConcurrency``), opens and closes gate *sections* for transactions and
``blockConcurrencyWhile``, and validates/commits/retries transaction attempts.
"""

from __future__ import annotations

import builtins
import itertools
import json
import logging
import random
from typing import TYPE_CHECKING, Any

from .backends.base import CommitConflict
from .errors import StorageError, envelope_from_exception
from .ownership import owned_actor
from .scheduling import Actor, Context, Delivery, Worker
from .storage import ListOptions, ObjectStorage, Transaction

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["DEFERRED", "StorageOperations", "WRITE_METHODS"]

logger = logging.getLogger("mfbook")

#: Returned by an operation whose settlement is scheduled separately.
DEFERRED = object()
TXN_CONTROL = frozenset({"txnBegin", "txnCommit", "txnAbort"})
WRITE_METHODS = frozenset({"put", "delete", "deleteAll", "setAlarm", "deleteAlarm"})

Settlements = list[tuple[Context, list[Any], list[Actor]]]


class StorageOperations:
    """Runs the storage operations a runtime's isolates ask for (one per :class:`Runtime`).

    A part of the runtime, not a mixin: it reaches the runtime's objects, trace and delivery
    queue through the one reference it is given.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._section_ids = itertools.count(1)
        #: Collects read-cache entries while a synchronous host call commits (see cache_store).
        self.sync_cache: list[tuple[str, str | None]] | None = None

    @staticmethod
    def _actor_of(ctx: Context, entry: dict[str, Any]) -> Actor:
        # From the host's record of the delivery, never from what JS wrote (ownership.py).
        return owned_actor(ctx, entry)

    def run(
        self,
        worker: Worker,
        ctx: Context,
        entry: dict[str, Any],
        releases: builtins.list[Actor],
        touched: dict[int, ObjectStorage],
        settlements: builtins.list[tuple[Context, list[Any], list[Actor]]],
    ) -> Any:
        actor = self._actor_of(ctx, entry)
        self._runtime.waits.wait_idle(actor.key)  # another thread may wait on Redis for it
        storage = actor.storage
        method = entry["m"]
        flags = entry.get("f", 0)
        request_id = ctx.request.request_id if ctx.request else None
        # An operation the code awaits closes the input gate until its result is delivered;
        # one resolved at once (puts, reads answered from the cache: no "id") does not.
        if not flags & 1 and "id" in entry and method not in ("sync", "txnBegin", "txnCommit", "txnAbort"):
            actor.gate.lock()
            releases.append(actor)
        touched[id(storage)] = storage
        txn_id = entry.get("txn")
        if txn_id is not None and method not in TXN_CONTROL:
            txn = actor.txns.get(txn_id)
            if txn is None:
                raise StorageError("This transaction is no longer active.")
            return self._txn_op(storage, txn, method, entry)
        if method == "get":
            value = storage.get(entry["key"])
            self.trace_op(storage, "storage.get", ctx, (entry["key"],))
            return None if value is None else value.decode("utf-8")
        if method == "getMany":
            self.trace_op(storage, "storage.get", ctx, tuple(entry["keys"]))
            return [[key, value.decode("utf-8")] for key, value in storage.get_many(entry["keys"])]
        if method == "put":
            entries = [(key, value.encode("utf-8")) for key, value in entry["entries"]]
            storage.put(entries)
            self.trace_op(storage, "storage.put", ctx, tuple(key for key, _ in entries))
            return None
        if method == "delete":
            count = storage.delete(entry["keys"])
            self.trace_op(storage, "storage.delete", ctx, tuple(entry["keys"]))
            return count if entry.get("many") else count > 0
        if method == "list":
            rows = storage.list(ListOptions.from_mapping(entry["options"]))
            self.trace_op(storage, "storage.list", ctx, (), {"count": len(rows)})
            return [[key, value.decode("utf-8")] for key, value in rows]
        if method == "deleteAll":
            storage.delete_all()
            self.trace_op(storage, "storage.delete_all", ctx, ())
            return None
        if method == "getAlarm":
            return storage.get_alarm()
        if method == "setAlarm":
            storage.set_alarm(int(entry["time"]))
            self._runtime.trace.emit(
                "alarm.set",
                request_id=request_id,
                data={"time": int(entry["time"])},
                **self._runtime.object_fields(actor),
            )
            return None
        if method == "deleteAlarm":
            storage.set_alarm(None)
            return None
        if method == "sync":
            return None
        if method == "txnBegin":
            txn_section = next(self._section_ids)
            actor.gate.open_section(txn_section, ctx.section)
            try:
                txn = storage.begin(request_id=request_id)
            except BaseException:
                actor.gate.close_section(txn_section)  # e.g. the backend is unreachable
                raise
            actor.txns[txn.txn_id] = txn
            actor.sections[txn.txn_id] = txn_section
            settlements.append(
                (Context(ctx.request, actor, txn_section), [[entry["id"], True, {"txn": txn.txn_id}]], [])
            )
            return DEFERRED
        if method == "txnCommit":
            try:
                return self._txn_commit(worker, ctx, actor, entry, settlements)
            except Exception as error:  # noqa: BLE001 - the section must not stay closed
                open_section = actor.sections.pop(entry["txn"]) if entry["txn"] in actor.sections else None
                actor.txns.pop(entry["txn"], None)
                parent = actor.gate.close_section(open_section) if open_section is not None else ctx.section
                settlements.append(
                    (Context(ctx.request, actor, parent), [[entry["id"], False, envelope_from_exception(error)]], [])
                )
                return DEFERRED
        if method == "txnAbort":
            txn = actor.txns.pop(entry["txn"], None)
            aborted_section = actor.sections.pop(entry["txn"]) if entry["txn"] in actor.sections else None
            if txn is not None:
                storage.rollback(
                    txn,
                    request_id=request_id,
                    reason="closure threw: " + str(entry.get("error", {}).get("message", "")),
                )
            parent = actor.gate.close_section(aborted_section) if aborted_section is not None else ctx.section
            settlements.append((Context(ctx.request, actor, parent), [[entry["id"], True, None]], []))
            return DEFERRED
        raise StorageError(f"Unknown storage method {method}")

    def cache_store(self, actor: Actor, txn: Transaction) -> None:
        """Puts a committed transaction's writes into the object's JS read cache.

        Runs between deliveries, before anything parked at the object's gate: no code of the
        object can see the old cached values after the commit. A commit made by a synchronous
        host call (during a delivery) must not call back into JS: its entries are handed back
        with the answer instead (``sync_cache``).
        """
        worker = actor.worker
        if worker is None or worker.isolate is None:
            return
        entries = [(key, None if value is None else value.decode("utf-8")) for key, value in txn.writes.items()]
        if self.sync_cache is not None:
            self.sync_cache.extend(entries)
            return
        worker.isolate.cache_store(actor.key, entries)

    def trace_op(
        self, storage: ObjectStorage, kind: str, ctx: Context, keys: tuple[str, ...], data: dict[str, Any] | None = None
    ) -> None:
        if self._runtime.trace.enabled:
            self._runtime.trace.emit(
                kind,
                binding=storage.binding,
                object_id=storage.object_id,
                object_name=storage.object_name,
                request_id=ctx.request.request_id if ctx.request else None,
                keys=keys,
                data=data or {},
            )

    @staticmethod
    def _txn_op(storage: ObjectStorage, txn: Transaction, method: str, entry: dict[str, Any]) -> Any:
        if method == "get" and entry.get("known"):
            storage.txn_note_read(txn, [entry["key"]])
            return None
        if method == "get":
            rows = storage.txn_get(txn, [entry["key"]])
            return rows[0][1].decode("utf-8") if rows else None
        if method == "getMany":
            return [[key, value.decode("utf-8")] for key, value in storage.txn_get(txn, entry["keys"])]
        if method == "put":
            storage.txn_put(txn, [(key, value.encode("utf-8")) for key, value in entry["entries"]])
            return None
        if method == "delete":
            count = storage.txn_delete(txn, entry["keys"])
            return count if entry.get("many") else count > 0
        if method == "list":
            rows = storage.txn_list(txn, ListOptions.from_mapping(entry["options"]))
            return [[key, value.decode("utf-8")] for key, value in rows]
        if method == "getAlarm":
            return storage.txn_get_alarm(txn)
        if method == "setAlarm":
            storage.txn_set_alarm(txn, int(entry["time"]))
            return None
        if method == "deleteAlarm":
            storage.txn_set_alarm(txn, None)
            return None
        raise StorageError(f"{method}() is not available in a transaction")

    def _txn_commit(
        self,
        worker: Worker,
        ctx: Context,
        actor: Actor,
        entry: dict[str, Any],
        settlements: builtins.list[tuple[Context, list[Any], list[Actor]]],
    ) -> Any:
        storage = actor.storage
        txn = actor.txns.pop(entry["txn"])
        section = actor.sections.pop(entry["txn"])
        request_id = ctx.request.request_id if ctx.request else None
        if entry.get("rolledBack"):
            storage.rollback(txn, request_id=request_id)
            parent = actor.gate.close_section(section)
            settlements.append((Context(ctx.request, actor, parent), [[entry["id"], True, {}]], []))
            return DEFERRED
        try:
            storage.commit(txn, request_id=request_id, by_object_code=actor.read_cache)
        except CommitConflict as conflict:
            if txn.attempt >= self._runtime.txn_max_attempts:
                storage._emit(
                    "txn.giveup",
                    txn_id=txn.txn_id,
                    attempt=txn.attempt,
                    request_id=request_id,
                    keys=tuple(conflict.keys),
                    data={"attempts": txn.attempt},
                )
                parent = actor.gate.close_section(section)
                message = (
                    f"Transaction gave up after {txn.attempt} attempts: keys "
                    f"{', '.join(repr(k) for k in conflict.keys) or '(alarm)'} kept changing under it "
                    f"(last conflicting commit #{conflict.winning_version}) in Durable Object "
                    f"{actor.namespace.binding} {actor.hex}, written by other requests or by another "
                    f"process sharing {self._runtime.backend_for(actor.namespace).location}. "
                    f"Raise Miniflare(txn_max_attempts=...) (now {self._runtime.txn_max_attempts}) "
                    "if this contention is expected."
                )
                settlements.append(
                    (
                        Context(ctx.request, actor, parent),
                        [[entry["id"], False, {"name": "Error", "message": message}]],
                        [],
                    )
                )
                return DEFERRED
            delay = min(0.1, 0.001 * (2 ** (txn.attempt - 1))) * random.uniform(0.5, 1.5)
            settle_ctx = Context(ctx.request, actor, section)
            # `conflict` is unbound when the except block ends: keep what resume() needs.
            conflict_keys, winning_version = tuple(conflict.keys), conflict.winning_version

            def resume() -> None:
                # The retry reads at the version current after the back-off, not before it
                # (else every commit made meanwhile, e.g. by another process, conflicts again).
                if actor.worker is not worker:
                    return  # reloaded meanwhile: the closure's isolate is gone
                try:
                    retry = storage.begin(attempt=txn.attempt + 1, request_id=request_id)
                except Exception as error:  # noqa: BLE001 - e.g. the backend is unreachable
                    parent = actor.gate.close_section(section)
                    self._runtime.schedule(
                        Delivery(
                            worker,
                            "settle",
                            (json.dumps([[entry["id"], False, envelope_from_exception(error)]]),),
                            Context(ctx.request, actor, parent),
                            gated=False,
                        )
                    )
                    return
                storage._emit(
                    "txn.retry",
                    txn_id=retry.txn_id,
                    attempt=retry.attempt,
                    request_id=request_id,
                    keys=conflict_keys,
                    data={"replaces": txn.txn_id, "winning_version": winning_version},
                )
                actor.txns[retry.txn_id] = retry
                actor.sections[retry.txn_id] = section
                self._runtime.schedule(
                    Delivery(
                        worker,
                        "settle",
                        (json.dumps([[entry["id"], True, {"retry": retry.txn_id}]]),),
                        settle_ctx,
                        gated=False,
                    )
                )

            self._runtime.loop.call_later(delay, resume)
            return DEFERRED
        if actor.read_cache and txn.writes:
            try:
                self.cache_store(actor, txn)
            except Exception:  # noqa: BLE001 - the commit stands; a stale cache must not
                logger.exception("read cache update failed; dropping the cache")
                self._runtime.invalidate_cache(storage)
        parent = actor.gate.close_section(section)
        settlements.append((Context(ctx.request, actor, parent), [[entry["id"], True, {}]], []))
        return DEFERRED

    def block_concurrency(
        self,
        worker: Worker,
        ctx: Context,
        entry: dict[str, Any],
        settlements: builtins.list[Any],
    ) -> None:
        actor = self._actor_of(ctx, entry)
        if entry["phase"] == "begin":
            section = next(self._section_ids)
            actor.gate.open_section(section, ctx.section)
            settlements.append((Context(ctx.request, actor, section), [[entry["id"], True, section]], []))
        else:
            parent = actor.gate.close_section(int(entry["section"]))
            settlements.append((Context(ctx.request, actor, parent), [[entry["id"], True, None]], []))
