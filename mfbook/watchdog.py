"""The wall-clock limit of events, kept with one loop timer for all of them.

Every pending event (fetch, RPC, alarm) must end within ``wall_limit_ms`` of its start. A
timer per event would be simplest, but it is armed off the loop thread on every request and
waking the sleeping loop for it costs two thread switches each time (a third of a trivial
request's wall time in ``bench/do_bench.py``). The watchdog instead keeps one timer, due at
the earliest deadline it knows of; it is not cancelled when events finish early, and when it
fires it ends the overdue events and re-arms for the next deadline, if any event is left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

    from .loop import EngineScheduler
    from .scheduling import Event

__all__ = ["WallClockWatchdog"]


class WallClockWatchdog:
    """Ends events that outlive their deadline; call under the engine lock."""

    def __init__(
        self,
        loop: EngineScheduler,
        limit_s: Callable[[], float],
        pending: Callable[[], Iterable[Event]],
        expire: Callable[[Event], None],
    ) -> None:
        self._loop = loop
        self._limit_s = limit_s
        self._pending = pending
        self._expire = expire
        self._timer: asyncio.TimerHandle | None = None
        self._due = 0.0

    def started(self, event: Event) -> None:
        """Gives ``event`` its deadline (the limit from now)."""
        event.deadline = self._loop.time() + self._limit_s()
        self._arm(event.deadline)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            if self._due <= when:
                return  # fires first; it re-arms for the later deadlines
            self._timer.cancel()
        self._due = when
        self._timer = self._loop.call_later(max(0.0, when - self._loop.time()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = self._loop.time()
        for event in [event for event in self._pending() if event.deadline <= now]:
            self._expire(event)
        later = [event.deadline for event in self._pending()]
        if later:
            self._arm(min(later))

    def close(self) -> None:
        """Cancels the timer (the emulator is being disposed)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
