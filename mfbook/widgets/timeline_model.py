"""The transaction timeline's model: attempts as bars, built from trace events.

Each ``txn.begin`` opens a bar; ``txn.commit``, ``txn.conflict``, ``txn.rollback`` and
``txn.giveup`` close it with an outcome. ``txn.retry`` links the new attempt to the one it
replaces. Plain commits (``storage.commit``, e.g. a write from Python) become commit marks, so
a conflict can point at the commit that won. Feed events in any batches; ``seq`` dedupes.

>>> model = TimelineModel()
>>> model.feed(mf.trace.events())       # doctest: +SKIP
>>> [(bar.txn_id, bar.outcome) for bar in model.bars()]   # doctest: +SKIP
[(1, 'conflict'), (2, 'committed')]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..trace import TraceEvent

__all__ = ["Bar", "CommitMark", "Lane", "TimelineModel"]

OUTCOMES = ("open", "committed", "conflict", "rolledback", "giveup")


@dataclass
class Bar:
    """One transaction attempt.

    Attributes:
        txn_id: The attempt's transaction id.
        lane: Lane key (``binding:object`` or ``request N``).
        attempt: 1 for a first run.
        start: Seconds on the trace clock at ``txn.begin``.
        end: When it closed, or None while open.
        outcome: ``open``, ``committed``, ``conflict``, ``rolledback`` or ``giveup``.
        request_id: The request that ran it (None for Python transactions).
        retry_of: txn_id of the attempt this one replaces.
        retried_by: txn_id of the attempt that replaced this one.
        read_keys: Keys read (the validated read set).
        write_keys: Keys written.
        conflict_keys: Keys another commit wrote under this attempt.
        read_version: Commit version the attempt read at.
        version: Commit version it produced (committed attempts).
        winning_version: Version of the commit it lost to (conflicts).
        reason: Why it rolled back.
    """

    txn_id: int
    lane: str
    attempt: int
    start: float
    end: float | None = None
    outcome: str = "open"
    request_id: int | None = None
    retry_of: int | None = None
    retried_by: int | None = None
    read_keys: list[str] = field(default_factory=list)
    write_keys: list[str] = field(default_factory=list)
    conflict_keys: list[str] = field(default_factory=list)
    read_version: int | None = None
    version: int | None = None
    winning_version: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class CommitMark:
    """A commit on a lane (transactional or not), by its version.

    Attributes:
        lane: Lane key of the object.
        time: Trace clock seconds.
        version: The object's commit version.
        keys: Keys written.
        txn_id: The transaction that committed, or None for a plain write.
    """

    lane: str
    time: float
    version: int
    keys: tuple[str, ...]
    txn_id: int | None = None


@dataclass(frozen=True)
class Lane:
    """A row of the timeline.

    Attributes:
        key: ``binding:name-or-id`` (or ``request N`` when lanes are per request).
        label: What the lane shows.
        object_key: The object's ``binding:name-or-id`` (for the object filter).
    """

    key: str
    label: str
    object_key: str


def object_key(event: TraceEvent) -> str:
    """``binding:name`` (or ``binding:`` + 12 hex digits) of the event's object."""
    who = event.object_name if event.object_name is not None else (event.object_id or "?")[:12]
    return f"{event.binding}:{who}"


#: SQL statements kept per request for the details panel.
SQL_PER_REQUEST = 50


