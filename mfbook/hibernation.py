"""Evicting idle objects whose only connections are hibernatable WebSockets.

An object that accepted sockets with ``ctx.acceptWebSocket`` and has nothing else going on
(no event in flight, its input gate open, no timer, no storage operation awaiting the host,
no socket accepted with ``accept()``) is *hibernated* after ``websocket_hibernation_idle_ms``:
its instance is dropped from the isolate, while the host keeps its sockets, their tags and
attachments (:mod:`mfbook.websocket_hub`). The next frame for one of them constructs the
object again (its constructor runs, ``blockConcurrencyWhile`` in it is respected) before
``webSocketMessage`` runs. ``Miniflare.hibernate`` forces it.

Trace events: ``ws.hibernate`` when the instance is dropped, ``ws.wake`` when a frame brings
it back (an object brought back by any other event is simply awake again).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .errors import MfbookError

if TYPE_CHECKING:
    from .runtime import Runtime
    from .scheduling import Actor

__all__ = ["Hibernation", "HibernationRefused"]

#: The default idle time before an object with only hibernatable sockets is evicted (workerd
#: evicts after about ten seconds without events).
DEFAULT_IDLE_MS = 10_000.0


class HibernationRefused(MfbookError):
    """``Miniflare.hibernate`` cannot evict the object now (the message says why)."""


class Hibernation:
    """Idle timers and eviction of objects with hibernatable WebSockets (engine lock held)."""

    def __init__(self, runtime: Runtime, *, idle_ms: float = DEFAULT_IDLE_MS) -> None:
        self._runtime = runtime
        self.idle_ms = idle_ms
        self._timers: dict[str, asyncio.TimerHandle] = {}
        #: Objects whose instance was dropped while their sockets stay open.
        self.hibernated: set[str] = set()

    def touch(self, actor: Actor) -> None:
        """The object did something: its idle time starts again."""
        timer = self._timers.pop(actor.key, None)
        if timer is not None:
            timer.cancel()
        self._timers[actor.key] = self._runtime.loop.call_later(self.idle_ms / 1000.0, self._idle, actor.key)

    def wake(self, actor: Actor) -> None:
        """A frame is about to be delivered to ``actor``: trace its wake-up if it was evicted."""
        if actor.key in self.hibernated:
            self.hibernated.discard(actor.key)
            self._emit("ws.wake", actor)

    def rebuilt(self, actor: Actor) -> None:
        """Some event (a frame or not) reaches ``actor``'s instance, so it is no longer evicted.

        Only a frame traces ``ws.wake`` (:meth:`wake`, called before its delivery is queued); an
        ordinary ``fetch`` or alarm constructs the object silently, and the next frame must not
        trace a wake-up that did not happen.
        """
        self.hibernated.discard(actor.key)

    def _idle(self, key: str) -> None:
        self._timers.pop(key, None)
        actor = self._runtime.actors.get(key)
        if actor is None or key in self.hibernated:
            return
        if not self._runtime.websockets.by_actor.get(key):
            return  # no hibernatable socket left: the object lives on as any other
        if self._busy(actor) is not None:
            self.touch(actor)  # try again after another idle period
            return
        try:
            self._evict(actor)
        except HibernationRefused:
            pass  # it awaits the host: _evict armed the timer again

    def hibernate(self, actor: Actor) -> None:
        """Evicts ``actor`` now (``Miniflare.hibernate``).

        Raises:
            HibernationRefused: the object is busy or holds sockets that cannot hibernate.
        """
        if actor.key in self.hibernated:
            return
        reason = self._busy(actor)
        if reason is not None:
            raise HibernationRefused(f"Durable Object {actor.name or actor.hex} cannot hibernate now: {reason}.")
        self._evict(actor)

    def _busy(self, actor: Actor) -> str | None:
        runtime = self._runtime
        if any(event.actor is actor for event in runtime.events.values()):
            return "it is handling an event"
        if not actor.gate.is_open:
            return "its input gate is closed"
        if runtime.websockets.has_plain_sockets(actor.key):
            return "it accepted a WebSocket with accept(), which cannot hibernate"
        worker = actor.worker
        if worker is not None and any(ctx.actor is actor for _, ctx, *_ in worker.timers.values()):
            return "it has a timer pending"
        return None

    def _evict(self, actor: Actor) -> None:
        worker = self._runtime.workers.get(actor.namespace.script_name)
        isolate = worker.isolate if worker is not None else None
        if isolate is not None and not isolate.broken and not isolate.hibernate_actor(actor.key):
            if actor.key in self._runtime.actors:
                self.touch(actor)
            raise HibernationRefused(
                f"Durable Object {actor.name or actor.hex} cannot hibernate now: it awaits a storage operation."
            )
        timer = self._timers.pop(actor.key, None)
        if timer is not None:
            timer.cancel()
        self.hibernated.add(actor.key)
        self._emit("ws.hibernate", actor, sockets=len(self._runtime.websockets.by_actor.get(actor.key, {})))

    def _emit(self, kind: str, actor: Actor, **data: object) -> None:
        trace = self._runtime.trace
        if trace.enabled:
            trace.emit(kind, data=dict(data), **self._runtime.object_fields(actor))

    def cancel_all(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
