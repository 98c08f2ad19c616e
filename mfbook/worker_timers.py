"""Workers' timers, and what the wall-clock limit does to them.

``setTimeout``/``setInterval`` in JS become loop timers here; each fires a ``fireTimer``
delivery in the context that set it. An event that outlives ``wall_limit_ms`` is ended
(:meth:`WorkerTimers.expire_event`, called by :class:`~mfbook.watchdog.WallClockWatchdog`), and
the timers of its request (and of the direct calls it made) are cancelled and never re-armed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .scheduling import Context, Delivery, Event, Worker

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["WorkerTimers"]


class WorkerTimers:
    """A part of :class:`~mfbook.runtime.Runtime`: timers of its workers (under the engine lock)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def expire_event(self, event: Event) -> None:
        """Ends an event still pending after ``wall_limit_ms`` (e.g. kept alive by timers)."""
        if event.event_id not in self._runtime.events:
            return
        limit_ms = self._runtime.wall_limit_ms
        envelope = {
            "name": "Error",
            "message": f"Worker exceeded the wall-clock time limit ({limit_ms:g} ms) for one request. "
            "Raise Miniflare(wall_limit_ms=...) if it is expected to take longer.",
            "stack": "",
            "limit": True,
        }
        self._runtime.finish_event(event, False, envelope)
        # Its timers (and those of the direct calls it made) would keep running for nobody,
        # and so would one that a timer callback already queued sets again.
        worker = event.worker
        event.request.expired = True
        for timer_id, (handle, ctx, *_) in list(worker.timers.items()):
            if ctx.request is event.request or event.request in self._runtime.calls.direct_callers(worker, ctx.request):
                handle.cancel()
                del worker.timers[timer_id]
                if ctx.request is not None:
                    ctx.request.expired = True

    def add(self, worker: Worker, ctx: Context, timer_id: int, ms: float, repeat: bool) -> None:
        if self._expired(worker, ctx):
            return  # set by a callback of a request the wall-clock limit ended

        def fire() -> None:
            entry = worker.timers.get(timer_id)
            if entry is None:
                return
            if self._expired(worker, ctx):
                del worker.timers[timer_id]
                return
            if repeat:
                handle = self._runtime.loop.call_later(max(ms, 1) / 1000, fire)
                worker.timers[timer_id] = (handle, ctx, repeat, ms)
            else:
                worker.timers.pop(timer_id, None)
            self._runtime.schedule(Delivery(worker, "fireTimer", (timer_id,), ctx, gated=True))

        handle = self._runtime.loop.call_later(ms / 1000, fire)
        worker.timers[timer_id] = (handle, ctx, repeat, ms)

    def _expired(self, worker: Worker, ctx: Context) -> bool:
        """Whether ``ctx`` belongs to a request the wall-clock limit ended (or to a direct call of one)."""
        request = ctx.request
        if request is None:
            return False
        return request.expired or any(caller.expired for caller in self._runtime.calls.direct_callers(worker, request))
