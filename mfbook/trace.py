"""The trace bus: an ordered, bounded, thread-safe log of what the emulator did.

Every request, storage operation, transaction step and alarm is recorded here so that
notebooks can *see* concurrency: the timeline widget draws transaction attempts from it and
the storage browser refreshes when a commit lands. ``mf.trace`` is an instance of
:class:`Trace`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Trace", "TraceEvent"]


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One thing that happened, with enough context to draw it.

    Attributes:
        seq: Position in the trace (monotonic, never reused).
        time: Seconds from the trace's clock (monotonic).
        kind: What happened, e.g. ``txn.conflict`` (see docs/ARCHITECTURE.md section 4).
        binding: Durable Object namespace binding, if about an object.
        object_id: Hex id of the object.
        object_name: The ``idFromName`` name when known.
        request_id: The request the event belongs to.
        txn_id: The transaction, for ``txn.*`` events.
        attempt: Attempt number of the transaction (1 for the first run).
        keys: Keys involved (read set, write set, conflicting keys...).
        data: Anything else worth showing (commit version, error text, durations).
    """

    seq: int
    time: float
    kind: str
    binding: str | None = None
    object_id: str | None = None
    object_name: str | None = None
    request_id: int | None = None
    txn_id: int | None = None
    attempt: int | None = None
    keys: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        """A plain dict (for pandas: ``pd.DataFrame(mf.trace.records())``)."""
        record = asdict(self)
        record["keys"] = list(self.keys)
        record["data"] = dict(self.data)
        return record


Subscriber = Callable[[TraceEvent], None]
# What the log holds: (seq, time, kind, other fields); made a TraceEvent when read.
_Raw = tuple[int, float, str, dict[str, Any]]


def _event(raw: _Raw) -> TraceEvent:
    return TraceEvent(raw[0], raw[1], raw[2], **raw[3])


class Trace:
    """Bounded event log with subscribers.

    Args:
        maxlen: How many events are kept; older ones are dropped first.
        clock: Monotonic clock in seconds (injectable so tests get exact output).
    """

    def __init__(self, *, maxlen: int = 50_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._events: deque[_Raw] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._clock = clock
        self._subscribers: list[Subscriber] = []
        self._txn_ids = itertools.count(1)
        self.enabled = True

    def emit(self, kind: str, **fields: Any) -> None:
        """Records an event and tells the subscribers (exceptions in them are swallowed).

        ``fields`` are :class:`TraceEvent` attributes. The emulator records several events per
        request, so they are kept as plain tuples and become ``TraceEvent`` objects only when
        read (or handed to a subscriber).
        """
        if not self.enabled:
            return
        with self._lock:
            raw = (next(self._seq), self._clock(), kind, fields)
            self._events.append(raw)
            if not self._subscribers:
                return
            subscribers = list(self._subscribers)
        event = _event(raw)
        for subscriber in subscribers:
            try:
                subscriber(event)
            except Exception:  # noqa: BLE001 - a broken widget must not break the emulator
                pass

    def new_txn_id(self) -> int:
        """A transaction id unique on this trace (ids start at 1 for every emulator)."""
        return next(self._txn_ids)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Calls ``callback(event)`` for every new event; returns the unsubscribe function.

        Callbacks run on the thread holding the engine lock (a caller's or the background
        one): keep them short (widgets throttle).
        """
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def events(self, *, kind: str | None = None, since: int = 0) -> list[TraceEvent]:
        """Events with ``seq > since``, optionally only those whose kind starts with ``kind``."""
        with self._lock:
            snapshot = list(self._events)
        return [_event(raw) for raw in snapshot if raw[0] > since and (kind is None or raw[2].startswith(kind))]

    def records(self, **filters: Any) -> list[dict[str, Any]]:
        """Events as plain dicts (see :meth:`events` for the filters)."""
        return [event.as_record() for event in self.events(**filters)]

    @property
    def last_seq(self) -> int:
        """Sequence number of the newest recorded event (0 when none is kept)."""
        with self._lock:
            return self._events[-1][0] if self._events else 0

    def clear(self) -> None:
        """Forgets every recorded event (subscribers stay)."""
        with self._lock:
            self._events.clear()

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self.events())

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)
