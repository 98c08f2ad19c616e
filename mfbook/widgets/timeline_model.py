"""The transaction timeline's model: attempts as bars, built from trace events.

Each ``txn.begin`` opens a bar; ``txn.commit``, ``txn.conflict``, ``txn.rollback`` and
``txn.giveup`` close it with an outcome. ``txn.retry`` links the new attempt to the one it
replaces; the attempts of one transaction (a first attempt and its retries) share a row. The
time from a request's ``request.start`` to its transaction's first attempt is the transaction's
*wait* (queued behind the object's input gate). Plain commits (``storage.commit``, e.g. a write
from Python) become commit marks, so a conflict can point at the commit that won. The
``sql.exec`` statements of a request (SQLite-backed objects) go with its attempts' details. Feed events in
any batches; ``seq`` dedupes.

Every change bumps :attr:`TimelineModel.revision` and stamps what changed with it, so a live
front end receives only :meth:`TimelineModel.delta` (what changed since the revision it has),
not the whole timeline.

>>> model = TimelineModel()
>>> model.feed(mf.trace.events())       # doctest: +SKIP
>>> [(bar.txn_id, bar.outcome) for bar in model.bars()]   # doctest: +SKIP
[(1, 'conflict'), (2, 'committed')]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..trace import TraceEvent
from .timeline_axis import LEGEND, fit_axis, summary
from .timeline_items import OUTCOMES, Bar, CommitMark, Lane, RequestSql, Transaction, object_key

__all__ = ["Bar", "CommitMark", "Lane", "TimelineModel", "Transaction"]


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
        if max_bars < 1:
            raise ValueError("max_bars must be at least 1")
        self.lane_mode = lanes
        self.max_bars = max_bars
        self.last_seq = 0
        self.revision = 0
        self.total_attempts = 0
        self.origin: float | None = None
        self.latest: float | None = None
        self._bars: dict[int, Bar] = {}
        self._txns: dict[int, Transaction] = {}
        self._lanes: dict[str, Lane] = {}
        self._commits: dict[tuple[str, int], CommitMark] = {}
        self._requests: dict[int, tuple[float, str]] = {}
        self._sql = RequestSql(max_bars)  # the SQL statements of requests, shown with their attempts
        # (revision, "bar" or "txn", id) of what left the timeline: capped attempts, merged rows.
        self._removed: list[tuple[int, str, int]] = []

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
            if event.kind == "request.start" and event.request_id is not None:
                self._requests[event.request_id] = (event.time, self._request_label(event))
            elif event.kind in _WS_DELIVERIES and event.request_id is not None and event.data.get("direction") == "in":
                # A WebSocket frame delivered to a handler is the "request" its storage work belongs to.
                label = f"{event.kind} socket {event.data.get('socket')} #{event.request_id}"
                self._requests[event.request_id] = (event.time, label)
            elif event.kind.startswith("txn.") or event.kind == "storage.commit":
                if not changed:
                    changed = True
                    self.revision += 1
                self._apply(event)
            elif event.kind == "sql.exec":
                bars = [self._bars[txn_id] for txn_id in self._sql.add_statement(event) if txn_id in self._bars]
                if bars and not changed:
                    changed = True
                    self.revision += 1
                for bar in bars:
                    bar.rev = self.revision
        if len(self._requests) > 2 * self.max_bars:
            for request_id in list(self._requests)[: len(self._requests) - self.max_bars]:
                del self._requests[request_id]
        if len(self._bars) > self.max_bars:
            self._drop(sorted(self._bars)[: len(self._bars) - self.max_bars])
        return changed

    def _request_label(self, event: TraceEvent) -> str:
        """A call made by another request is labelled by that request (its URL, say)."""
        own = _request_label(event)
        parent = self._requests.get(event.data.get("parent", -1))
        if parent is None or parent[1].endswith(f"#{event.data.get('parent')}"):
            return own
        return parent[1] if event.data.get("kind") == "fetch" else f"{parent[1]} → {own}"

    def _drop(self, txn_ids: list[int]) -> None:
        for txn_id in txn_ids:
            bar = self._bars.pop(txn_id)
            self._removed.append((self.revision, "bar", txn_id))
            txn = self._txns.get(bar.root)
            if txn is not None:
                txn.attempts.remove(txn_id)
                txn.rev = self.revision
                if not txn.attempts:
                    del self._txns[bar.root]
                    self._removed.append((self.revision, "txn", bar.root))
        if len(self._removed) > 20 * self.max_bars:
            del self._removed[: len(self._removed) - 10 * self.max_bars]

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
                lane, event.time, data["version"], event.keys, rev=self.revision
            )
            return
        if event.txn_id is None:
            return
        if kind == "txn.begin":
            self.total_attempts += 1
            self._bars[event.txn_id] = Bar(
                event.txn_id,
                self._lane_for(event),
                event.attempt or 1,
                event.time,
                request_id=event.request_id,
                read_version=data.get("read_version"),
                root=event.txn_id,
                rev=self.revision,
            )
            self._join(self._bars[event.txn_id], event)
            self._sql.add_attempt(event.request_id, event.txn_id)
            return
        bar = self._bars.get(event.txn_id)
        if bar is None:
            return
        bar.rev = self.revision
        if kind == "txn.read":
            bar.read_keys.extend(key for key in event.keys if key not in bar.read_keys)
        elif kind == "txn.write":
            bar.write_keys.extend(key for key in event.keys if key not in bar.write_keys)
        elif kind == "txn.retry":
            bar.retry_of = data.get("replaces")
            replaced = self._bars.get(bar.retry_of) if bar.retry_of is not None else None
            if replaced is not None:
                replaced.retried_by = bar.txn_id
                replaced.rev = self.revision
                self._move(bar, replaced.root)
        elif kind == "txn.commit":
            self._close(bar, event, "committed")
            bar.version = data.get("version")
            bar.read_keys = list(data.get("read_keys", bar.read_keys))
            bar.write_keys = list(data.get("write_keys", bar.write_keys))
            if bar.version is not None:
                self._commits[(object_key(event), bar.version)] = CommitMark(
                    bar.lane, event.time, bar.version, event.keys, bar.txn_id, rev=self.revision
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

    def _close(self, bar: Bar, event: TraceEvent, outcome: str) -> None:
        bar.end = event.time
        bar.outcome = outcome
        txn = self._txns.get(bar.root)
        if txn is not None:
            txn.rev = self.revision

    def _join(self, bar: Bar, event: TraceEvent) -> None:
        """Starts the transaction row of a first attempt (a retry moves to its row on ``txn.retry``)."""
        request = self._requests.get(event.request_id) if event.request_id is not None else None
        label = request[1] if request is not None else "Python"
        wait_start = request[0] if request is not None and request[0] < bar.start else None
        self._txns[bar.txn_id] = Transaction(
            bar.txn_id, object_key(event), label, event.request_id, wait_start, [bar.txn_id], self.revision
        )

    def _move(self, bar: Bar, root: int) -> None:
        """Moves a retry from its own row to the row of the attempt it replaces."""
        own = self._txns.pop(bar.txn_id, None)
        target = self._txns.get(root)
        if target is None:
            if own is not None:
                self._txns[bar.txn_id] = own
            return
        bar.root = root
        target.attempts.append(bar.txn_id)
        target.rev = self.revision
        if own is not None:  # the front end may have drawn the retry's own row: it goes
            self._removed.append((self.revision, "txn", bar.txn_id))

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

    def transactions(self, *, objects: Iterable[str] | None = None) -> list[Transaction]:
        """Transaction rows in order of their first attempt, optionally only those of some objects."""
        wanted = None if objects is None else set(objects)
        return [txn for _, txn in sorted(self._txns.items()) if wanted is None or txn.object_key in wanted]

    def bar_json(self, bar: Bar) -> dict[str, Any]:
        """One attempt as the front end draws it (times in ms since the first event)."""
        winner = self.winner(bar)
        return {
            "txn_id": bar.txn_id,
            "txn": bar.root,
            "lane": bar.lane,
            "object": self._lanes[bar.lane].object_key,
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
            "sql": self._sql.to_json(bar.request_id),
        }

    def txn_json(self, txn: Transaction) -> dict[str, Any]:
        """One transaction row: its attempts, span and wait (ms)."""
        attempts = [self._bars[txn_id] for txn_id in txn.attempts]
        first, last = attempts[0], attempts[-1]
        return {
            "id": txn.root,
            "object": txn.object_key,
            "label": txn.label,
            "request_id": txn.request_id,
            "attempts": list(txn.attempts),
            "start": self.ms(first.start),
            "end": None if last.end is None else self.ms(last.end),
            "outcome": last.outcome,
            "wait_start": None if txn.wait_start is None else self.ms(txn.wait_start),
            "wait": 0.0 if txn.wait_start is None else round((first.start - txn.wait_start) * 1000, 3),
        }

    def commit_json(self, mark: CommitMark) -> dict[str, Any]:
        return {
            "lane": mark.lane,
            "object": self._lanes[mark.lane].object_key,
            "time": self.ms(mark.time),
            "version": mark.version,
            "keys": list(mark.keys),
            "txn_id": mark.txn_id,
        }

    def view(self, *, objects: Iterable[str] | None = None) -> dict[str, Any]:
        """What depends on the whole (filtered) timeline: fitted axis, summary, counts, legend.

        One pass over the attempts without building their JSON (this runs on every live update).

        Args:
            objects: Only these object keys (``binding:name``); None for all.
        """
        wanted = None if objects is None else set(objects)
        bars = [bar for bar in self._bars.values() if wanted is None or self._lanes[bar.lane].object_key in wanted]
        txns = [txn for txn in self._txns.values() if wanted is None or txn.object_key in wanted]
        now = 0.0 if self.latest is None else self.ms(self.latest)
        intervals = [(self.ms(bar.start), now if bar.end is None else self.ms(bar.end)) for bar in bars]
        waits = []
        for txn in txns:
            if txn.wait_start is not None and txn.attempts:
                first = self._bars[txn.attempts[0]]
                intervals.append((self.ms(txn.wait_start), self.ms(first.start)))
                waits.append({"wait": round((first.start - txn.wait_start) * 1000, 3)})
            else:
                waits.append({"wait": 0.0})
        intervals += [
            (self.ms(mark.time), self.ms(mark.time))
            for mark in self._commits.values()
            if wanted is None or self._lanes[mark.lane].object_key in wanted
        ]
        counts = dict.fromkeys(OUTCOMES, 0)
        counts["retry"] = 0
        for bar in bars:
            counts[bar.outcome] += 1
            counts["retry"] += bar.retry_of is not None
        total = self.total_attempts if wanted is None else len(bars)
        facts = [{"outcome": bar.outcome, "conflict_keys": bar.conflict_keys, "write": bar.write_keys} for bar in bars]
        return {
            "axis": fit_axis(intervals).to_json(),
            "summary": summary(waits, facts, total_attempts=total),
            "legend": LEGEND,
            "counts": counts,
            "objects": self.object_keys(),
            "end": now,
            "shown_attempts": len(bars),
            "total_attempts": total,
        }

    def delta(self, since: int) -> dict[str, Any]:
        """What changed after revision ``since``: attempts, rows, commits, and what left.

        A front end holding revision ``since`` applies it and then holds ``delta["rev"]``.
        ``since=0`` is the whole timeline.
        """
        removed_bars = [item for rev, kind, item in self._removed if rev > since and kind == "bar"]
        removed_txns = [item for rev, kind, item in self._removed if rev > since and kind == "txn"]
        return {
            "rev": self.revision,
            "since": since,
            "bars": [self.bar_json(bar) for bar in sorted(_newer(self._bars.values(), since), key=_txn_id)],
            "txns": [self.txn_json(txn) for txn in sorted(_newer(self._txns.values(), since), key=_root)],
            "commits": [self.commit_json(mark) for mark in sorted(_newer(self._commits.values(), since), key=_time)],
            "removed_bars": removed_bars,
            "removed_txns": removed_txns,
        }

    def to_json(self, *, objects: Iterable[str] | None = None, newest: int | None = None) -> dict[str, Any]:
        """Everything the static renderings draw, with times in ms since the first event.

        Args:
            objects: Only these object keys (``binding:name``); None for all.
            newest: Only the attempts of the newest this many transactions (``view`` still
                describes all of them).
        """
        wanted = None if objects is None else list(objects)
        txn_rows = self.transactions(objects=wanted)
        total_txns = len(txn_rows)
        if newest is not None and len(txn_rows) > newest:
            txn_rows = txn_rows[-newest:]
            selected = sorted((self._bars[txn_id] for txn in txn_rows for txn_id in txn.attempts), key=_txn_id)
        else:
            selected = self.bars(objects=wanted)
        rows = self.rows(selected)
        bars = [{**self.bar_json(bar), "row": rows[bar.txn_id]} for bar in selected]
        depth: dict[str, int] = {}
        for txn_id, row in rows.items():
            lane_key = self._bars[txn_id].lane
            depth[lane_key] = max(depth.get(lane_key, 0), row + 1)
        lanes = [
            {"key": lane.key, "label": lane.label, "object": lane.object_key, "rows": depth.get(lane.key, 1)}
            for lane in self.lanes(objects=wanted)
        ]
        shown = {lane["key"] for lane in lanes}
        view = self.view(objects=wanted)
        return {
            "lanes": lanes,
            "bars": bars,
            "txns": [self.txn_json(txn) for txn in txn_rows],
            "total_txns": total_txns,
            "commits": [self.commit_json(mark) for mark in self.commits() if mark.lane in shown],
            "objects": view["objects"],
            "end": view["end"],
            "counts": view["counts"],
            "view": view,
        }


def _newer(items: Iterable[Any], since: int) -> list[Any]:
    return [item for item in items if item.rev > since]


def _txn_id(bar: Bar) -> int:
    return bar.txn_id


def _root(txn: Transaction) -> int:
    return txn.root


def _time(mark: CommitMark) -> float:
    return mark.time


#: Trace kinds of a WebSocket frame handed to a worker or object (mfbook/websocket_hub.py).
_WS_DELIVERIES = frozenset({"ws.message", "ws.close"})


def _request_label(event: TraceEvent) -> str:
    """``GET /path``, ``rpc add #7``, ``fetch #7`` or ``alarm #7``: what a request row says.

    A request another process forwarded to this one (the object's owner, mfbook/placement)
    says so: ``fetch #7 ⇐ host:pid:random``.
    """
    forwarded = event.data.get("forwarded_from")
    own = _own_request_label(event)
    return f"{own} ⇐ {forwarded}" if forwarded else own


def _own_request_label(event: TraceEvent) -> str:
    data = event.data
    if data.get("url"):
        path = str(data["url"]).split("://", 1)[-1]
        path = path[path.find("/") :] if "/" in path else "/"
        return f"{data.get('http_method', 'GET')} {path}"
    kind = str(data.get("kind", "request"))
    if data.get("method"):
        return f"{kind} {data['method']} #{event.request_id}"
    return f"{kind} #{event.request_id}"
