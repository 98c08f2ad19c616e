"""The trace of one block of test code, with assertions on what it committed.

``with recorded(mf) as trace: ...`` notes where ``mf.trace`` stood and, when the block ends,
where it got to; the :class:`TraceWindow` then answers questions about the events between
(the requests the block made, its transaction attempts, its storage commits) and asserts on
them with messages that list what actually happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..trace import TraceEvent

if TYPE_CHECKING:
    from ..miniflare import Miniflare

__all__ = ["TraceWindow", "TransactionSummary", "recorded"]

#: The event that ends a transaction attempt, and the outcome it stands for.
_OUTCOMES = {
    "txn.commit": "committed",
    "txn.conflict": "conflicted",
    "txn.rollback": "rolled back",
    "txn.giveup": "gave up",
}


@dataclass(frozen=True)
class TransactionSummary:
    """One transaction attempt seen in a window.

    Attributes:
        txn_id: The attempt's id on the trace (a retry gets a new one).
        attempt: 1 for the first run of the closure, 2 for its first retry, ...
        binding: The object's namespace.
        object_id: Hex id of the object.
        object_name: Its ``idFromName`` name when known.
        request_id: The request that ran it.
        outcome: ``committed``, ``conflicted``, ``rolled back``, ``gave up`` or ``open`` (still
            running when the window closed).
        keys: Keys written (committed) or that conflicted (conflicted).
    """

    txn_id: int
    attempt: int
    binding: str | None
    object_id: str | None
    object_name: str | None
    request_id: int | None
    outcome: str
    keys: tuple[str, ...]

    def __str__(self) -> str:
        where = self.object_name or (self.object_id or "?")[:12]
        keys = f" keys={list(self.keys)}" if self.keys else ""
        return f"txn {self.txn_id} (attempt {self.attempt}) on {self.binding}:{where}: {self.outcome}{keys}"


class TraceWindow:
    """The events a block of code caused (see :func:`recorded`).

    Args:
        mf: The emulator whose trace is read.
        since: Sequence number of the last event before the window.
    """

    def __init__(self, mf: Miniflare, *, since: int) -> None:
        self._mf = mf
        self.since = since
        self.until: int | None = None

    def events(self, kind: str | None = None) -> list[TraceEvent]:
        """Events in the window; ``kind`` keeps those whose kind starts with it (``"txn."``)."""
        found = self._mf.trace.events(kind=kind, since=self.since)
        return [event for event in found if self.until is None or event.seq <= self.until]

    def kinds(self) -> list[str]:
        """The kinds of the events in order (a compact picture for a failure message)."""
        return [event.kind for event in self.events()]

    def requests(self) -> list[TraceEvent]:
        """``request.start`` events: the requests, RPC calls and alarms the block started."""
        return self.events("request.start")

    def transactions(self) -> list[TransactionSummary]:
        """Every transaction attempt in the window, in the order they began."""
        summaries: dict[int, TransactionSummary] = {}
        for event in self.events("txn."):
            if event.txn_id is None:
                continue
            if event.kind in ("txn.begin", "txn.retry") and event.txn_id not in summaries:
                summaries[event.txn_id] = TransactionSummary(
                    event.txn_id,
                    event.attempt or 1,
                    event.binding,
                    event.object_id,
                    event.object_name,
                    event.request_id,
                    "open",
                    (),
                )
            outcome = _OUTCOMES.get(event.kind)
            if outcome is not None and event.txn_id in summaries:
                old = summaries[event.txn_id]
                summaries[event.txn_id] = TransactionSummary(
                    old.txn_id,
                    old.attempt,
                    old.binding,
                    old.object_id,
                    old.object_name,
                    old.request_id if old.request_id is not None else event.request_id,
                    outcome,
                    event.keys,
                )
        return list(summaries.values())

    def commits(self) -> list[TraceEvent]:
        """Durable writes: ``storage.commit`` batches (coalesced puts) and ``txn.commit``s."""
        return [event for event in self.events() if event.kind in ("storage.commit", "txn.commit")]

    def _describe(self) -> str:
        attempts = "\n".join(f"  {summary}" for summary in self.transactions()) or "  (no transactions)"
        return f"transaction attempts in the window:\n{attempts}\nevents: {', '.join(self.kinds()) or '(none)'}"

    def assert_transactions(
        self,
        *,
        committed: int | None = None,
        conflicts: int | None = None,
        rolled_back: int | None = None,
        gave_up: int | None = None,
    ) -> None:
        """Asserts how many transaction attempts ended each way (``None``: not checked).

        >>> trace.assert_transactions(committed=1, conflicts=0)  # doctest: +SKIP

        Raises:
            AssertionError: A count differs; the message lists every attempt and event.
        """
        counts = {"committed": 0, "conflicted": 0, "rolled back": 0, "gave up": 0}
        for summary in self.transactions():
            counts[summary.outcome] = counts.get(summary.outcome, 0) + 1
        expected = {"committed": committed, "conflicted": conflicts, "rolled back": rolled_back, "gave up": gave_up}
        wrong = [
            f"{outcome}: expected {want}, got {counts[outcome]}"
            for outcome, want in expected.items()
            if want is not None and counts[outcome] != want
        ]
        if wrong:
            raise AssertionError("; ".join(wrong) + "\n" + self._describe())

    def assert_commits(self, count: int) -> None:
        """Asserts how many durable write batches the block made (see :meth:`commits`).

        Raises:
            AssertionError: The count differs; the message lists the commits.
        """
        commits = self.commits()
        if len(commits) != count:
            listed = "\n".join(f"  {event.kind} {event.binding} keys={list(event.keys)}" for event in commits)
            raise AssertionError(f"expected {count} commit(s), got {len(commits)}:\n{listed or '  (none)'}")

    def __repr__(self) -> str:
        return f"<TraceWindow {len(self.events())} events after #{self.since}>"


@contextmanager
def recorded(mf: Miniflare) -> Iterator[TraceWindow]:
    """Records what the ``with`` block makes the emulator do.

    >>> with recorded(mf) as trace:  # doctest: +SKIP
    ...     mf.dispatch_fetch("http://localhost/txn")
    >>> trace.assert_transactions(committed=1)  # doctest: +SKIP
    """
    window = TraceWindow(mf, since=mf.trace.last_seq)
    try:
        yield window
    finally:
        window.until = mf.trace.last_seq
