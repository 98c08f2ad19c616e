"""One object, one process: run an object here if we hold its lease, else forward to its owner.

With Redis persistence every emulator process (a ``Miniflare``) has an owner id and an inbox.
An event for a Durable Object (a stub call from Python, ``dispatch_fetch`` reaching it through
the entry worker, a stub call from another object, an alarm) first asks :meth:`Placement.dispatch`:

- if this process holds the object's lease (:mod:`mfbook.placement.leases`), or can take it
  (free or expired), the event runs here, as without ownership;
- else the event is *forwarded* to the owner's inbox and its answer comes back through ours,
  so the object's input gate, in-memory state and alarms are those of the one instance.

**Transport: Redis pub/sub, not streams.** A forwarded request must run at most once, never
silently twice. ``PUBLISH`` delivers to the subscribers connected *now* and returns how many
there were: 0 tells at once that the owner is gone (its connection closed when it died), and the
request was certainly not delivered, so it is safe to send again once the lease has expired
and another process (maybe this one) owns the object. A stream would keep the message for a
consumer that may be dead, and a new owner reading it would run a request whose sender may have
given up (or run it a second time if the dead owner had done it already); pub/sub's
at-most-once delivery is exactly what the guarantee needs, and it costs one round trip.

**Failures.** A lease is renewed every third of its time by a background thread; a process that
is killed stops renewing, and the next request after expiry is served elsewhere from the
committed storage. A request forwarded to an owner that stops renewing (killed or paused while
handling it) fails with :data:`OWNER_LOST` once the lease expires or changes hands: it may have
run, so it is not sent again. A paused owner that comes back still believes it owns the object;
its commits carry the lease value they were made under (:meth:`fence_for`), and the commit
script refuses them once the lease has another value (``OwnershipLost``).

The owner runs forwarded events exactly like its own; Python's storage API works from any
process (its writes are serializable commits, not fenced unless this process once owned the
object).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis

from ..backends.base import BackendError
from .leases import Lease, LeaseTable, owner_of

if TYPE_CHECKING:
    from ..backends.redis import RedisBackend
    from ..loop import EmulatorLoop
    from ..runtime import Runtime

__all__ = ["OWNER_LOST", "Placement"]

logger = logging.getLogger("mfbook")

OWNER_LOST = (
    "Durable Object {binding} {hex}: its owner process ({owner}) stopped answering while it handled "
    "this forwarded request (its ownership lease expired or passed to another process). The request "
    "was not sent again, as it may have run there."
)
_MAX_HOPS = 100  # forwarding attempts of one request (an owner gone: one per 100 ms at most)
_RETRY_S = 0.1

Done = Callable[[bool, Any], None]


@dataclass
class _Pending:
    """A request forwarded by this process, waiting for the owner's answer."""

    binding: str
    hex: str
    lease: str
    done: Done