class TimelineModel:
    """Bars, lanes and commit marks, updated incrementally from trace events.

    Args:
        lanes: ``"object"`` (one lane per object) or ``"request"`` (one per request; Python
            transactions share a ``python`` lane per object).
        max_bars: Oldest bars are dropped beyond this.
    """

    def __init__(self, *, lanes: str = "object", max_bars: int = 5000) -> None:
        if lanes not in ("object", "request"):
            raise ValueError('lanes must be "object" or "request"')
        self.lane_mode = lanes
        self.max_bars = max_bars
        self.last_seq = 0
        self.origin: float | None = None
        self.latest: float | None = None
        self._bars: dict[int, Bar] = {}
        self._lanes: dict[str, Lane] = {}
        self._commits: dict[tuple[str, int], CommitMark] = {}
        #: SQL statements by request id (statement, rows read, rows written, ms), at most
        #: ``SQL_PER_REQUEST`` each, for the details of that request's transactions.
        self._sql: dict[int, list[tuple[str, int, int, float]]] = {}

    # ------------------------------------------------------------------ feeding
    def feed(self, events: Iterable[TraceEvent]) -> bool:
        """Applies new events (those with ``seq`` beyond the last seen); returns whether any was new."""
        changed = False
        for event in events:
            if event.seq <= self.last_seq:
                continue
            self.last_seq = event.seq
            if self.origin is None:
                self.origin = event.time
            self.latest = event.time
            if event.kind.startswith("txn.") or event.kind == "storage.commit":
                self._apply(event)
                changed = True
            elif event.kind == "sql.exec" and event.request_id is not None:
                statements = self._sql.setdefault(event.request_id, [])
                if len(statements) < SQL_PER_REQUEST:
                    data = event.data
                    statements.append((data["statement"], data["rows_read"], data["rows_written"], data["ms"]))
                    changed = True
        if len(self._bars) > self.max_bars:
            for txn_id in sorted(self._bars)[: len(self._bars) - self.max_bars]:
                del self._bars[txn_id]
        if len(self._sql) > self.max_bars:
            for request_id in sorted(self._sql)[: len(self._sql) - self.max_bars]:
                del self._sql[request_id]
        return changed

    def _lane_for(self, event: TraceEvent) -> str:
        obj = object_key(event)
        if self.lane_mode == "request":
            key = f"request {event.request_id}" if event.request_id is not None else f"python {obj}"
            label = f"{key} · {obj}" if event.request_id is not None else key
        else:
            key = label = obj
        if key not in self._lanes:
            self._lanes[key] = Lane(key, label, obj)
        return key

    def _apply(self, event: TraceEvent) -> None:
        kind = event.kind
        data = event.data
        if kind == "storage.commit":
            lane = self._lane_for(event)
            self._commits[(object_key(event), data["version"])] = CommitMark(
                lane, event.time, data["version"], event.keys
            )
            return
        if event.txn_id is None:
            return
        if kind == "txn.begin":
            self._bars[event.txn_id] = Bar(
                event.txn_id,
                self._lane_for(event),
                event.attempt or 1,
                event.time,
                request_id=event.request_id,
                read_version=data.get("read_version"),
            )
            return
        bar = self._bars.get(event.txn_id)
        if bar is None:
            return
        if kind == "txn.read":
            bar.read_keys.extend(key for key in event.keys if key not in bar.read_keys)
        elif kind == "txn.write":
            bar.write_keys.extend(key for key in event.keys if key not in bar.write_keys)
        elif kind == "txn.retry":
            bar.retry_of = data.get("replaces")
            replaced = self._bars.get(bar.retry_of) if bar.retry_of is not None else None
            if replaced is not None:
                replaced.retried_by = bar.txn_id
        elif kind == "txn.commit":
            self._close(bar, event, "committed")
            bar.version = data.get("version")
            bar.read_keys = list(data.get("read_keys", bar.read_keys))
            bar.write_keys = list(data.get("write_keys", bar.write_keys))
            if bar.version is not None:
                self._commits[(object_key(event), bar.version)] = CommitMark(
                    bar.lane, event.time, bar.version, event.keys, bar.txn_id
                )
        elif kind == "txn.conflict":
            self._close(bar, event, "conflict")
            bar.conflict_keys = list(event.keys)
            bar.winning_version = data.get("winning_version")
            bar.read_keys = list(data.get("read_keys", bar.read_keys))
            bar.write_keys = list(data.get("write_keys", bar.write_keys))
        elif kind == "txn.giveup":
            self._close(bar, event, "giveup")
            bar.conflict_keys = list(event.keys) or bar.conflict_keys
        elif kind == "txn.rollback":
            self._close(bar, event, "rolledback")
            bar.reason = data.get("reason")

    @staticmethod
    def _close(bar: Bar, event: TraceEvent, outcome: str) -> None:
        bar.end = event.time
        bar.outcome = outcome

    # ------------------------------------------------------------------ reading
    def bars(self, *, objects: Iterable[str] | None = None) -> list[Bar]:
        """Bars in begin order, optionally only those of the given object keys."""
        wanted = None if objects is None else set(objects)
        return [
            bar for _, bar in sorted(self._bars.items()) if wanted is None or self._lanes[bar.lane].object_key in wanted
        ]

    def lanes(self, *, objects: Iterable[str] | None = None) -> list[Lane]:
        wanted = None if objects is None else set(objects)
        used = {bar.lane for bar in self._bars.values()} | {mark.lane for mark in self._commits.values()}
        return [
            lane for key, lane in self._lanes.items() if key in used and (wanted is None or lane.object_key in wanted)
        ]

    def object_keys(self) -> list[str]:
        return list(dict.fromkeys(lane.object_key for lane in self._lanes.values()))

    def commits(self) -> list[CommitMark]:
        return sorted(self._commits.values(), key=lambda mark: mark.time)

    def winner(self, bar: Bar) -> CommitMark | None:
        """The commit a conflicted attempt lost to, when it is on the trace."""
        if bar.winning_version is None:
            return None
        return self._commits.get((self._lanes[bar.lane].object_key, bar.winning_version))

    def counts(self) -> dict[str, int]:
        """Attempts per outcome, plus ``retry`` for attempts that replace another."""
        counts = dict.fromkeys(OUTCOMES, 0)
        counts["retry"] = 0
        for bar in self._bars.values():
            counts[bar.outcome] += 1
            counts["retry"] += bar.retry_of is not None
        return counts

    def ms(self, seconds: float) -> float:
        """Trace clock seconds as ms since the first event."""
        return round((seconds - (self.origin or 0.0)) * 1000, 3)

    def rows(self, bars: list[Bar]) -> dict[int, int]:
        """Packs overlapping bars of a lane into rows: txn_id -> row (a retry keeps its row if free)."""
        rows: dict[int, int] = {}
        ends: dict[str, list[float]] = {}
        for bar in sorted(bars, key=lambda item: (item.start, item.txn_id)):
            lane_ends = ends.setdefault(bar.lane, [])
            end = bar.end if bar.end is not None else float("inf")
            free = [row for row, last in enumerate(lane_ends) if last <= bar.start]
            preferred = rows.get(bar.retry_of) if bar.retry_of is not None else None
            row = preferred if preferred in free else (free[0] if free else len(lane_ends))
            if row == len(lane_ends):
                lane_ends.append(end)
            else:
                lane_ends[row] = end
            rows[bar.txn_id] = row
        return rows

    def sql_of(self, request_id: int | None) -> list[dict[str, Any]]:
        """The SQL statements the request ran (first ``SQL_PER_REQUEST``), for its details."""
        if request_id is None:
            return []
        return [
            {"statement": statement, "rows_read": read, "rows_written": written, "ms": round(ms, 3)}
            for statement, read, written, ms in self._sql.get(request_id, ())
        ]

    def to_json(self, *, objects: Iterable[str] | None = None) -> dict[str, Any]:
        """Everything the front end draws, with times in ms since the first event.

        Args:
            objects: Only these object keys (``binding:name``); None for all.
        """
        wanted = None if objects is None else list(objects)
        selected = self.bars(objects=wanted)
        rows = self.rows(selected)
        bars: list[dict[str, Any]] = []
        for bar in selected:
            winner = self.winner(bar)
            bars.append(
                {
                    "txn_id": bar.txn_id,
                    "lane": bar.lane,
                    "row": rows[bar.txn_id],
                    "attempt": bar.attempt,
                    "start": self.ms(bar.start),
                    "end": None if bar.end is None else self.ms(bar.end),
                    "outcome": bar.outcome,
                    "request_id": bar.request_id,
                    "retry_of": bar.retry_of,
                    "retried_by": bar.retried_by,
                    "read": bar.read_keys,
                    "write": bar.write_keys,
                    "conflict_keys": bar.conflict_keys,
                    "read_version": bar.read_version,
                    "version": bar.version,
                    "winning_version": bar.winning_version,
                    "winner_time": None if winner is None else self.ms(winner.time),
                    "winner_txn": None if winner is None else winner.txn_id,
                    "reason": bar.reason,
                }
            )
            statements = self.sql_of(bar.request_id)
            if statements:
                bars[-1]["sql"] = statements
        depth: dict[str, int] = {}
        for txn_id, row in rows.items():
            lane_key = self._bars[txn_id].lane
            depth[lane_key] = max(depth.get(lane_key, 0), row + 1)
        lanes = [
            {"key": lane.key, "label": lane.label, "object": lane.object_key, "rows": depth.get(lane.key, 1)}
            for lane in self.lanes(objects=wanted)
        ]
        shown = {lane["key"] for lane in lanes}
        commits = [
            {
                "lane": mark.lane,
                "time": self.ms(mark.time),
                "version": mark.version,
                "keys": list(mark.keys),
                "txn_id": mark.txn_id,
            }
            for mark in self.commits()
            if mark.lane in shown
        ]
        return {
            "lanes": lanes,
            "bars": bars,
            "commits": commits,
            "objects": self.object_keys(),
            "end": 0.0 if self.latest is None else self.ms(self.latest),
            "counts": self.counts(),
        }
