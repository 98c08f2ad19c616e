"""Calls that leave an object: stub calls (direct or delivered), service bindings, fetch.

A part of :class:`mfbook.runtime.Runtime`. *Direct calls* are stub calls the kernel ran
inside the caller's own delivery (docs/ARCHITECTURE.md, "Direct calls"): Python gives each a
request and a context of its own from ``dstart``/``dend``, so that the callee's operations are
attributed as if it had been delivered. The other calls start events in the target isolate
(or run the ``upstream`` handler) and settle the caller's operation in the caller's context
when they finish.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import WorkerError, envelope_from_exception
from .ownership import check_direct_target
from .rpc_leases import lease, stub_nodes
from .rpc_proxy import method_label
from .scheduling import Context, Delivery, DirectCall, NamespaceSpec, RequestState, Worker

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["Calls"]

logger = logging.getLogger("mfbook")


class Calls:
    """Routes the calls a runtime's isolates make (one per :class:`Runtime`).

    A part of the runtime, not a mixin: it starts events and settles operations through the
    one runtime reference it is given.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    # ------------------------------------------------------------------ direct calls
    @staticmethod
    def op_context(worker: Worker, ctx: Context, entry: dict[str, Any]) -> Context:
        """The context of an operation the kernel tagged with a direct call (``d``)."""
        call = worker.direct.get(entry["d"])
        if call is None:
            return ctx
        # An object's own storage operation in a delivery of that object is the delivery's.
        if ctx.actor is not None and entry.get("a") == ctx.actor.key:
            return ctx
        return call.ctx

    def direct_start(self, worker: Worker, ctx: Context, entry: dict[str, Any]) -> None:
        parent = worker.direct.get(entry["p"]) if "p" in entry else None
        caller = parent.ctx if parent is not None else ctx
        namespace = next((n for n in worker.spec.namespaces.values() if n.binding == entry["binding"]), None)
        if namespace is None:  # the kernel only calls namespaces of its own env
            logger.error("direct call into unknown namespace %s", entry["binding"])
            return
        check_direct_target(worker, namespace)
        actor = self._runtime.actor_for(namespace, entry["hex"], entry.get("name"))
        request = self._runtime.new_request(caller.request)
        kind = entry["kind"]
        method = entry.get("method")
        worker.direct[entry["d"]] = DirectCall(Context(request, actor), caller, kind, time.perf_counter(), method)
        if self._runtime.trace.enabled:
            data: dict[str, Any] = {"kind": kind, "direct": True}
            if method is not None:
                data["method"] = method_label(method)
            if caller.request is not None:  # the timeline labels a call by the request that made it
                data["parent"] = caller.request.request_id
            self._runtime.trace.emit(
                "request.start", request_id=request.request_id, data=data, **self._runtime.object_fields(actor)
            )

    @staticmethod
    def direct_callers(worker: Worker, request: RequestState | None) -> list[RequestState]:
        """The requests waiting, directly or through other direct calls, for ``request``.

        A direct call's promise lives in its caller's isolate: when the callee fails on a
        limit it never answers, so its callers must fail instead of waiting forever.
        """
        callers: list[RequestState] = []
        while request is not None:
            call = next((c for c in worker.direct.values() if c.ctx.request is request), None)
            request = call.caller.request if call is not None else None
            if request is not None:
                callers.append(request)
        return callers

    @staticmethod
    def forget_direct_calls(worker: Worker, request: RequestState) -> None:
        """Drops the direct calls made for ``request`` (and theirs) after it failed on a limit.

        An interrupted callee never answers; any answer that still comes goes nowhere.
        """
        failed = {id(request)}
        changed = True
        while changed:
            changed = False
            for d, call in list(worker.direct.items()):
                if call.caller.request is not None and id(call.caller.request) in failed:
                    del worker.direct[d]
                    if call.ctx.request is not None:
                        failed.add(id(call.ctx.request))
                    changed = True

    def direct_end(self, call: DirectCall, entry: dict[str, Any]) -> None:
        if "x" in entry:
            lease(call.caller, entry["x"])
        if not self._runtime.trace.enabled or call.ctx.request is None:
            return
        ok = bool(entry["ok"])
        value = entry.get("value")
        data: dict[str, Any] = {
            "kind": call.kind,
            "ok": ok,
            "direct": True,
            "ms": (time.perf_counter() - call.started) * 1000,
        }
        if ok:
            data["status"] = (
                entry["status"] if "status" in entry else value.get("status") if isinstance(value, dict) else None
            )
        else:
            data["error"] = (
                entry["error"] if "error" in entry else value.get("message") if isinstance(value, dict) else None
            )
        self._runtime.trace.emit(
            "request.end",
            request_id=call.ctx.request.request_id,
            data=data,
            **self._runtime.object_fields(call.ctx.actor),
        )

    # ------------------------------------------------------------------ calls between isolates
    def io_result(self, worker: Worker, ctx: Context, op_id: int, ok: bool, value: Any) -> None:
        """Settles a caller's I/O operation; it waits for the caller object's input gate."""
        if ok and type(value) is str:
            lease(ctx, stub_nodes(value))
        self._runtime.schedule(Delivery(worker, "settle", (json.dumps([[op_id, ok, value]]),), ctx, gated=True))

    def object_call(self, worker: Worker, ctx: Context, entry: dict[str, Any]) -> None:
        # Stubs name their namespace by its object name (what ids hash), not the env key.
        namespace = next((n for n in worker.spec.namespaces.values() if n.binding == entry["binding"]), None)
        if namespace is None:
            raise WorkerError("TypeError", f"No Durable Object binding {entry['binding']!r}")
        op_id = entry["id"]

        def done(ok: bool, value: Any) -> None:
            self.io_result(worker, ctx, op_id, ok, value)

        placement = self._runtime.placement
        if placement is None:
            self._call_here(worker, ctx, entry, namespace, done)
            return
        kind, payload = (
            ("fetch", (json.dumps(entry["request"]),))
            if entry["op"] == "do_fetch"
            else ("rpc", (entry["method"], entry["args"]))
        )
        placement.dispatch(
            namespace.binding,
            entry["hex"],
            entry.get("name"),
            kind,
            payload,
            done,
            lambda: self._call_here(worker, ctx, entry, namespace, done),
        )

    def _call_here(
        self, worker: Worker, ctx: Context, entry: dict[str, Any], namespace: NamespaceSpec, done: Callable[..., None]
    ) -> None:
        actor = self._runtime.actor_for(namespace, entry["hex"], entry.get("name"))
        request = self._runtime.new_request(ctx.request)
        self._runtime.check_depth(request)
        assert actor.worker is not None
        if entry["op"] == "do_fetch":
            self._runtime.start_event(
                "fetch", actor.worker, actor, request, (json.dumps(entry["request"]),), done, caller=worker
            )
        else:
            self._runtime.start_event(
                "rpc",
                actor.worker,
                actor,
                request,
                (entry["method"], entry["args"]),
                done,
                trace_data={"method": method_label(entry["method"])},
                caller=worker,
            )

    def service_fetch(self, worker: Worker, ctx: Context, entry: dict[str, Any]) -> None:
        # A call on a stub of another worker's export names that worker (kernel/rpc_stubs.js).
        named = entry.get("worker")
        target_name = named if isinstance(named, str) else worker.spec.services.get(entry["service"])
        target = self._runtime.workers.get(target_name or "")
        if target is None:
            raise WorkerError(
                "Error", f'Service binding "{entry["service"]}" points to unknown worker "{target_name}".'
            )
        request = self._runtime.new_request(ctx.request, pipeline=True)
        self._runtime.check_depth(request)
        op_id = entry["id"]
        binding = worker.spec.bindings.get(entry["service"], {})
        # A named entrypoint (or RPC to the default export) targets {"entrypoint": name | null}.
        entrypoint = binding.get("entrypoint")
        target_text = (
            json.dumps({"entrypoint": entrypoint}) if entrypoint is not None or entry["op"] == "service_rpc" else ""
        )

        def done(ok: bool, value: Any) -> None:
            self.io_result(worker, ctx, op_id, ok, value)

        if entry["op"] == "service_rpc":
            self._runtime.start_event(
                "rpc",
                target,
                None,
                request,
                (entry["method"], entry["args"]),
                done,
                trace_data={"method": method_label(entry["method"]), "service": target.name},
                target_text=target_text,
                caller=worker,
            )
        else:
            self._runtime.start_event(
                "fetch",
                target,
                None,
                request,
                (json.dumps(entry["request"]),),
                done,
                target_text=target_text,
                caller=worker,
            )

    def outbound_fetch(self, worker: Worker, ctx: Context, entry: dict[str, Any]) -> None:
        wire = entry["request"]
        op_id = entry["id"]
        if self._runtime.upstream is None:
            raise WorkerError(
                "TypeError",
                f"Network access is disabled in mfbook: fetch({wire['url']!r}) has no binding to go to. "
                "Pass upstream=callable to Miniflare to answer outbound requests from Python.",
            )
        upstream = self._runtime.upstream

        async def run() -> None:
            from .http import Response

            try:
                result = await self._runtime.loop.run_in_executor(None, upstream, wire)
                if asyncio.iscoroutine(result):
                    result = await result
                if not isinstance(result, Response):
                    raise TypeError("upstream must return an mfbook.Response")
                self.io_result(worker, ctx, op_id, True, result.to_wire())
            except Exception as error:  # noqa: BLE001 - becomes the JS rejection
                self.io_result(worker, ctx, op_id, False, envelope_from_exception(error))

        self._runtime.loop.create_task(run())
