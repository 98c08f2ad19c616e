"""Static views of the emulator for ``%do_storage``, ``%do_timeline``, ``%do_alarms`` and ``%do_ids``.

These are the terminal / static-HTML renderings; notebooks with a widget frontend get the
widgets of :mod:`mfbook.widgets` instead. Everything here reads the public engine API and the
trace and returns :mod:`mfbook.render` tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..render import RecordList, StorageDict, Table, format_value
from ..trace import TraceEvent

if TYPE_CHECKING:
    from ..miniflare import Miniflare
    from ..objects import DurableObjectStorage
    from ..stubs import DurableObjectNamespace

__all__ = ["alarms_view", "ids_view", "object_names", "sql_table_rows", "storage_view", "timeline_view"]

_MAX_KEYS = 1_000


def object_names(mf: Miniflare) -> dict[str, str]:
    """``"BINDING:hex" -> name`` for every object the trace saw by name."""
    names: dict[str, str] = {}
    for event in mf.trace:
        if event.object_id and event.object_name:
            names[f"{event.binding}:{event.object_id}"] = event.object_name
    return names


def sql_table_rows(storage: DurableObjectStorage) -> dict[str, int]:
    """A SQLite-backed object's own tables and their row counts (``{}`` for a KV-backed one).

    Untraced reads: listing storage must not add events to the trace.
    """
    if not storage.sqlite:
        return {}
    sql = storage.sql
    counts = {}
    for table in sql.tables():
        quoted = '"' + table.replace('"', '""') + '"'
        counts[table] = int(sql.exec(f"SELECT count(*) AS n FROM {quoted}", trace=False).one()["n"])
    return counts


def ids_view(namespace: DurableObjectNamespace, names: dict[str, str], *, style: str) -> RecordList:
    """Ids of the objects of ``namespace`` (hex and, when known, the name)."""
    records = [
        {"id": hex_id, "name": names.get(f"{namespace.binding}:{hex_id}", "")} for hex_id in namespace.object_ids()
    ]
    return RecordList(
        records, title=f"{namespace.binding}: {len(records)} object" + ("" if len(records) == 1 else "s"), style=style
    )


def storage_view(
    mf: Miniflare,
    namespaces: list[DurableObjectNamespace],
    names: dict[str, str],
    *,
    name: str | None = None,
    style: str,
) -> Table | StorageDict:
    """One object's keys (``name`` given, one namespace), else every object with its key count."""
    if name is not None and len(namespaces) == 1:
        namespace = namespaces[0]
        storage = namespace.storage(namespace.id_from_name(name))
        return StorageDict(
            storage.list(limit=_MAX_KEYS),
            title=f"{namespace.binding} {name}",
            style=style,
            tables=sql_table_rows(storage),
        )
    rows = []
    for namespace in namespaces:
        for hex_id in namespace.object_ids():
            entries = namespace.storage(namespace.id_from_string(hex_id)).list(limit=_MAX_KEYS)
            preview = ", ".join(f"{key}={format_value(value, limit=40)}" for key, value in list(entries.items())[:3])
            more = len(entries) - 3
            rows.append(
                (
                    namespace.binding,
                    hex_id[:16] + "…",
                    names.get(f"{namespace.binding}:{hex_id}", ""),
                    f"{len(entries)}{'+' if len(entries) >= _MAX_KEYS else ''}",
                    preview + (f", … (+{more})" if more > 0 else ""),
                )
            )
    bindings = ", ".join(namespace.binding for namespace in namespaces) or "no Durable Object bindings"
    return Table(
        ["binding", "object", "name", "keys", "first keys"],
        rows,
        title=f"Durable Object storage ({bindings})",
        caption=f"{len(rows)} object" + ("" if len(rows) == 1 else "s") + " · %do_list BINDING NAME shows every key",
        style=style,
    )


def alarms_view(
    namespaces: list[DurableObjectNamespace], names: dict[str, str], *, style: str, now: datetime | None = None
) -> RecordList:
    """Scheduled alarms of every known object."""
    now = now or datetime.now(timezone.utc)
    records = []
    for namespace in namespaces:
        for hex_id in namespace.object_ids():
            scheduled = namespace.storage(namespace.id_from_string(hex_id)).get_alarm()
            if scheduled is None:
                continue
            when = datetime.fromtimestamp(scheduled / 1000, timezone.utc)
            records.append(
                {
                    "binding": namespace.binding,
                    "id": hex_id,
                    "name": names.get(f"{namespace.binding}:{hex_id}", ""),
                    "scheduled": when,
                    "in": f"{(when - now).total_seconds():.1f} s",
                }
            )
    caption = "no alarms scheduled" if not records else "%do_alarms --flush runs them now"
    return RecordList(records, title="Scheduled alarms", caption=caption, style=style)


@dataclass
class _Attempt:
    txn_id: int
    object: str
    attempt: int
    start: float
    end: float | None = None
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    outcome: str = "running"


def _object_label(event: TraceEvent) -> str:
    return f"{event.binding} {event.object_name or (event.object_id or '')[:12]}"


def _add(keys: list[str], new: Iterable[str]) -> None:
    keys.extend(key for key in new if key not in keys)


def timeline_view(events: list[TraceEvent], *, style: str) -> Table:
    """Transactions on the trace: one row per attempt, with read/write sets and outcome."""
    attempts: dict[int, _Attempt] = {}
    origin = events[0].time if events else 0.0
    for event in events:
        if event.txn_id is None or not event.kind.startswith("txn."):
            continue
        row = attempts.get(event.txn_id)
        if row is None:
            row = attempts[event.txn_id] = _Attempt(event.txn_id, _object_label(event), event.attempt or 1, event.time)
        kind = event.kind[4:]
        if kind == "read":
            _add(row.reads, event.keys)
        elif kind == "write":
            _add(row.writes, event.keys)
        elif kind == "commit":
            row.outcome, row.end = "committed", event.time
        elif kind == "conflict":
            row.outcome, row.end = f"conflict on {', '.join(event.keys)}", event.time
        elif kind == "retry" and isinstance(event.data.get("replaces"), int) and event.data["replaces"] in attempts:
            attempts[event.data["replaces"]].outcome += f" -> retried as #{event.txn_id}"
        elif kind == "rollback":
            row.outcome, row.end = (
                "rolled back" if not event.data.get("reason") else f"failed ({event.data['reason']})",
                event.time,
            )
        elif kind == "giveup":
            row.outcome, row.end = "gave up", event.time
    rows = [
        (
            f"#{row.txn_id}",
            row.object,
            row.attempt,
            f"{(row.start - origin) * 1000:.1f}",
            "" if row.end is None else f"{(row.end - row.start) * 1000:.2f}",
            ", ".join(row.reads),
            ", ".join(row.writes),
            row.outcome,
        )
        for row in attempts.values()
    ]
    committed = sum(1 for row in attempts.values() if row.outcome == "committed")
    conflicts = sum(1 for row in attempts.values() if row.outcome.startswith("conflict"))
    return Table(
        ["txn", "object", "attempt", "at ms", "took ms", "reads", "writes", "outcome"],
        rows,
        title="Transactions",
        caption=f"{len(rows)} attempts · {committed} committed · {conflicts} conflicts",
        style=style,
    )