class Placement:
    """Leases held by this process, its inbox, and the requests it forwarded."""

    def __init__(
        self,
        *,
        backend: RedisBackend,
        lease_ms: int,
        engine: EmulatorLoop,
        runtime: Runtime,
    ) -> None:
        self._backend = backend
        self.owner_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._prefix = backend.prefix
        self._lease_ms = lease_ms
        self.leases: LeaseTable | None = None
        self._engine = engine
        self._runtime = runtime
        self._lock = threading.Lock()
        #: Objects this process runs: "binding:hex" -> lease value.
        self.held: dict[str, str] = {}
        #: The lease value each object's writes are fenced with (kept after the lease is lost,
        #: so that the writes of a paused owner are refused, until a new lease replaces it).
        self._fences: dict[str, str] = {}
        self._pending: dict[str, _Pending] = {}
        self._stop = threading.Event()
        self._closing = threading.Event()  # the inbox stops listening (hand_over)
        self._serving = 0  # forwarded events running here now
        self._pubsub: Any = None
        self._threads: list[threading.Thread] = []

    @property
    def client(self) -> Any:
        """The backend's redis-py client (a cluster client for a Redis Cluster)."""
        return self._backend.client

    def _table(self) -> LeaseTable:
        if self.leases is None:
            self.leases = LeaseTable(self.client, self._prefix, lease_ms=self._lease_ms)
        return self.leases

    def _publish(self, channel: str, message: dict[str, Any]) -> int:
        # In a cluster, PUBLISH counts only the subscribers on the node it reached; a sharded
        # channel lives on one node (its slot's), so SPUBLISH counts the owner's inbox exactly.
        client = self.client  # connects first: then the backend knows whether it is a cluster
        publish = client.spublish if self._backend.cluster else client.publish
        return int(publish(channel, json.dumps(message)))

    def _start(self) -> None:
        """Subscribes to the inbox and starts the threads, before the first lease is taken."""
        self._pubsub = self.client.pubsub()
        if self._backend.cluster:
            self._pubsub.ssubscribe(self.inbox)
        else:
            self._pubsub.subscribe(self.inbox)
        self._threads = [
            threading.Thread(target=self._listen, name="mfbook-placement-inbox", daemon=True),
            threading.Thread(target=self._keep, name="mfbook-placement-leases", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @property
    def inbox(self) -> str:
        return self.inbox_of(self.owner_id)

    def inbox_of(self, owner: str) -> str:
        return f"{self._prefix}inbox:{owner}"

    # ------------------------------------------------------------------ routing (engine lock held)
    def fence_for(self, scope: str) -> str | None:
        """The lease value commits of object ``scope`` must still find (None: not fenced)."""
        return self._fences.get(scope)

    def owner(self, binding: str, object_hex: str) -> str | None:
        """Who runs the object now (``None``: nobody holds its lease)."""
        scope = f"{binding}:{object_hex}"
        if scope in self.held:
            return self.owner_id
        value = self._table().holder(binding, object_hex)
        return None if value is None else owner_of(value)

    def dispatch(
        self,
        binding: str,
        object_hex: str,
        name: str | None,
        kind: str,
        payload: tuple[Any, ...],
        done: Done,
        run_here: Callable[[], None],
        *,
        hops: int = 0,
    ) -> None:
        """Runs the event here (``run_here()``) if this process owns the object, else forwards it."""
        scope = f"{binding}:{object_hex}"
        if scope in self.held:
            run_here()
            return
        try:
            lease = self._acquire(binding, object_hex)
        except (redis.RedisError, BackendError) as error:
            done(False, {"name": "Error", "message": f"Could not reach Redis to find the object's owner: {error}"})
            return
        if lease.ours:
            run_here()
            return
        self._forward(binding, object_hex, name, kind, payload, done, run_here, lease, hops)

    def claims(self, binding: str, object_hex: str) -> bool:
        """Whether this process runs the object (taking its lease if it is free)."""
        scope = f"{binding}:{object_hex}"
        return scope in self.held or self._acquire(binding, object_hex).ours

    def _acquire(self, binding: str, object_hex: str) -> Lease:
        scope = f"{binding}:{object_hex}"
        if not self._threads:
            self._start()
        with self._runtime.waits.window(scope):  # other objects run meanwhile
            lease = self._table().acquire(binding, object_hex, self.owner_id)
        if lease.ours:
            with self._lock:
                previous = self._fences.get(scope)
                self.held[scope] = lease.value
                self._fences[scope] = lease.value
            if previous is not None and previous != lease.value:
                self._forget_instance(scope)  # its memory is from before another owner ran it
            self._runtime.trace.emit(
                "object.owner", binding=binding, object_id=object_hex, data={"owner": self.owner_id}
            )
        return lease

    def _forget_instance(self, scope: str) -> None:
        actor = self._runtime.actors.pop(scope, None)
        if actor is not None and actor.worker is not None and actor.worker.isolate is not None:
            actor.worker.isolate.drop_actor(scope)

    def _forward(
        self,
        binding: str,
        object_hex: str,
        name: str | None,
        kind: str,
        payload: tuple[Any, ...],
        done: Done,
        run_here: Callable[[], None],
        lease: Lease,
        hops: int,
    ) -> None:
        def again() -> None:
            if hops >= _MAX_HOPS:
                done(False, {"name": "Error", "message": f"Durable Object {binding} {object_hex}: no owner answered."})
                return
            self.dispatch(binding, object_hex, name, kind, payload, done, run_here, hops=hops + 1)

        request_id = uuid.uuid4().hex
        message = {
            "t": "req",
            "id": request_id,
            "reply": self.inbox,
            "from": self.owner_id,
            "kind": kind,
            "b": binding,
            "h": object_hex,
            "n": name,
            "p": list(payload),
        }
        with self._lock:
            self._pending[request_id] = _Pending(binding, object_hex, lease.value, done)
        self._runtime.trace.emit(
            "request.forward",
            binding=binding,
            object_id=object_hex,
            object_name=name,
            data={"kind": kind, "owner": lease.owner, "from": self.owner_id},
        )
        try:
            receivers = self._publish(self.inbox_of(lease.owner), message)
        except redis.RedisError as error:
            with self._lock:
                self._pending.pop(request_id, None)
            done(False, {"name": "Error", "message": f"Could not forward the request to the object's owner: {error}"})
            return
        if receivers:
            return
        # Nobody listens: the owner died with its lease still running. Not delivered, so it is
        # safe to try again when the lease has expired (then this process may take it).
        with self._lock:
            self._pending.pop(request_id, None)
        timer = threading.Timer(min(max(lease.ttl_ms, 10) / 1000, _RETRY_S), lambda: self._post(again))
        timer.daemon = True
        timer.start()

    def _post(self, function: Callable[[], None]) -> None:
        try:
            self._engine.post(function)
        except Exception:  # noqa: BLE001 - disposed meanwhile: nobody waits any more
            pass

    # ------------------------------------------------------------------ the inbox thread
    def _listen(self) -> None:
        """Reads the inbox until :meth:`hand_over`: then unsubscribes, and still serves what
        was published before the server took the unsubscription (it comes first)."""
        cluster = self._backend.cluster
        leaving = False
        while not self._stop.is_set():
            try:
                if self._closing.is_set() and not leaving:
                    leaving = True
                    if cluster:
                        self._pubsub.sunsubscribe(self.inbox)
                    else:
                        self._pubsub.unsubscribe(self.inbox)
                if cluster:
                    message = self._pubsub.get_sharded_message(timeout=0.2)
                else:
                    message = self._pubsub.get_message(timeout=0.2)
            except (redis.RedisError, ValueError, OSError):
                if self._closing.is_set():
                    return
                self._stop.wait(0.2)
                continue
            kind = message.get("type") if message is not None else None
            if kind in ("unsubscribe", "sunsubscribe") and leaving:
                return
            if kind not in ("message", "smessage"):
                continue
            assert message is not None
            try:
                body = json.loads(message["data"])
            except ValueError:
                continue
            if body.get("t") == "req":
                self._post(functools.partial(self._serve, body))
            elif body.get("t") == "rep":
                self._answer(body)

    def _answer(self, body: dict[str, Any]) -> None:
        with self._lock:
            pending = self._pending.pop(str(body.get("id")), None)
        if pending is None:
            return  # given up already (its owner was lost)
        if body.get("moved"):
            self._post(lambda: pending.done(False, {"name": "Error", "message": str(body.get("message"))}))
        else:
            self._post(lambda: pending.done(bool(body.get("ok")), body.get("v")))

    def _serve(self, body: dict[str, Any]) -> None:
        """Runs a forwarded event (on the loop thread, under the engine lock)."""
        binding, object_hex, kind = str(body["b"]), str(body["h"]), str(body["kind"])

        def reply(ok: bool, value: Any) -> None:
            if counted:
                counted.clear()
                self._serving -= 1
            answer = {"t": "rep", "id": body["id"], "ok": ok, "v": value}
            try:
                self._publish(str(body["reply"]), answer)
            except redis.RedisError:
                logger.exception("could not answer a forwarded request")

        counted: list[bool] = []
        runtime = self._runtime
        namespace = runtime.find_namespace(binding)
        if namespace is None:
            reply(False, {"name": "Error", "message": f"No Durable Object namespace {binding!r} in the owner process."})
            return
        if kind == "alarm":
            runtime.alarms.schedule(runtime.storage_for(namespace, object_hex))
            return

        def run_here() -> None:
            try:
                actor = runtime.actor_for(namespace, object_hex, body.get("n"))
                assert actor.worker is not None
                request = runtime.new_request(None)
                counted.append(True)
                self._serving += 1
                trace = {"forwarded_from": body.get("from")}
                if kind == "rpc":
                    trace["method"] = body["p"][0]
                runtime.start_event(kind, actor.worker, actor, request, tuple(body["p"]), reply, trace_data=trace)
            except Exception as error:  # noqa: BLE001 - becomes the caller's rejection
                reply(False, {"name": "Error", "message": str(error)})

        self.dispatch(binding, object_hex, body.get("n"), kind, tuple(body["p"]), reply, run_here, hops=_MAX_HOPS)

    def nudge_alarm(self, binding: str, object_hex: str) -> None:
        """Asks the object's owner to (re)schedule its alarm from storage."""
        value = self._table().holder(binding, object_hex)
        if value is None:
            return
        message = {
            "t": "req",
            "id": uuid.uuid4().hex,
            "reply": self.inbox,
            "kind": "alarm",
            "b": binding,
            "h": object_hex,
        }
        self._publish(self.inbox_of(owner_of(value)), message)

    # ------------------------------------------------------------------ the lease thread
    def _keep(self) -> None:
        period = self._lease_ms / 3000
        while not self._stop.wait(period):
            try:
                self._renew_all()
                self._check_pending()
            except redis.RedisError as error:
                logger.warning("could not renew Durable Object leases: %s", error)

    def _renew_all(self) -> None:
        with self._lock:
            held = list(self.held.items())
        for scope, value in held:
            binding, object_hex = scope.rsplit(":", 1)
            if not self._table().renew(binding, object_hex, value):
                with self._lock:
                    if self.held.get(scope) == value:
                        del self.held[scope]
                logger.warning("lost the ownership lease of Durable Object %s", scope)

    def _check_pending(self) -> None:
        with self._lock:
            pending = list(self._pending.items())
        holders: dict[str, str | None] = {}
        for request_id, item in pending:
            scope = f"{item.binding}:{item.hex}"
            if scope not in holders:
                holders[scope] = self._table().holder(item.binding, item.hex)
            if holders[scope] == item.lease:
                continue
            with self._lock:
                if self._pending.pop(request_id, None) is None:
                    continue
            message = OWNER_LOST.format(binding=item.binding, hex=item.hex, owner=owner_of(item.lease))
            self._post(functools.partial(item.done, False, {"name": "Error", "message": message}))

    # ------------------------------------------------------------------ shutdown
    async def hand_over(self, *, timeout: float = 10.0) -> None:
        """Stops taking forwarded requests and lets those running here finish (on the loop).

        Senders that publish afterwards find no subscriber and try again until the leases
        are released (:meth:`close`) and another process takes the objects.
        """
        self._closing.set()
        deadline = time.monotonic() + timeout
        inbox = next((thread for thread in self._threads if thread.name == "mfbook-placement-inbox"), None)
        while inbox is not None and inbox.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.01)  # what the inbox handed over last starts (self._serve)
        while self._serving and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._pubsub is not None:
            try:
                self._pubsub.close()  # the server forgets the subscription
            except (redis.RedisError, OSError):
                pass
            self._pubsub = None

    def close(self) -> None:
        """Releases every lease, stops the threads and fails what still waits on an owner."""
        self._stop.set()
        self._closing.set()
        with self._lock:
            held, self.held = self.held, {}
            pending, self._pending = self._pending, {}
        for scope, value in held.items():
            binding, object_hex = scope.rsplit(":", 1)
            try:
                self._table().release(binding, object_hex, value)
            except redis.RedisError:
                pass
        for item in pending.values():
            item.done(False, {"name": "Error", "message": "The emulator was disposed.", "stack": ""})
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2)
        if self._pubsub is not None:
            try:
                self._pubsub.close()
            except (redis.RedisError, OSError):
                pass
