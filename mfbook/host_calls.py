"""Synchronous host operations that belong to the running delivery: storage and direct calls.

JavaScript reaches these through the isolate's one synchronous entry
(:mod:`mfbook.bridge.host_entry`), so a storage read, a write or the start of a direct call
is handled *in program order, in the same turn* instead of at the end of the delivery:

- ``st``: a storage operation (reads answer at once; writes are staged and made durable by
  the output gate at the end of the delivery, as before);
- ``trace``: a read the object's cache answered, still recorded in the trace;
- ``dstart``: a direct call begins (so its storage operations can name it at once).

Who is calling comes from the runtime's record of the running delivery
(:attr:`Runtime.current`, :attr:`Runtime.current_worker`), never from the payload: an
operation naming an object of another worker is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import StorageError, WorkerError
from .ownership import ForeignObjectError, owned_actor
from .scheduling import Actor, Context, Worker
from .storage_ops import WRITE_METHODS

if TYPE_CHECKING:
    from .bridge.host_entry import SyncHandler
    from .runtime import Runtime

__all__ = ["DeliveryHostCalls"]

#: Transaction steps whose answer may have to wait (a retry after its back-off).
_SETTLED_LATER = frozenset({"txnCommit", "txnAbort"})


class DeliveryHostCalls:
    """The runtime's synchronous operations, as a table for the host entry."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def handlers(self) -> dict[str, SyncHandler]:
        return {"st": self.storage, "trace": self.trace, "dstart": self.direct_start}

    def _caller(self) -> tuple[Worker, Context]:
        runtime = self._runtime
        worker, ctx = runtime.current_worker, runtime.current
        if worker is None or ctx is None:
            raise StorageError("Storage can only be used while the object's code runs.")
        return worker, ctx

    def _context_and_actor(self, entry: dict[str, Any]) -> tuple[Worker, Context, Actor]:
        worker, ctx = self._caller()
        runtime = self._runtime
        op_ctx = runtime.calls.op_context(worker, ctx, entry) if "d" in entry else ctx
        # Object keys are computable from names: only the host's record says who may ask.
        return worker, op_ctx, owned_actor(op_ctx, entry)

    def storage(self, entry: dict[str, Any]) -> Any:
        try:
            worker, op_ctx, actor = self._context_and_actor(entry)
        except ForeignObjectError as error:
            if entry.get("m") in WRITE_METHODS:  # a note: nobody in JS would see the error
                worker, ctx = self._caller()
                op_ctx = self._runtime.calls.op_context(worker, ctx, entry) if "d" in entry else ctx
                self._runtime.refuse_foreign_write(worker, op_ctx, error)
            raise
        runtime = self._runtime
        if entry.get("m") in _SETTLED_LATER:
            return self._finish_transaction(worker, op_ctx, entry)
        entry.pop("id", None)  # answered now: nothing to settle, no gate to hold
        return runtime.storage_ops.run(worker, op_ctx, entry, [], runtime.sync_touched, [])

    def _finish_transaction(self, worker: Worker, op_ctx: Context, entry: dict[str, Any]) -> dict[str, Any]:
        """Commit (validate, write, close the section) or abort a transaction attempt now.

        ``entry["id"]`` names a pending promise JS made: when the commit conflicts and a retry
        must wait for its back-off, Python settles that promise later (``{"later": true}``);
        otherwise the answer is ``{"now": value, "cache": [...]}`` and JS drops the promise.
        """
        runtime = self._runtime
        settlements: list[tuple[Context, list[Any], list[Actor]]] = []
        cache: list[tuple[str, str | None]] = []
        runtime.storage_ops.sync_cache = cache
        try:
            runtime.storage_ops.run(worker, op_ctx, entry, [], runtime.sync_touched, settlements)
        finally:
            runtime.storage_ops.sync_cache = None
        if not settlements:
            return {"later": True}
        _, [[_, ok, value]], _ = settlements[0]
        if not ok:
            raise WorkerError.from_envelope(value)
        return {"now": value, "cache": cache}

    def trace(self, entry: dict[str, Any]) -> None:
        _, op_ctx, actor = self._context_and_actor(entry)
        self._runtime.storage_ops.trace_op(actor.storage, entry["kind"], op_ctx, tuple(entry["keys"]), {"cached": True})

    def direct_start(self, entry: dict[str, Any]) -> None:
        worker, ctx = self._caller()
        self._runtime.calls.direct_start(worker, ctx, entry)
