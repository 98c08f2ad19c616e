"""Live updates: a throttle that turns a burst of trace events into few refreshes.

Trace subscribers run on the emulator thread and must not block it (storage reads from there
would deadlock). :class:`Throttle` only records that something changed; a timer thread runs
the refresh at most once per ``interval`` seconds, where blocking ``mf`` calls are fine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Throttle"]


class Throttle:
    """Calls ``action`` on a timer thread, at most once per ``interval`` after :meth:`poke`.

    Args:
        action: The refresh (exceptions are swallowed: a widget must not kill the timer).
        interval: Minimum seconds between two runs.
        clock: Monotonic clock (injectable for tests).

    >>> throttle = Throttle(lambda: print("refresh"), interval=0.2)
    >>> throttle.poke(); throttle.poke()   # one refresh, about 0 s from now
    """

    def __init__(
        self, action: Callable[[], None], *, interval: float = 0.2, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._action = action
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._last = float("-inf")
        self._closed = False
        self.runs = 0

    def poke(self) -> None:
        """Asks for a run; cheap and non-blocking (safe on the emulator thread)."""
        with self._lock:
            if self._closed or self._timer is not None:
                return
            delay = max(0.0, self._last + self.interval - self._clock())
            self._timer = threading.Timer(delay, self._run)
            self._timer.daemon = True
            self._timer.start()

    def _run(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed:
                return
            self._last = self._clock()
        try:
            self._action()
        except Exception:  # noqa: BLE001 - keep refreshing after a failed refresh
            pass
        self.runs += 1

    def close(self) -> None:
        """Cancels a pending run; later pokes do nothing."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None


class FlowControl:
    """Back-pressure for live updates: one unacknowledged update at a time, pause on a stall.

    The kernel sends an update, the front end acknowledges it after drawing it; updates that
    arrive meanwhile wait and go out together with the next one. When an update stays
    unacknowledged for ``stall_after`` seconds (the front end is flooded, or gone), the widget
    pauses live updates and says so.

    Args:
        stall_after: Seconds without an acknowledgement that count as a stall.
        clock: Monotonic clock (injectable for tests).

    >>> flow = FlowControl(stall_after=5)
    >>> flow.may_send(), flow.sent(3), flow.may_send(), flow.acked(3), flow.may_send()
    (True, None, False, None, True)
    """

    def __init__(self, *, stall_after: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_after = stall_after
        self._clock = clock
        self.in_flight: int | None = None
        self._sent_at = 0.0
        self.waiting = False

    def may_send(self) -> bool:
        """Whether an update may go out now (else it waits: ``waiting`` becomes True)."""
        if self.in_flight is None:
            return True
        self.waiting = True
        return False

    def sent(self, rev: int) -> None:
        self.in_flight = rev
        self._sent_at = self._clock()
        self.waiting = False

    def acked(self, rev: int) -> None:
        """The front end drew everything up to ``rev``."""
        if self.in_flight is not None and rev >= self.in_flight:
            self.in_flight = None

    def reset(self) -> None:
        """Forgets the update in flight (a front end asked for everything again)."""
        self.in_flight = None
        self.waiting = False

    def stalled(self) -> bool:
        return self.in_flight is not None and self._clock() - self._sent_at > self.stall_after
