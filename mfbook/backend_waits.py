"""Letting go of the engine lock while a thread waits on a remote backend (Redis).

The engine runs every isolate and all runtime state under ONE lock (:mod:`mfbook.loop`), and
storage operations call their backend synchronously under it. For a local backend that is
cheap; for Redis a stalled server held the lock for the whole socket timeout, so a request
that touched no storage at all (another worker, another object, a plain ``fetch``) waited
for it too.

A :class:`BackendWaits` lets a thread that is about to block on Redis release the engine lock
for exactly that wait (a *window*), when that is safe:

- only between deliveries of JavaScript (``runtime.current is None``): no isolate is on this
  thread's stack, so other threads may run any isolate, including the same one;
- the object whose storage is being read or written is *busy* for the window. Deliveries
  for a busy object are set aside and queued again (ahead of the rest, in their order) when
  its window closes, and anything else that would touch its storage (a storage operation of
  another delivery, the Python storage API) waits for the window to close. So the object's
  operations still run one at a time and in program order, as they did under the lock;
- the engine's per-thread bookkeeping (``EmulatorLoop.owner``, ``Runtime._driver``) is put
  back when the lock is taken again, and while any window is open the hang detection
  (``Runtime._fail_hung_events``) waits: work set aside is not work that can never happen.

Everything else keeps running while Redis stalls; the operations that do need it fail after
the socket timeout (``redis_options={"socket_timeout": s}``, default 5 s).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .loop import EmulatorLoop
    from .runtime import Runtime
    from .scheduling import Delivery

__all__ = ["BackendWaits"]


class BackendWaits:
    """Windows without the engine lock around remote backend I/O, and who must wait for them."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._engine: EmulatorLoop | None = None
        self._idle: threading.Condition | None = None
        #: Objects (``"binding:hex"``) with a window open, and how many.
        self._busy: Counter[str] = Counter()
        self._deferred: list[tuple[str, Delivery]] = []

    def attach(self, engine: EmulatorLoop) -> None:
        """Windows release ``engine``'s lock from now on (until then they are no-ops)."""
        self._engine = engine
        self._idle = threading.Condition(engine.lock)

    @property
    def active(self) -> bool:
        """Whether some thread waits on a backend without the engine lock now."""
        return bool(self._busy)

    @contextmanager
    def window(self, scope: str) -> Iterator[None]:
        """Runs the body without the engine lock if this thread holds it between deliveries.

        Args:
            scope: The object (``"binding:hex"``) whose storage the body reads or writes.
        """
        engine, runtime = self._engine, self._runtime
        if engine is None or runtime.current is not None or not engine.in_engine():
            yield
            return
        owner, driver = engine.owner, runtime._driver
        self._busy[scope] += 1
        engine.owner = None
        engine.lock.release()
        try:
            yield
        finally:
            engine.lock.acquire()
            engine.owner, runtime._driver = owner, driver
            self._busy[scope] -= 1
            if not self._busy[scope]:
                del self._busy[scope]
                self._release(scope)

    def _release(self, scope: str) -> None:
        waiting = [delivery for held, delivery in self._deferred if held == scope]
        if waiting:
            self._deferred = [(held, delivery) for held, delivery in self._deferred if held != scope]
            self._runtime._requeue(waiting)
        elif self._runtime.events:
            self._runtime._want_pump()  # the hang check skipped meanwhile runs again
        assert self._idle is not None
        self._idle.notify_all()

    def defers(self, delivery: Delivery) -> bool:
        """Sets ``delivery`` aside if its object is busy; it is queued again when it is not."""
        actor = delivery.ctx.actor
        if actor is None or actor.key not in self._busy:
            return False
        self._deferred.append((actor.key, delivery))
        return True

    def wait_idle(self, scope: str) -> None:
        """Blocks (without the engine lock) while object ``scope`` has a window open."""
        if scope not in self._busy or self._idle is None or self._engine is None:
            return
        engine, runtime = self._engine, self._runtime
        owner, driver = engine.owner, runtime._driver
        engine.owner = None
        try:
            while scope in self._busy:
                self._idle.wait()
        finally:
            engine.owner, runtime._driver = owner, driver
