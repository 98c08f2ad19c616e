"""``rowsRead`` counted like the runtime's, as closely as the system SQLite allows.

workerd builds SQLite with a patch (``patches/sqlite/0001-row-counts-plain.patch``) adding a
per-statement ``ROWS_READ`` counter that the virtual machine bumps whenever a cursor on a
table or an index moves: each seek, each ``Rewind``/``Last`` (the start of a scan), each
successful ``Next``/``Prev``, and by the whole row count for ``Count`` (a bare
``SELECT count(*) FROM t``). So ``SELECT * FROM t WHERE v = 1`` over 1,000 rows without an
index reads 1,000 rows even when it returns one.

Python's :mod:`sqlite3` uses the system SQLite, which has no such counter, but two things it
does have get most of the way:

- the statement's ``SQLITE_STMTSTATUS_FULLSCAN_STEP`` counter, readable as ``nscan`` in the
  ``sqlite_stmt`` virtual table: the successful ``Next``/``Prev`` steps of full scans;
- the statement's program (``EXPLAIN``): how many scans of tables and indexes it starts
  (``Rewind``/``Last`` on a cursor opened with ``OpenRead``/``OpenWrite``) and whether it
  uses ``Count``.

A statement whose program scans reads ``full-scan steps + scans started (+ the count of a
count(*))``; one that only seeks (reads and writes by key) reads the rows it returned or
changed. Exact: full scans with or without a filter, ``count(*)``, lookups by key. Close:
index range scans (their steps count as the rows they yielded), nested scans (an inner scan
restarted per outer row counts as started once), sorting (the runtime also counts the
sorter's passes). The step counter costs one lookup before and after a scanning statement;
programs are analysed once per statement text and forgotten when the schema changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ReadCounter", "ReadPlan"]

_PLANS_MAX = 512
_TABLE_CURSORS = frozenset({"OpenRead", "OpenWrite"})
_SCAN_STARTS = frozenset({"Rewind", "Last"})


@dataclass(frozen=True)
class ReadPlan:
    """What a statement's program tells about its reads.

    Attributes:
        scans: Scans of tables or indexes it starts.
        counts: It answers a bare ``count(*)`` from the b-tree (``Count``).
    """

    scans: int
    counts: bool

    @property
    def measured(self) -> bool:
        """Whether its reads are measured (scans) rather than taken from its rows."""
        return self.scans > 0 or self.counts


_NO_SCANS = ReadPlan(scans=0, counts=False)


def read_plan(connection: sqlite3.Connection, statement: str) -> ReadPlan:
    """Analyses ``EXPLAIN statement`` (prepared under the caller's authorizer; a failure: no scans)."""
    try:
        program = connection.execute("EXPLAIN " + statement).fetchall()
    except sqlite3.Error:
        return _NO_SCANS
    table_cursors = {row[2] for row in program if row[1] in _TABLE_CURSORS}
    scans = sum(1 for row in program if row[1] in _SCAN_STARTS and row[2] in table_cursors)
    counts = any(row[1] == "Count" for row in program)
    return ReadPlan(scans=scans, counts=counts)


class ReadCounter:
    """Counts the rows the statements of one connection read (see the module docstring).

    Args:
        connection: The object's connection (``EXPLAIN`` runs on it under its authorizer).
        lookup: Runs mfbook's own query past the authorizer: ``lookup(sql, parameters)`` → first row.
    """

    def __init__(self, connection: sqlite3.Connection, lookup: Callable[[str, tuple[Any, ...]], Any]) -> None:
        self._connection = connection
        self._lookup = lookup
        self._plans: dict[str, ReadPlan] = {}

    def forget_plans(self) -> None:
        """The schema changed: programs may differ now."""
        self._plans.clear()

    def before(self, statement: str) -> int | None:
        """Call before running ``statement``: its step counter, if its reads will be measured."""
        plan = self._plans.get(statement)
        if plan is not None and not plan.measured:
            return None
        return self._steps(statement)

    def after(self, statement: str, steps_before: int | None, rows: list[tuple[Any, ...]], written: int) -> int:
        """Rows ``statement`` read, once it ran (``rows``: what it returned, ``written``: changed)."""
        plan = self._plans.get(statement)
        if plan is None:
            if len(self._plans) >= _PLANS_MAX:
                self._plans.clear()
            plan = self._plans[statement] = read_plan(self._connection, statement)
        if not plan.measured or steps_before is None:
            return max(len(rows), written)
        read = self._steps(statement) - steps_before + plan.scans
        if plan.counts and len(rows) == 1 and isinstance(rows[0][0], int):
            read += rows[0][0]
        return read

    def _steps(self, statement: str) -> int:
        row = self._lookup("SELECT nscan FROM sqlite_stmt WHERE sql = ?", (statement,))
        return 0 if row is None else int(row[0])
