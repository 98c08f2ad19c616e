"""The wall-clock watchdog: one timer for every pending event's deadline."""

from __future__ import annotations

from typing import Any

from mfbook.scheduling import Event
from mfbook.watchdog import WallClockWatchdog


class FakeTimer:
    def __init__(self, when: float, callback: Any) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[FakeTimer] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Any) -> FakeTimer:
        timer = FakeTimer(self.now + delay, callback)
        self.timers.append(timer)
        return timer

    def run_until(self, when: float) -> None:
        self.now = when
        for timer in sorted(self.timers, key=lambda t: t.when):
            if timer.when <= when and not timer.cancelled:
                self.timers.remove(timer)
                timer.callback()

    def live(self) -> list[FakeTimer]:
        return [t for t in self.timers if not t.cancelled]


def _event(n: int) -> Event:
    return Event(n, None, None, lambda ok, value: None)  # type: ignore[arg-type]


def test_one_timer_serves_every_event_and_only_overdue_ones_expire() -> None:
    loop = FakeLoop()
    pending: dict[int, Event] = {}
    expired: list[int] = []

    def expire(event: Event) -> None:
        expired.append(event.event_id)
        del pending[event.event_id]

    watchdog = WallClockWatchdog(loop, lambda: 10.0, pending.values, expire)  # type: ignore[arg-type]
    for n in range(1, 4):
        loop.now = float(n)
        pending[n] = _event(n)
        watchdog.started(pending[n])
    assert [t.when for t in loop.live()] == [11.0]  # armed once, for the earliest deadline
    del pending[1]  # finished early: the timer stays, nothing is cancelled per request
    loop.run_until(11.0)
    assert expired == []
    assert [t.when for t in loop.live()] == [12.0]  # re-armed for the next deadline
    loop.run_until(12.5)
    assert expired == [2]
    loop.run_until(13.0)
    assert expired == [2, 3]
    assert loop.live() == []  # nothing pending: no timer


def test_an_earlier_deadline_rearms_and_close_cancels() -> None:
    loop = FakeLoop()
    pending: dict[int, Event] = {}
    limit = [10.0]
    watchdog = WallClockWatchdog(loop, lambda: limit[0], pending.values, lambda e: None)  # type: ignore[arg-type]
    pending[1] = _event(1)
    watchdog.started(pending[1])
    limit[0] = 2.0  # set_options lowered the limit
    pending[2] = _event(2)
    watchdog.started(pending[2])
    assert [t.when for t in loop.live()] == [2.0]
    watchdog.close()
    assert loop.live() == []
