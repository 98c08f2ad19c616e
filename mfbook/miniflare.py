"""``Miniflare``: the public emulator object (blocking API plus ``*_async`` twins)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import weakref
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from . import export
from .bridge.signals import SigintGuard
from .bridge.stack import current_stack_size
from .cf import request_cf
from .errors import ConfigError, WorkerError
from .export import StorageTransfer
from .http import HeadersInput, Response, request_wire
from .ids import DurableObjectId
from .loop import EmulatorLoop, Waiter
from .objects import DurableObjectStorage
from .options import Options, parse_options
from .request_bodies import BodySource, RequestBodies, is_body_source
from .rpc_proxy import method_label
from .runtime import NamespaceSpec, Runtime
from .runtime_setup import install, isolate_limits, open_backends, place_objects
from .scheduling import RequestState
from .streamed import BodyStream, StreamedResponse
from .stubs import DurableObjectNamespace, DurableObjectStub
from .trace import Trace

if TYPE_CHECKING:
    from .serving import ServeHandle

__all__ = ["Miniflare"]

BodyInput = bytes | str | BodySource | None

logger = logging.getLogger("mfbook")
console_logger = logging.getLogger("mfbook.console")

#: C stack a caller's thread needs beyond the JS stack limit to run JavaScript itself.
_STACK_MARGIN = 1024 * 1024


class Miniflare:
    """A local Cloudflare Workers + Durable Objects emulator.

    >>> mf = Miniflare(script='export default { fetch: () => new Response("hi") }', modules=True)
    >>> mf.dispatch_fetch("http://localhost/").text()
    'hi'
    >>> mf.dispose()

    Options (keyword-only) are those of DESIGN.md: ``script``/``script_path``, ``modules``,
    ``durable_objects``, ``durable_objects_persist``, ``durable_objects_alarms``, ``workers``,
    ``bindings``, ``service_bindings``, ``compatibility_date``, ``compatibility_flags``, plus
    ``cpu_limit_ms``, ``wall_limit_ms``, ``memory_limit_mb``, ``upstream``, ``console``, ``txn_max_attempts``,
    ``redis_prefix``, ``redis_options``, ``trace_maxlen`` and ``websocket_hibernation_idle_ms``. Per worker also
    ``modules_root``
    (imports may not leave it), ``modules_rules`` (``[{"type": "Text", "include": ["**/*.md"]}]``),
    ``wrangler_config_path`` (a wrangler.toml/.json/.jsonc; explicit options win) and
    ``environment`` (its ``[env.<name>]`` section). ``service_bindings`` values are a worker
    name or ``{"name": worker, "entrypoint": "ClassName"}`` (RPC to a ``WorkerEntrypoint``).

    Raises:
        ConfigError: A bad option (the message names it) or a worker that fails to load.
    """

    def __init__(self, **options: Any) -> None:
        self._options: Options = parse_options(options)
        self.trace = Trace(maxlen=self._options.trace_maxlen)
        self.console_lines: list[tuple[str, str]] = []
        self._loop = EmulatorLoop()
        self._servers: list[ServeHandle] = []  # mf.serve(): stopped by dispose()
        try:
            self._runtime = self._loop.run(self._create_runtime(self._options))
        except BaseException:
            self._loop.close()
            raise
        # Disposes at interpreter exit (atexit, while the emulator thread can still run: a
        # __del__ during finalization would wait for a thread that can no longer run).
        #: Request bodies fed from Python iterables (``body_pull`` operations).
        self._bodies = RequestBodies(self._runtime.loop, self._runtime.calls.io_result)
        self._runtime.async_ops.update(self._bodies.ops())
        self._finalizer = weakref.finalize(self, _dispose, self._loop, self._runtime)

    # ------------------------------------------------------------------ set-up
    def _console(self, level: str, text: str) -> None:
        self.console_lines.append((level, text))
        del self.console_lines[:-1000]
        mode = self._options.console
        if mode == "print":
            stream = sys.stderr if level in ("error", "warn") else sys.stdout
            print(text, file=stream, flush=True)
        elif mode == "log":
            console_logger.log(_LEVELS.get(level, logging.INFO), text)
        elif callable(mode):
            mode(level, text)

    async def _create_runtime(self, options: Options) -> Runtime:
        backend, worker_backends = open_backends(options)
        runtime = Runtime(
            loop=self._loop.scheduler,
            backend=backend,
            trace=self.trace,
            limits=isolate_limits(options),
            upstream=options.upstream,
            console=self._console,
            txn_max_attempts=options.txn_max_attempts,
            alarms_enabled=options.alarms,
            worker_backends=worker_backends,
        )
        runtime.waits.attach(self._loop)
        for opened in {id(b): b for b in [backend, *worker_backends.values()]}.values():
            opened.io_window = runtime.waits.window
        if backend.remote and options.redis_lease_ms is not None:
            place_objects(runtime, backend, options, self._loop)
        try:
            install(runtime, options)
            if options.alarms:
                await runtime.alarms.restore()
        except BaseException:
            runtime.close()
            raise
        return runtime

    def set_options(self, **options: Any) -> None:
        """Reloads with new options: new code runs, objects are re-constructed, storage stays.

        The persistence backend stays the one chosen at construction.
        """
        parsed = parse_options(options)
        parsed.persist = self._options.persist
        parsed.worker_persist = self._options.worker_persist

        async def reload() -> None:
            install(self._runtime, parsed)

        self._loop.run(reload())
        self._options = parsed

    # ------------------------------------------------------------------ requests
    def _start_event(
        self,
        kind: str,
        worker_name: str | None,
        namespace: NamespaceSpec | None,
        object_id: DurableObjectId | None,
        payload: tuple[Any, ...],
        done: Callable[[bool, Any], None],
    ) -> RequestState:
        """Starts a fetch/rpc event (under the engine lock); ``done(ok, value)`` completes it."""
        runtime = self._runtime
        request = runtime.new_request(None)
        try:
            if namespace is not None and object_id is not None:

                def run_here() -> None:
                    actor = runtime.actor_for(namespace, object_id.hex, object_id.name)
                    assert actor.worker is not None
                    method = {"method": method_label(payload[0])} if kind == "rpc" and runtime.trace.enabled else None
                    runtime.start_event(kind, actor.worker, actor, request, payload, done, trace_data=method)

                if runtime.placement is None:
                    run_here()
                else:  # the object may run in another process (mfbook/placement)
                    runtime.placement.dispatch(
                        namespace.binding, object_id.hex, object_id.name, kind, payload, done, run_here
                    )
            else:
                worker = runtime.workers[worker_name or runtime.entry_worker or ""]
                label = _fetch_label(kind, payload) if runtime.trace.enabled else None
                runtime.start_event(kind, worker, None, request, payload, done, trace_data=label)
        except WorkerError as error:
            done(False, {"name": error.name, "message": error.js_message, "stack": error.stack})
        return request

    @staticmethod
    def _outcome(ok: bool, value: Any) -> Any:
        if ok:
            return value
        raise WorkerError.from_envelope(value if isinstance(value, dict) else {"message": str(value)})

    async def _event_async(
        self,
        kind: str,
        worker_name: str | None,
        namespace: NamespaceSpec | None,
        object_id: DurableObjectId | None,
        payload: tuple[Any, ...],
    ) -> Any:
        caller = asyncio.get_running_loop()
        future: asyncio.Future[tuple[bool, Any]] = caller.create_future()
        if caller is self._loop.loop:

            def done_here(ok: bool, value: Any) -> None:
                if not future.done():
                    future.set_result((ok, value))

            self._start_event(kind, worker_name, namespace, object_id, payload, done_here)
            return self._outcome(*await future)

        # Another thread's loop: one hop there, one batched hop back (no task on our loop).
        def done(ok: bool, value: Any) -> None:
            self._loop.resolve_on(caller, future, (ok, value))

        self._loop.post(lambda: self._start_event(kind, worker_name, namespace, object_id, payload, done))
        return self._outcome(*await future)

    def _event_blocking(
        self,
        kind: str,
        worker_name: str | None,
        namespace: NamespaceSpec | None,
        object_id: DurableObjectId | None,
        payload: tuple[Any, ...],
    ) -> Any:
        """Blocking twin of :meth:`_event_async`: the JavaScript runs on the caller's thread.

        The caller holds the engine lock while it runs the deliveries its request needs; if
        the answer waits on something else (a timer, a retry's back-off, an upstream fetch),
        the loop thread finishes the work and the caller waits without the lock. A thread
        whose stack cannot hold the JS stack limit hands the whole call over instead. Ctrl-C
        on the main thread stops the JavaScript at once and raises :class:`Interrupted`.
        """
        if not self._runs_here():

            def start_there(answer: Callable[[tuple[bool, Any]], None]) -> None:
                self._start_event(
                    kind, worker_name, namespace, object_id, payload, lambda ok, value: answer((ok, value))
                )

            return self._outcome(*self._loop.post_and_wait(start_there))
        waiter: Waiter[tuple[bool, Any]] = Waiter()
        runtime = self._runtime
        guard = SigintGuard(runtime.trip_running)
        started: list[RequestState] = []

        def start() -> None:
            started.append(
                self._start_event(
                    kind, worker_name, namespace, object_id, payload, lambda ok, value: waiter.set((ok, value))
                )
            )

        with self._loop.holding(), guard:
            runtime.drive(start, waiter.is_set)
            if guard.interrupted and started:
                runtime.interrupt_request(started[0])
        request = started[0]
        guard.raise_if_interrupted(f"{kind} interrupted: its JavaScript was stopped; the emulator is still usable.")
        try:
            outcome = waiter.get()
        except KeyboardInterrupt:
            # Ctrl-C while the loop thread finishes the request: stop it there too.
            runtime.trip_running()
            self._loop.post(lambda: runtime.interrupt_request(request))
            raise
        return self._outcome(*outcome)

    def _runs_here(self) -> bool:
        """Whether this thread's stack can hold the JS stack limit (plus the interpreter's)."""
        size = current_stack_size()
        return size is None or size >= self._runtime.limits.stack_bytes + _STACK_MARGIN

    async def _object_event_async(
        self, namespace: NamespaceSpec, object_id: DurableObjectId, kind: str, payload: tuple[Any, ...]
    ) -> Any:
        return await self._event_async(kind, None, namespace, object_id, payload)

    def _object_event(
        self, namespace: NamespaceSpec, object_id: DurableObjectId, kind: str, payload: tuple[Any, ...]
    ) -> Any:
        return self._event_blocking(kind, None, namespace, object_id, payload)

    @staticmethod
    def _error_response(error: WorkerError) -> Response:
        header = f"{error.name}: {error.js_message}" if error.js_message else error.name
        report = error.stack if error.stack.startswith(header) else f"{header}\n{error.stack}".rstrip()
        logger.error("Uncaught %s", report)
        return Response(
            500,
            body=report.encode(),
            headers={"content-type": "text/plain;charset=UTF-8"},
            status_text="Internal Server Error",
        )

    def _response(
        self, wire: dict[str, Any], url: str = "", worker_name: str | None = None, body_id: int | None = None
    ) -> Response:
        """A response from its wire; a WebSocket in it becomes ``response.websocket``, a body
        handed over by id a :class:`~mfbook.streamed.StreamedResponse`."""
        stream_id = wire.get("stream")
        if stream_id is None:
            self._bodies.discard(body_id)
            response = Response.from_wire(wire)
        else:
            response = self._streamed_response(wire, worker_name, int(stream_id), body_id)
        socket_id = wire.get("ws")
        if socket_id is not None:
            response.websocket = self._runtime.websockets.client_for(int(socket_id), self._loop.post, url)
        return response

    def hibernate(self, target: DurableObjectId | DurableObjectStub) -> None:
        """Evicts an object whose connections are hibernatable WebSockets, as an idle one would be.

        Its instance is dropped (the sockets, their tags and attachments stay); the next
        message to one of its sockets constructs it again. ``target`` is an id or a stub.

        Raises:
            HibernationRefused: the object is handling an event, awaits storage, has a timer,
                or accepted a socket with ``accept()`` (which cannot hibernate).
            ConfigError: no Durable Object binding matches the id.
        """
        object_id = target.id if isinstance(target, DurableObjectStub) else target
        if not isinstance(object_id, DurableObjectId):
            raise TypeError(f"expected a DurableObjectId or a stub, got {type(target).__name__}")
        runtime = self._runtime
        namespace = runtime.find_namespace(object_id.binding)
        if namespace is None:
            raise ConfigError(f"No Durable Object binding {object_id.binding!r}", option="durable_objects")

        def evict() -> None:
            actor = runtime.actor_for(namespace, object_id.hex, object_id.name)
            runtime.hibernation.hibernate(actor)

        self._loop.call(evict)

    def dispatch_fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: HeadersInput = None,
        body: BodyInput = None,
        worker_name: str | None = None,
        cf: Mapping[str, Any] | None = None,
        stream: bool = False,
    ) -> Response:
        """Sends a request to the entry worker (or ``worker_name``) and returns its response.

        A JS exception that escapes the handler becomes a 500 response whose body is the
        error and its stack (as Miniflare shows it); the error is also logged. ``cf`` is the
        request's ``request.cf`` (default :data:`mfbook.cf.DEFAULT_CF`). With ``stream=True``,
        a body the worker streams comes back as a :class:`mfbook.streamed.StreamedResponse`
        to iterate as it is produced (``for chunk in response``). ``body`` may also be an
        iterable or async iterable of ``bytes``: the worker reads it as a stream.
        """
        wire, body_id = self._fetch_wire(url, method, headers, body, cf, stream, None)
        try:
            value = self._event_blocking("fetch", worker_name, None, None, (json.dumps(wire),))
        except BaseException as error:
            self._bodies.discard(body_id)
            if isinstance(error, WorkerError):
                return self._error_response(error)
            raise
        return self._response(value, url, worker_name, body_id)

    async def dispatch_fetch_async(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: HeadersInput = None,
        body: BodyInput = None,
        worker_name: str | None = None,
        cf: Mapping[str, Any] | None = None,
        stream: bool = False,
    ) -> Response:
        """Awaitable twin of :meth:`dispatch_fetch` (iterate a streamed body with ``async for``)."""
        wire, body_id = self._fetch_wire(url, method, headers, body, cf, stream, asyncio.get_running_loop())
        try:
            value = await self._event_async("fetch", worker_name, None, None, (json.dumps(wire),))
        except BaseException as error:
            self._bodies.discard(body_id)
            if isinstance(error, WorkerError):
                return self._error_response(error)
            raise
        return self._response(value, url, worker_name, body_id)

    def _fetch_wire(
        self,
        url: str,
        method: str,
        headers: HeadersInput,
        body: BodyInput,
        cf: Mapping[str, Any] | None,
        stream: bool,
        caller: asyncio.AbstractEventLoop | None,
    ) -> tuple[dict[str, Any], int | None]:
        """The request wire, and the id of a body fed from an iterable (:mod:`mfbook.request_bodies`)."""
        source = body if is_body_source(body) else None
        plain = b"" if source is not None else body  # an iterable is a body too (GET/HEAD refuse it)
        wire = request_wire(url, method=method, headers=headers, body=plain, cf=request_cf(cf))  # type: ignore[arg-type]
        body_id = None
        if source is not None:
            body_id = self._bodies.add(source, caller=caller)  # type: ignore[arg-type]
            wire["body"] = None
            wire["bodyStream"] = body_id
        if stream:
            wire["streamBody"] = True
        return wire, body_id

    def _streamed_response(
        self, wire: dict[str, Any], worker_name: str | None, stream_id: int, body_id: int | None
    ) -> Response:
        stream = BodyStream(
            lambda kind: self._event_blocking(kind, worker_name, None, None, (stream_id,)),
            lambda kind: self._event_async(kind, worker_name, None, None, (stream_id,)),
            on_finish=lambda: self._bodies.discard(body_id),
        )
        return StreamedResponse(
            int(wire["status"]),
            stream=stream,
            status_text=str(wire.get("statusText", "")),
            headers=[(str(name), str(value)) for name, value in wire.get("headers", [])],
        )

    def serve(self, *, port: int = 8787, host: str = "127.0.0.1", cf: Mapping[str, Any] | None = None) -> ServeHandle:
        """Serves the entry worker to real HTTP and WebSocket clients (see :mod:`mfbook.serving`).

        Returns at once with a handle (``.url``, ``.stop()``); the server runs on a thread of
        its own and ``dispose()`` stops it. ``port=0`` picks a free port; ``cf`` is the
        ``request.cf`` of served requests.

        Raises:
            OSError: The address cannot be bound.
        """
        self._loop._check()
        from .serving import start_server

        handle = start_server(self, host=host, port=port, cf=cf)
        self._servers.append(handle)
        return handle

    # ------------------------------------------------------------------ durable objects
    def get_durable_object_namespace(self, binding: str, *, worker_name: str | None = None) -> DurableObjectNamespace:
        """The namespace bound as ``binding`` (in the entry worker, or ``worker_name``)."""
        self._loop._check()
        runtime = self._runtime
        worker = runtime.workers.get(worker_name or runtime.entry_worker or "")
        if worker is None:
            raise ConfigError(f"worker_name: no worker named {worker_name!r}", option="worker_name")
        namespace = worker.spec.namespaces.get(binding)
        if namespace is None:
            known = ", ".join(sorted(worker.spec.namespaces)) or "none"
            raise ConfigError(
                f"No Durable Object binding {binding!r} in worker {worker.name!r} (bindings: {known})",
                option="durable_objects",
            )
        return DurableObjectNamespace(self, namespace)

    def get_durable_object_storage(self, object_id: DurableObjectId) -> DurableObjectStorage:
        """Storage of the object ``object_id`` (does not construct the object)."""
        self._loop._check()
        if not isinstance(object_id, DurableObjectId):
            raise TypeError(
                f"expected a DurableObjectId (from namespace.id_from_name(...)), got {type(object_id).__name__}"
            )
        namespace = self._runtime.find_namespace(object_id.binding)
        if namespace is None:
            raise ConfigError(f"No Durable Object binding {object_id.binding!r}", option="durable_objects")
        return DurableObjectStorage(self, namespace, object_id)

    def flush_alarms(self, ids: Iterable[DurableObjectId] | None = None) -> None:
        """Runs every scheduled alarm (and pending retry) now and waits for them."""
        keys = None if ids is None else [f"{object_id.binding}:{object_id.hex}" for object_id in ids]
        self._loop.run(self._runtime.alarms.flush(keys))

    async def flush_alarms_async(self, ids: Iterable[DurableObjectId] | None = None) -> None:
        keys = None if ids is None else [f"{object_id.binding}:{object_id.hex}" for object_id in ids]
        await self._loop.run_async(self._runtime.alarms.flush(keys))

    def export_storage(self, path: str | os.PathLike[str] | IO[str]) -> StorageTransfer:
        """Writes every object's keys and alarm to ``path`` as JSON lines (see :mod:`mfbook.export`).

        >>> mf.export_storage("snapshot.jsonl")  # doctest: +SKIP
        StorageTransfer(objects=1, keys=1, alarms=0)
        """
        return self._loop.call(lambda: export.export_storage(self._runtime, path))

    async def export_storage_async(self, path: str | os.PathLike[str] | IO[str]) -> StorageTransfer:
        """Awaitable twin of :meth:`export_storage`."""

        async def run() -> StorageTransfer:
            return export.export_storage(self._runtime, path)

        return await self._loop.run_async(run())

    def import_storage(self, path: str | os.PathLike[str] | IO[str], *, replace: bool = False) -> StorageTransfer:
        """Writes an export into storage, one atomic commit per object (any backend to any).

        Args:
            path: A file (or text stream) written by :meth:`export_storage`.
            replace: Clear each imported object's existing keys and alarm in that commit.

        Raises:
            ValueError: A malformed line (named); nothing was written.
            ConfigError: A binding this emulator does not have; nothing was written.
        """
        return self._loop.call(lambda: export.import_storage(self._runtime, path, replace=replace))

    async def import_storage_async(
        self, path: str | os.PathLike[str] | IO[str], *, replace: bool = False
    ) -> StorageTransfer:
        """Awaitable twin of :meth:`import_storage`."""

        async def run() -> StorageTransfer:
            return export.import_storage(self._runtime, path, replace=replace)

        return await self._loop.run_async(run())

    @property
    def workers(self) -> list[str]:
        """Names of the configured workers (the first is the entry)."""
        return list(self._runtime.workers)

    def durable_object_bindings(self) -> list[tuple[str, str]]:
        """``(binding, worker_name)`` of every Durable Object binding, entry worker first.

        A binding name bound in several workers is listed once, for the first of them.
        """
        self._loop._check()
        seen: dict[str, str] = {}
        for worker_name, worker in self._runtime.workers.items():
            for binding in worker.spec.namespaces:
                seen.setdefault(binding, worker_name)
        return list(seen.items())

    # ------------------------------------------------------------------ lifecycle
    def dispose(self) -> None:
        """Stops the emulator thread and frees the isolates; later use raises DisposedError."""
        if self._loop.closed:
            return
        self.trace.emit("emulator.dispose")  # live widgets show that they stopped
        for server in self._servers:
            server.stop()
        self._finalizer()

    async def dispose_async(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.dispose)

    @property
    def owner_id(self) -> str | None:
        """This process's id among emulators sharing Redis (``host:pid:random``), if objects have owners."""
        placement = self._runtime.placement
        return None if placement is None else placement.owner_id

    @property
    def disposed(self) -> bool:
        return self._loop.closed

    def __enter__(self) -> Miniflare:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.dispose()

    async def __aenter__(self) -> Miniflare:
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.dispose_async()


def _dispose(loop: EmulatorLoop, runtime: Runtime) -> None:
    """Closes the runtime on its thread, then stops the thread (``Miniflare.dispose``)."""
    if loop.closed:
        return

    async def cleanup() -> None:
        if runtime.placement is not None:
            await runtime.placement.hand_over()  # forwarded requests in flight finish here
        runtime.close()

    loop.close(cleanup)


_LEVELS = {
    "debug": logging.DEBUG,
    "log": logging.INFO,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}


def _fetch_label(kind: str, payload: tuple[Any, ...]) -> dict[str, Any] | None:
    """``url`` and ``http_method`` of a fetch from Python, for the trace (small requests only)."""
    if kind != "fetch" or not payload or not isinstance(payload[0], str) or len(payload[0]) > 16_384:
        return None
    wire = json.loads(payload[0])
    return {"url": wire.get("url"), "http_method": wire.get("method")}
