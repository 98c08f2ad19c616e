"""The emulator core: workers, Durable Object instances, deliveries and host operations.

Runs under the engine lock (mfbook/loop.py). Python drives every isolate with *deliveries* (see
docs/ARCHITECTURE.md): a delivery carries a :class:`Context` — the request, the object and
the gate section it belongs to — and every host operation found in the resulting outbox
inherits that context. That is how input gates, output gates, request depth, the trace and
CPU limits attribute asynchronous work without any async-context support in QuickJS.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .alarms import AlarmScheduler
from .backend_waits import BackendWaits
from .backends.base import Backend
from .backends.memory import MemoryBackend
from .bridge.sync_ops import pure_handlers
from .calls import Calls
from .errors import WorkerError, envelope_from_exception
from .gates import InputGate
from .hibernation import Hibernation
from .host_calls import DeliveryHostCalls
from .isolate import INTERRUPTED_MESSAGE, Isolate, IsolateFault, IsolateLimits
from .loop import EngineScheduler
from .messages import DEPTH_ERROR, MAX_PIPELINE_DEPTH, MAX_REQUEST_DEPTH
from .outbox_processing import OutboxProcessor
from .ownership import ForeignObjectError
from .rpc_leases import release_leases
from .scheduling import Actor, Context, Delivery, Event, NamespaceSpec, RequestState, Worker, WorkerSpec
from .sql.backend import SqlBackends
from .sql.host_ops import SqlCall, sql_handlers
from .sql.store import SqlObjectStore
from .storage import ObjectStorage
from .storage_ops import StorageOperations
from .trace import Trace
from .watchdog import WallClockWatchdog
from .websocket_hub import WebSocketHub
from .websocket_ops import WebSocketOps
from .worker_timers import WorkerTimers

if TYPE_CHECKING:
    from .placement import Placement

__all__ = ["Actor", "NamespaceSpec", "Runtime", "WorkerSpec"]

logger = logging.getLogger("mfbook")
console_logger = logging.getLogger("mfbook.console")

class Runtime:
    """All workers and objects of one ``Miniflare`` instance."""

    def __init__(
        self,
        *,
        loop: EngineScheduler,
        backend: Backend,
        trace: Trace,
        limits: IsolateLimits,
        upstream: Callable[[dict[str, Any]], Any] | None,
        console: Callable[[str, str], None],
        txn_max_attempts: int,
        alarms_enabled: bool,
        worker_backends: dict[str, Backend] | None = None,
    ) -> None:
        self.loop = loop
        self.backend = backend
        #: Backends of workers with their own ``durable_objects_persist`` (by worker name).
        self.worker_backends: dict[str, Backend] = dict(worker_backends or {})
        self.trace = trace
        self.limits = limits
        self.upstream = upstream
        self.console = console
        self.txn_max_attempts = txn_max_attempts
        self.alarms_enabled = alarms_enabled
        self.workers: dict[str, Worker] = {}
        self.entry_worker: str | None = None
        self.actors: dict[str, Actor] = {}
        self.storages: dict[str, ObjectStorage] = {}
        self.events: dict[int, Event] = {}
        self._event_ids = itertools.count(1)
        self._request_ids = itertools.count(1)
        self._queue: deque[Delivery] = deque()
        self.storage_ops = StorageOperations(self)
        self.calls = Calls(self)
        self.outboxes = OutboxProcessor(self)
        self.timers = WorkerTimers(self)
        self.watchdog = WallClockWatchdog(
            loop, lambda: self.wall_limit_ms / 1000, lambda: self.events.values(), self.timers.expire_event
        )
        self._pumping = False
        #: Thread id of a caller driving deliveries on its own thread (see :meth:`drive`).
        self._driver: int | None = None
        #: The isolate running a delivery right now (what Ctrl-C trips).
        self._delivering: Isolate | None = None
        #: The context and worker of the running delivery: who a synchronous host call comes from.
        self.current: Context | None = None
        self.current_worker: Worker | None = None
        #: Storages the running delivery wrote through synchronous calls (flushed at its end).
        self.sync_touched: dict[int, ObjectStorage] = {}
        #: Synchronous host operations of every isolate (see :mod:`mfbook.bridge.sync_ops`).
        self.sync_handlers = pure_handlers()
        self.sync_handlers.update(DeliveryHostCalls(self).handlers())
        self.sync_handlers.update(sql_handlers(self._sql_caller))
        self.hibernation = Hibernation(self)
        self.websockets = WebSocketHub(self, self.hibernation)
        self.sync_handlers.update(WebSocketOps(self, self.websockets).handlers())
        #: Extra outbox operations answered later through ``calls.io_result`` (e.g. ``body_pull``,
        #: :mod:`mfbook.request_bodies`): ``handler(worker, ctx, entry)``.
        self.async_ops: dict[str, Callable[[Worker, Context, dict[str, Any]], None]] = {}
        self.alarms = AlarmScheduler(self)
        #: Databases of SQLite-backed classes, beside each KV backend.
        self.sql_backends = SqlBackends()
        self.background_errors: list[WorkerError] = []
        #: Lets go of the engine lock while Redis answers (mfbook/backend_waits.py).
        self.waits = BackendWaits(self)
        #: Which process runs each object, with Redis (mfbook/placement); None: always this one.
        self.placement: Placement | None = None
        # Backends other processes may write while objects cache their reads (files).
        self._watched = [
            backend
            for backend in {id(b): b for b in [backend, *self.worker_backends.values()]}.values()
            if backend.read_cache and not isinstance(backend, MemoryBackend)
        ]

    # ------------------------------------------------------------------ configuration
    def prepare(self, specs: list[WorkerSpec], limits: IsolateLimits) -> dict[str, Worker]:
        """Builds the workers of ``specs`` with their isolates loaded, changing nothing yet.

        Raises:
            IsolateFault: a worker failed to load (the running workers keep serving).
        """
        workers = {spec.name: Worker(spec, limits, self._isolate_bindings(spec), self.sync_handlers) for spec in specs}
        try:
            for worker in workers.values():
                worker.ensure_isolate()
        except BaseException:
            for worker in workers.values():
                if worker.isolate is not None:
                    worker.isolate.close()
            raise
        return workers

    #: Wall-clock time an event may stay pending (``Miniflare(wall_limit_ms=...)``).
    wall_limit_ms: float = 30_000.0

    def configure(self, specs: list[WorkerSpec], prepared: dict[str, Worker] | None = None) -> None:
        """Installs (or replaces) the workers; objects are re-constructed, storage is kept.

        ``prepared``: the workers :meth:`prepare` built for ``specs`` (else they are built here).
        """
        old = self.workers
        for worker in old.values():
            worker.cancel_timers()
            if worker.isolate is not None:
                worker.isolate.close()
        for event in list(self.events.values()):
            self.finish_event(event, False, {"name": "Error", "message": "The worker was reloaded.", "stack": ""})
        if prepared is None:
            prepared = {
                spec.name: Worker(spec, self.limits, self._isolate_bindings(spec), self.sync_handlers) for spec in specs
            }
        self.workers = prepared
        self.entry_worker = specs[0].name if specs else None
        for actor in self.actors.values():
            actor.worker = None
            actor.txns.clear()
            for item in actor.gate.reset():
                _ = item
        for worker in self.workers.values():
            worker.ensure_isolate()

    def _isolate_bindings(self, spec: WorkerSpec) -> dict[str, dict[str, Any]]:
        """The spec's bindings, with what the kernel needs to call its own objects directly."""
        bindings = {name: dict(binding) for name, binding in spec.bindings.items()}
        for env_name, namespace in spec.namespaces.items():
            binding = bindings.get(env_name)
            if binding is None or binding.get("type") != "durable_object":
                continue
            binding["cls"] = namespace.class_name
            # Calls inside the isolate skip the owner check of mfbook/placement: not with it.
            binding["local"] = namespace.script_name == spec.name and self.placement is None
            binding["cache"] = self.backend_for(namespace).read_cache
            binding["remote"] = self.backend_for(namespace).remote
            binding["sql"] = namespace.sqlite
        return bindings

    def namespace(self, binding: str, worker_name: str | None = None) -> NamespaceSpec:
        worker = self.workers[worker_name or self.entry_worker or ""]
        return worker.spec.namespaces[binding]

    def find_namespace(self, binding: str) -> NamespaceSpec | None:
        """The namespace whose object name (``NamespaceSpec.binding``, what ids hash) is ``binding``."""
        for worker in self.workers.values():
            for namespace in worker.spec.namespaces.values():
                if namespace.binding == binding:
                    return namespace
        return None

    # ------------------------------------------------------------------ storage objects
    def storage_for(self, namespace: NamespaceSpec, hex_id: str, name: str | None = None) -> ObjectStorage:
        key = f"{namespace.binding}:{hex_id}"
        storage = self.storages.get(key)
        if storage is not None and isinstance(storage.store, SqlObjectStore) != namespace.sqlite:
            storage = None  # the class became (or stopped being) SQLite-backed in a reload
        if storage is None:
            backend = self.backend_for(namespace)
            storage = ObjectStorage(
                backend.open(namespace.binding, hex_id),
                binding=namespace.binding,
                object_id=hex_id,
                object_name=name,
                trace=self.trace,
                on_alarm_change=self._after_alarm_change,
                # Only objects with a JS read cache have one to drop (Redis has none: no query).
                on_foreign_write=self.invalidate_cache if backend.read_cache else None,
            )
            self.storages[key] = storage
        elif name is not None and storage.object_name is None:
            storage.object_name = name
        return storage

    def _sql_caller(self, payload: Any) -> SqlCall:
        """Who a synchronous SQL operation comes from: the object its key names, if the worker
        of the running delivery runs it (as for storage operations, :mod:`mfbook.host_calls`)."""
        worker, ctx = self.current_worker, self.current
        actor = self.actors.get(str(payload.get("a"))) if isinstance(payload, dict) else None
        if worker is None or ctx is None or actor is None or actor.worker is not worker:
            return SqlCall(None, None)
        op_ctx = self.calls.op_context(worker, ctx, payload) if "d" in payload else ctx
        isolate = self._delivering
        return SqlCall(actor, op_ctx.request, self._touch, isolate.interrupter.expired if isolate else None)

    def _touch(self, storage: ObjectStorage) -> None:
        """The running delivery wrote ``storage`` synchronously: the output gate flushes it."""
        self.sync_touched[id(storage)] = storage

    def backend_for(self, namespace: NamespaceSpec) -> Backend:
        """The backend holding the objects of ``namespace`` (that of the class's worker)."""
        backend = self.worker_backends.get(namespace.script_name, self.backend)
        return self.sql_backends.over(backend) if namespace.sqlite else backend

    def actor_for(self, namespace: NamespaceSpec, hex_id: str, name: str | None = None) -> Actor:
        key = f"{namespace.binding}:{hex_id}"
        actor = self.actors.get(key)
        if actor is None:
            gate = InputGate()
            actor = Actor(key, namespace, hex_id, name, self.storage_for(namespace, hex_id, name), gate)
            actor.read_cache = self.backend_for(namespace).read_cache
            actor.remote = self.backend_for(namespace).remote
            gate.bind(self._requeue)
            self.actors[key] = actor
        elif actor.namespace.sqlite != namespace.sqlite:
            # A reload made the class SQLite-backed (or KV-backed): new storage, new target.
            actor.namespace = namespace
            actor.storage = self.storage_for(namespace, hex_id, name or actor.name)
            actor.read_cache = self.backend_for(namespace).read_cache
            actor.remote = self.backend_for(namespace).remote
            actor._target = None
        elif name is not None and actor.name is None:
            actor.name = name
            actor.storage.object_name = name
        if actor.worker is None:
            worker = self.workers.get(namespace.script_name)
            if worker is None:
                raise WorkerError(
                    "Error", f'Script "{namespace.script_name}" for Durable Object "{namespace.binding}" not found.'
                )
            actor.worker = worker
        return actor

    # ------------------------------------------------------------------ delivery pump
    def schedule(self, delivery: Delivery) -> None:
        self._queue.append(delivery)
        self._want_pump()

    def _requeue(self, parked: list[Delivery]) -> None:
        # Keep their order ahead of anything queued after them.
        self._queue.extendleft(reversed(parked))
        self._want_pump()

    def _want_pump(self) -> None:
        if self._pumping or self._driver == threading.get_ident():
            return  # a pump is due, or the caller driving on this thread runs the queue
        self._pumping = True
        self.loop.call_soon(self._pump)

    def drive(self, start: Callable[[], Any], done: Callable[[], bool]) -> None:
        """Calls ``start()``, then runs queued deliveries here until ``done()`` or none is left.

        The caller holds the engine lock (:meth:`mfbook.loop.EmulatorLoop.holding`), and the
        deliveries ``start`` queues run on its thread. What is left when it returns (work after
        its answer, timers, retries) goes to the loop thread.
        """
        self._driver = threading.get_ident()
        try:
            start()
            queue = self._queue
            while not done():
                queue = self._queue  # _reset_worker replaces the deque
                if not queue:
                    break
                self._run(queue.popleft())
            if not done() and not self._queue and self.events:
                self._fail_hung_events()
        finally:
            self._driver = None
            if self._queue and not self._pumping:
                self._pumping = True
                self.loop.call_soon(self._pump)

    def trip_running(self) -> None:
        """Stops the JavaScript running now, if any (thread-safe: one store)."""
        isolate = self._delivering
        if isolate is not None:
            isolate.trip()

    def interrupt_request(self, request: RequestState) -> None:
        """Fails every pending event of ``request`` after Ctrl-C (under the engine lock)."""
        envelope = {"name": "Error", "message": INTERRUPTED_MESSAGE, "stack": ""}
        for event in list(self.events.values()):
            if event.request is request:
                self.finish_event(event, False, envelope)

    def _pump(self) -> None:
        budget = 1000
        try:
            # self._queue, not a local: _reset_worker replaces the deque mid-pump.
            while self._queue and budget:
                budget -= 1
                self._run(self._queue.popleft())
        finally:
            if self._queue:
                self.loop.call_soon(self._pump)
            else:
                self._pumping = False
                if self.events:
                    self._fail_hung_events()

    def _fail_hung_events(self) -> None:
        """Fails pending events once nothing can ever wake them (workerd's hang detection).

        Nothing is queued, no timer is armed and no isolate awaits a host operation: a handler
        still pending now waits on a promise that nobody will settle, so it gets the runtime's
        error instead of hanging the caller. So does work waiting at an input gate, which only
        code of the object could open (a transaction or ``blockConcurrencyWhile`` that can no
        longer finish); the gate is then opened for the requests that come later.
        """
        # Operations that await an event (stub and service calls) progress only if that event
        # does, which this same check decides.
        if self.waits.active:
            return  # a thread waits on Redis: work set aside for it is not hung
        awaiting = Counter(id(event.caller) for event in self.events.values() if event.caller is not None)
        if self.websockets.may_receive():
            return  # a Python client's next WebSocket frame may wake it
        for worker in self.workers.values():
            if worker.timers or (worker.isolate is not None and worker.isolate.pending_ops() > awaiting[id(worker)]):
                return
        envelope = {"name": "Error", "message": "The script will never generate a response.", "stack": ""}
        for event in list(self.events.values()):
            self.finish_event(event, False, envelope)
        for actor in self.actors.values():
            if not actor.gate.is_open:
                # Its transaction or blockConcurrencyWhile() can never finish: the object
                # starts over (a new instance) and its gate opens for the requests to come.
                parked = actor.gate.reset()
                actor.txns.clear()
                actor.sections.clear()
                if actor.worker is not None and actor.worker.isolate is not None:
                    actor.worker.isolate.drop_actor(actor.key)
                # Events were failed above; other deliveries (timers, results) may still run.
                self._requeue([d for d in parked if d.entry not in ("fetch", "rpc", "alarm")])

    def _run(self, delivery: Delivery) -> None:
        ctx = delivery.ctx
        actor = ctx.actor
        if delivery.gated and actor is not None and not actor.gate.admits(ctx.section):
            actor.gate.park(delivery)
            return
        if self.waits.defers(delivery):
            return
        worker = delivery.worker
        for backend in self._watched:
            if backend.changed_elsewhere():
                self._drop_caches(backend)
        interrupted = False
        try:
            isolate = worker.ensure_isolate()
            if actor is not None:
                self.hibernation.rebuilt(actor)  # the delivery constructs it if it was evicted
            depth = ctx.request.depth if ctx.request is not None else 1
            self._delivering = isolate
            self.current = ctx
            self.current_worker = worker
            self.sync_touched = {}
            try:
                outbox = isolate.deliver(delivery.entry, *delivery.args, depth)
            finally:
                self._delivering = None
                self.current = None
                self.current_worker = None
        except IsolateFault as fault:
            self._on_fault(worker, ctx, fault)
            outbox = getattr(fault, "outbox", [])
            interrupted = not fault.fatal
            if fault.fatal:
                outbox = []
                self.sync_touched = {}
        except WorkerError as error:
            self._fail_request_events(
                worker, ctx.request, {"name": error.name, "message": error.js_message, "stack": error.stack}
            )
            outbox = []
        try:
            if outbox or self.sync_touched:
                self.outboxes.process(worker, ctx, outbox)
        except Exception as error:  # noqa: BLE001 - a bad outbox fails its request, not the loop
            logger.exception("worker %s: could not process an outbox", worker.name)
            self._fail_request_events(worker, ctx.request, envelope_from_exception(error))
        finally:
            for released in delivery.releases:
                released.gate.unlock()
            if interrupted and ctx.request is not None:
                self.calls.forget_direct_calls(worker, ctx.request)

    def _on_fault(self, worker: Worker, ctx: Context, fault: IsolateFault) -> None:
        envelope = dict(fault.envelope)
        logger.warning("worker %s: %s", worker.name, envelope.get("message"))
        if fault.fatal:
            self._reset_worker(worker, envelope)
        else:
            for request in [ctx.request, *self.calls.direct_callers(worker, ctx.request)]:
                self._fail_request_events(worker, request, envelope)

    def refuse_foreign_write(self, worker: Worker, ctx: Context, error: ForeignObjectError) -> None:
        """A write that resolved at once in JS named another object: its request fails."""
        logger.warning("worker %s: %s", worker.name, error)
        for request in [ctx.request, *self.calls.direct_callers(worker, ctx.request)]:
            self._fail_request_events(worker, request, envelope_from_exception(error))

    def _fail_request_events(self, worker: Worker, request: RequestState | None, envelope: dict[str, Any]) -> None:
        for event in list(self.events.values()):
            if event.worker is worker and (request is None or event.request is request):
                self.finish_event(event, False, envelope)

    def _reset_worker(self, worker: Worker, envelope: dict[str, Any]) -> None:
        """Condemns an isolate: every in-flight event fails and objects are re-created later."""
        worker.cancel_timers()
        if worker.isolate is not None:
            worker.isolate.close()
        worker.isolate = None
        for event in list(self.events.values()):
            if event.worker is worker:
                self.finish_event(event, False, envelope)
        for actor in self.actors.values():
            if actor.worker is worker:
                actor.txns.clear()
                actor.gate.reset()
                actor.storage.discard_staged()
        self._queue = deque(d for d in self._queue if d.worker is not worker)

    # ------------------------------------------------------------------ events
    def new_request(self, parent: RequestState | None, *, pipeline: bool = False) -> RequestState:
        if parent is None:
            return RequestState(next(self._request_ids), 1, 1)
        if pipeline:
            return RequestState(next(self._request_ids), parent.depth, parent.pipeline + 1)
        return RequestState(next(self._request_ids), parent.depth + 1, 1)

    @staticmethod
    def check_depth(request: RequestState) -> None:
        if request.depth > MAX_REQUEST_DEPTH:
            raise WorkerError(
                "Error",
                f"{DEPTH_ERROR}\nWorkers and objects can recurse up to {MAX_REQUEST_DEPTH} times.\n"
                "If you're trying to fetch from an origin server, make sure you've set the `upstream` option.",
            )
        if request.pipeline > MAX_PIPELINE_DEPTH:
            raise WorkerError("Error", f"{DEPTH_ERROR}\nService bindings can recurse up to {MAX_PIPELINE_DEPTH} times.")

    def start_event(
        self,
        kind: str,
        worker: Worker,
        actor: Actor | None,
        request: RequestState,
        payload: tuple[Any, ...],
        on_done: Callable[[bool, Any], None],
        *,
        trace_data: dict[str, Any] | None = None,
        target_text: str = "",
        caller: Worker | None = None,
    ) -> None:
        """Delivers a fetch/rpc/alarm event; ``on_done(ok, value_or_envelope)`` when it completes."""
        event_id = next(self._event_ids)
        started = time.perf_counter()
        fields = self.object_fields(actor)
        self.trace.emit(
            "request.start", request_id=request.request_id, data={"kind": kind, **(trace_data or {})}, **fields
        )

        def finish(ok: bool, value: Any) -> None:
            status = value.get("status") if ok and isinstance(value, dict) else None
            self.trace.emit(
                "request.end",
                request_id=request.request_id,
                data={
                    "kind": kind,
                    "ok": ok,
                    "status": status,
                    "ms": (time.perf_counter() - started) * 1000,
                    **({} if ok else {"error": value.get("message") if isinstance(value, dict) else str(value)}),
                },
                **fields,
            )
            on_done(ok, value)

        event = Event(event_id, worker, request, finish, actor, caller)
        self.events[event_id] = event
        self.watchdog.started(event)
        target = actor.target_json() if actor is not None else target_text
        ctx = Context(request, actor)
        self.schedule(Delivery(worker, kind, (event_id, target, *payload), ctx, gated=actor is not None))

    def finish_event(self, event: Event, ok: bool, value: Any) -> None:
        if self.events.pop(event.event_id, None) is None:
            return
        event.on_done(ok, value)
        if event.request.leases:
            release_leases(self, event.request)

    @staticmethod
    def object_fields(actor: Actor | None) -> dict[str, Any]:
        if actor is None:
            return {}
        return {"binding": actor.namespace.binding, "object_id": actor.hex, "object_name": actor.name}

    def invalidate_cache(self, storage: ObjectStorage) -> None:
        """Drops the JS read cache of an object whose storage another writer changed.

        Runs under the engine lock between deliveries, so no JS of the object can run before
        its cache is gone.
        """
        actor = self.actors.get(f"{storage.binding}:{storage.object_id}")
        if actor is None or actor.worker is None or actor.worker.isolate is None:
            return
        actor.worker.isolate.invalidate(actor.key)

    def _drop_caches(self, backend: Backend) -> None:
        """Another process committed under ``backend``: no cached read of its objects holds."""
        for actor in self.actors.values():
            if actor.read_cache and self.backend_for(actor.namespace) is backend:
                self.invalidate_cache(actor.storage)

    def _after_alarm_change(self, storage: ObjectStorage) -> None:
        if self.alarms_enabled:
            self.alarms.schedule(storage)

    # ------------------------------------------------------------------ shutdown
    def close(self) -> None:
        self.alarms.cancel_all()
        self.watchdog.close()
        self.hibernation.cancel_all()
        self.websockets.close_all()
        for worker in self.workers.values():
            worker.cancel_timers()
            if worker.isolate is not None:
                worker.isolate.close()
        for event in list(self.events.values()):
            self.finish_event(event, False, {"name": "Error", "message": "The emulator was disposed.", "stack": ""})
        self.sql_backends.close()
        if self.placement is not None:  # after the last write this process may make
            self.placement.close()
        for backend in {id(backend): backend for backend in [self.backend, *self.worker_backends.values()]}.values():
            backend.close()
