"""What the runtime does with an isolate's outbox after a delivery.

A delivery's outbox lists what its code asked of the host asynchronously (storage operations
not answered in the same turn, timers, calls that leave the object, completions of events).
:class:`OutboxProcessor` runs them in program order, then applies the *output gate*: the
storages the delivery wrote are flushed before any result, call or response it produced is
released, and a failed flush fails everything that depended on it (docs/ARCHITECTURE.md §1).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from .bridge.sync_ops import digest
from .errors import WorkerError, envelope_from_exception
from .ownership import ForeignObjectError, owned_actor
from .scheduling import Actor, Context, Delivery, DirectCall, Worker
from .storage_ops import DEFERRED, WRITE_METHODS

if TYPE_CHECKING:
    from .runtime import Runtime
    from .storage import ObjectStorage

__all__ = ["OutboxProcessor"]

logger = logging.getLogger("mfbook")

#: Host operations that reach outside the object (other objects, workers, the network): they
#: start only after the output gate, i.e. once the writes before them are durable.
_LEAVING_OPS = frozenset({"do_fetch", "do_rpc", "service_fetch", "service_rpc", "fetch"})


class OutboxProcessor:
    """Acts on outboxes for one :class:`~mfbook.runtime.Runtime` (a part of it, not a mixin)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def process(self, worker: Worker, ctx: Context, outbox: list[dict[str, Any]]) -> None:
        settlements: list[tuple[Context, list[Any], list[Actor]]] = []
        # Settle batches by context: one per delivery, plus one per direct call of it.
        batches: dict[int, tuple[Context, list[Any], list[Actor]]] = {id(ctx): (ctx, [], [])}
        completions: list[dict[str, Any]] = []
        # Storages written through synchronous calls during the delivery, then by the outbox.
        touched, self._runtime.sync_touched = self._runtime.sync_touched, {}
        writes: list[tuple[list[Any], ObjectStorage]] = []  # settlements that need a durable flush
        # Calls that leave the object wait for the output gate (the flush below).
        leaving: list[tuple[Context, dict[str, Any]]] = []
        answers: list[tuple[DirectCall, dict[str, Any]]] = []  # direct calls answered later
        direct_answered = False
        ended: list[tuple[DirectCall, dict[str, Any]]] = []
        for entry in outbox:
            op = entry["op"]
            op_ctx = self._runtime.calls.op_context(worker, ctx, entry) if "d" in entry else ctx
            try:
                if op == "st":
                    batch, releases = self._batch_for(batches, op_ctx)
                    result = self._runtime.storage_ops.run(worker, op_ctx, entry, releases, touched, settlements)
                    if result is not DEFERRED and "id" in entry:
                        item = [entry["id"], True, result]
                        batch.append(item)
                        if entry["m"] in WRITE_METHODS and not entry.get("f", 0) & 2:
                            writes.append((item, touched[id(owned_actor(op_ctx, entry).storage)]))
                elif op == "done":
                    completions.append(entry)
                elif op == "dstart":
                    self._runtime.calls.direct_start(worker, ctx, entry)
                elif op == "dend":
                    call = worker.direct.pop(entry["d"], None)
                    if call is not None:
                        ended.append((call, entry))
                        if entry.get("local"):
                            direct_answered = True
                        else:
                            answers.append((call, entry))
                elif op == "console":
                    self._runtime.console(entry["level"], entry["text"])
                elif op == "timer":
                    self._runtime.timers.add(worker, op_ctx, entry["timer"], entry["ms"], entry["repeat"])
                elif op == "cleartimer":
                    timer = worker.timers.pop(entry["timer"], None)
                    if timer is not None:
                        timer[0].cancel()
                elif op == "background_error":
                    error = WorkerError.from_envelope(entry["error"])
                    self._runtime.background_errors.append(error)
                    logger.error("Uncaught (in waitUntil): %s\n%s", error, error.stack)
                elif op == "bcw":
                    self._runtime.storage_ops.block_concurrency(worker, op_ctx, entry, settlements)
                elif op in _LEAVING_OPS:
                    leaving.append((op_ctx, entry))
                elif op == "trace":
                    # A read answered from the object's JS cache: still on the trace.
                    actor = owned_actor(op_ctx, entry)
                    self._runtime.storage_ops.trace_op(
                        actor.storage, entry["kind"], op_ctx, tuple(entry["keys"]), {"cached": True}
                    )
                elif op in self._runtime.async_ops:
                    self._runtime.async_ops[op](worker, op_ctx, entry)
                elif op == "digest":  # the fallback engine mode (no synchronous calls)
                    self._batch_for(batches, op_ctx)[0].append([entry["id"], True, digest(entry)])
                else:
                    self._batch_for(batches, op_ctx)[0].append(
                        [entry["id"], False, {"name": "Error", "message": f"Unknown host operation {op}"}]
                    )
            except Exception as error:  # noqa: BLE001 - errors become JS exceptions, never escape
                if "id" in entry:
                    self._batch_for(batches, op_ctx)[0].append([entry["id"], False, envelope_from_exception(error)])
                elif isinstance(error, ForeignObjectError):
                    self._runtime.refuse_foreign_write(worker, op_ctx, error)
                else:
                    logger.exception("host operation %s failed", op)
        # Output gate: staged writes become durable before results or responses are released.
        flush_errors: dict[int, dict[str, Any]] = {}
        for storage in touched.values():
            try:
                self._runtime.waits.wait_idle(f"{storage.binding}:{storage.object_id}")  # backend_waits.py
                storage.flush(by_object_code=True)
            except Exception as error:  # noqa: BLE001
                storage.discard_staged()
                self._runtime.invalidate_cache(storage)
                flush_errors[id(storage)] = envelope_from_exception(error)
        # An answer handed over inside the isolate may have carried a write that failed:
        # nothing this delivery produced may leave then.
        failed_all = next(iter(flush_errors.values())) if flush_errors and direct_answered else None
        if flush_errors:
            for item, storage in writes:
                failure = flush_errors.get(id(storage))
                if failure is not None:
                    item[1] = False
                    item[2] = failure
            self._break_output_gates(flush_errors)
        for call, entry in ended:
            self._runtime.calls.direct_end(call, entry)
        for op_ctx, entry in leaving:
            try:
                if failed_all is not None:
                    raise WorkerError.from_envelope(failed_all)
                if entry["op"] in ("do_fetch", "do_rpc"):
                    self._runtime.calls.object_call(worker, op_ctx, entry)
                elif entry["op"] == "fetch":
                    self._runtime.calls.outbound_fetch(worker, op_ctx, entry)
                else:
                    self._runtime.calls.service_fetch(worker, op_ctx, entry)
            except Exception as error:  # noqa: BLE001 - becomes the JS rejection
                self._batch_for(batches, op_ctx)[0].append([entry["id"], False, envelope_from_exception(error)])
        for batch_ctx, batch, releases in batches.values():
            if batch:
                self._runtime.schedule(
                    Delivery(worker, "settle", (json.dumps(batch),), batch_ctx, gated=False, releases=releases)
                )
            else:
                for actor in releases:
                    actor.gate.unlock()
        for settle_ctx, settle_batch, settle_releases in settlements:
            self._runtime.schedule(
                Delivery(
                    worker, "settle", (json.dumps(settle_batch),), settle_ctx, gated=False, releases=settle_releases
                )
            )
        for call, entry in answers:
            failure = failed_all or flush_errors.get(id(call.ctx.actor.storage)) if call.ctx.actor else failed_all
            if failure is not None:
                self._runtime.calls.io_result(worker, call.caller, entry["id"], False, failure)
            else:
                self._runtime.calls.io_result(worker, call.caller, entry["id"], entry["ok"], entry["value"])
        for entry in completions:
            event = self._runtime.events.get(entry["ev"])
            if event is None:
                continue
            if failed_all is not None:
                self._runtime.finish_event(event, False, failed_all)
            elif flush_errors and event.actor is not None and id(event.actor.storage) in flush_errors:
                self._runtime.finish_event(event, False, flush_errors[id(event.actor.storage)])
            elif entry["ok"]:
                self._runtime.finish_event(event, True, entry["value"])
            else:
                self._runtime.finish_event(event, False, entry["error"])

    @staticmethod
    def _batch_for(
        batches: dict[int, tuple[Context, list[Any], list[Actor]]], ctx: Context
    ) -> tuple[list[Any], list[Actor]]:
        found = batches.get(id(ctx))
        if found is None:
            found = batches[id(ctx)] = (ctx, [], [])
        return found[1], found[2]

    def _break_output_gates(self, flush_errors: dict[int, dict[str, Any]]) -> None:
        """A write that never became durable fails every response its object still owes.

        As in the Workers runtime, a broken output gate means no response of that object may
        claim the write happened (puts resolve before durability, like workerd's).
        """
        for event in list(self._runtime.events.values()):
            actor = event.actor
            if actor is not None and id(actor.storage) in flush_errors:
                self._runtime.finish_event(event, False, flush_errors[id(actor.storage)])
        for envelope in flush_errors.values():
            logger.error("Durable Object storage write failed: %s", envelope.get("message"))
