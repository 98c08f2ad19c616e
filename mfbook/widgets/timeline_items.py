"""What the transaction timeline is made of: attempts, transactions, commits, lanes, SQL statements.

Plain records filled by :class:`~mfbook.widgets.timeline_model.TimelineModel` from trace events;
each carries ``rev``, the model revision of its last change (what a live front end has not yet
received).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..trace import TraceEvent

__all__ = [
    "OUTCOMES",
    "SQL_PER_REQUEST",
    "Bar",
    "CommitMark",
    "Lane",
    "RequestSql",
    "SqlStatement",
    "Transaction",
    "object_key",
]

#: SQL statements kept per request for the details (a loop of statements keeps its first ones).
SQL_PER_REQUEST = 50

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
    root: int = 0
    rev: int = 0


@dataclass
class Transaction:
    """One transaction: a first attempt and its retries, in one row.

    Attributes:
        root: txn_id of the first attempt (the row's id).
        object_key: ``binding:name`` of its object.
        label: What ran it: ``"GET /path"``, ``"fetch #7"``, ``"rpc add #7"`` or ``"Python"``.
        request_id: The request (None for Python transactions).
        wait_start: When its request started (trace seconds), when that was before the first attempt.
        attempts: txn_ids in order.
        rev: Revision of the last change.
    """

    root: int
    object_key: str
    label: str
    request_id: int | None
    wait_start: float | None
    attempts: list[int] = field(default_factory=list)
    rev: int = 0


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
    rev: int = 0


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


@dataclass(frozen=True)
class SqlStatement:
    """One ``sql.exec`` of a request (the trace's ``sql.exec`` event).

    Attributes:
        statement: The SQL text (cut at 500 characters by the trace).
        rows_read: Rows read, counted like the runtime's ``rowsRead``.
        rows_written: Rows written.
        ms: How long it ran.
    """

    statement: str
    rows_read: int
    rows_written: int
    ms: float

    def to_json(self) -> dict[str, Any]:
        return {
            "statement": self.statement,
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "ms": round(self.ms, 3),
        }

    @classmethod
    def from_event(cls, event: TraceEvent) -> SqlStatement:
        data = event.data
        return cls(
            str(data.get("statement", "")),
            int(data.get("rows_read", 0)),
            int(data.get("rows_written", 0)),
            float(data.get("ms", 0.0)),
        )


class RequestSql:
    """The SQL statements of each request, and the attempts each request ran (to show them with).

    Args:
        max_requests: Requests remembered (the oldest are forgotten beyond twice this).
    """

    def __init__(self, max_requests: int) -> None:
        self.max_requests = max_requests
        self._statements: dict[int, list[SqlStatement]] = {}
        self._attempts: dict[int, list[int]] = {}

    def add_statement(self, event: TraceEvent) -> list[int]:
        """Records an ``sql.exec`` event; returns the txn_ids of its request's attempts so far."""
        request_id = event.request_id
        if request_id is None:
            return []
        statements = self._statements.setdefault(request_id, [])
        if len(statements) < SQL_PER_REQUEST:
            statements.append(SqlStatement.from_event(event))
        self._trim(self._statements)
        return self._attempts.get(request_id, [])

    def add_attempt(self, request_id: int | None, txn_id: int) -> None:
        if request_id is not None:
            self._attempts.setdefault(request_id, []).append(txn_id)
            self._trim(self._attempts)

    def to_json(self, request_id: int | None) -> list[dict[str, Any]]:
        """The statements of a request, in order."""
        if request_id is None:
            return []
        return [statement.to_json() for statement in self._statements.get(request_id, ())]

    def _trim(self, table: dict[int, Any]) -> None:
        if len(table) > 2 * self.max_requests:
            for request_id in list(table)[: len(table) - self.max_requests]:
                del table[request_id]
