"""The trace: events of a conflicting workload, records for pandas, subscribers."""

from __future__ import annotations

import asyncio
import threading

import pytest
from do_support import start

from mfbook import Trace, TraceEvent

PRELUDE = "const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));"
ROUTES = {
    "paused": """
      return await storage.transaction(async (txn) => {
        const seen = (await txn.get("k")) ?? 0;
        await sleep(100);
        await txn.put("k", seen + 1);
        return seen;
      });
    """,
    "rollback": "await storage.transaction(async (txn) => { await txn.put('x', 1); txn.rollback(); }); return 1;",
}


@pytest.fixture
def mf():
    with start(ROUTES, prelude=PRELUDE) as instance:
        yield instance


def conflicting_workload(mf):
    """A JS transaction reads k and pauses; Python writes k; the transaction conflicts and retries."""
    object_id = mf.get_durable_object_namespace("TEST").id_from_name("test")
    storage = mf.get_durable_object_storage(object_id)
    storage.put("k", 1)
    mf.trace.clear()
    read = threading.Event()
    unsubscribe = mf.trace.subscribe(lambda event: event.kind == "txn.read" and read.set())

    async def run():
        request = asyncio.ensure_future(mf.dispatch_fetch_async("http://localhost/paused"))
        while not read.is_set():
            await asyncio.sleep(0.005)
        await storage.put_async("k", 10)
        return (await request).text()

    try:
        assert asyncio.run(run()) == "10"
    finally:
        unsubscribe()
    return object_id


def test_conflicting_workload_events(mf):
    object_id = conflicting_workload(mf)
    events = [event for event in mf.trace if event.kind.startswith(("txn.", "storage.commit"))]
    kinds = [event.kind for event in events]
    assert kinds == [
        "txn.begin",
        "txn.read",  # attempt 1 reads k and pauses
        "storage.commit",  # the Python write
        "txn.write",
        "txn.validate",
        "txn.conflict",
        "txn.begin",
        "txn.retry",
        "txn.read",
        "txn.write",
        "txn.validate",
        "txn.commit",
    ]
    first, python_commit = events[0], events[2]
    conflict, retry, commit = events[5], events[7], events[-1]
    assert first.attempt == 1 and first.txn_id is not None
    assert events[1].keys == ("k",) and events[1].txn_id == first.txn_id
    assert python_commit.keys == ("k",) and python_commit.txn_id is None
    assert conflict.txn_id == first.txn_id and conflict.keys == ("k",)
    assert conflict.data["winning_version"] == python_commit.data["version"]
    assert conflict.data["read_version"] < python_commit.data["version"]
    assert retry.attempt == 2 and retry.data["replaces"] == first.txn_id and retry.keys == ("k",)
    assert retry.txn_id == events[6].txn_id == commit.txn_id != first.txn_id
    assert commit.attempt == 2 and commit.keys == ("k",) and commit.data["version"] > python_commit.data["version"]
    for event in events:
        assert (event.binding, event.object_id, event.object_name) == ("TEST", object_id.hex, "test")
    request_ids = {event.request_id for event in (first, conflict, retry, commit)}
    assert len(request_ids) == 1 and None not in request_ids


def test_request_events_bracket_the_work(mf):
    conflicting_workload(mf)
    requests = [event for event in mf.trace if event.kind.startswith("request.")]
    assert [event.kind for event in requests][0] == "request.start"
    ends = [event for event in requests if event.kind == "request.end"]
    assert all(event.data["ok"] for event in ends)
    assert any(event.data.get("status") == 200 for event in ends)


def test_rollback_event(mf):
    mf.trace.clear()
    mf.dispatch_fetch("http://localhost/rollback")
    kinds = [event.kind for event in mf.trace if event.kind.startswith("txn.")]
    assert kinds == ["txn.begin", "txn.write", "txn.rollback"]


def test_records_are_plain_dicts(mf):
    conflicting_workload(mf)
    records = mf.trace.records()
    assert records and all(isinstance(record, dict) for record in records)
    assert set(records[0]) == {
        "seq",
        "time",
        "kind",
        "binding",
        "object_id",
        "object_name",
        "request_id",
        "txn_id",
        "attempt",
        "keys",
        "data",
    }
    assert [record["seq"] for record in records] == sorted(record["seq"] for record in records)
    assert all(isinstance(record["keys"], list) for record in records)
    times = [record["time"] for record in records]
    assert times == sorted(times)
    conflicts = mf.trace.records(kind="txn.conflict")
    assert len(conflicts) == 1 and conflicts[0]["keys"] == ["k"]
    last = records[-1]["seq"]
    assert mf.trace.records(since=last) == []


def test_subscribe_and_unsubscribe(mf):
    seen: list[TraceEvent] = []
    unsubscribe = mf.trace.subscribe(seen.append)
    mf.dispatch_fetch("http://localhost/rollback")
    unsubscribe()
    count = len(seen)
    assert count and seen[0].kind == "request.start"
    mf.dispatch_fetch("http://localhost/rollback")
    assert len(seen) == count


def test_trace_is_bounded_and_clock_injectable():
    ticks = iter(range(100))
    trace = Trace(maxlen=3, clock=lambda: float(next(ticks)))
    for kind in ("a", "b", "c", "d"):
        trace.emit(kind)
    assert [(event.seq, event.kind, event.time) for event in trace] == [(2, "b", 1.0), (3, "c", 2.0), (4, "d", 3.0)]
    assert len(trace) == 3
    broken = trace.subscribe(lambda event: 1 / 0)
    trace.emit("e")  # a failing subscriber does not break the emitter
    broken()
    trace.clear()
    assert len(trace) == 0
