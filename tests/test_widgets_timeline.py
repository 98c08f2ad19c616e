"""The transaction timeline: bars from trace events, retries, conflicts, winners, live updates."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mfbook import Miniflare, TraceEvent
from mfbook.widgets.static import plain_text, timeline_html, timeline_rich
from mfbook.widgets.timeline_model import TimelineModel

WORKER = (Path(__file__).parent / "browser" / "fixtures" / "conflict_worker.js").read_text()
OBJ = {"binding": "COUNTER", "object_id": "ab" * 32, "object_name": "alice"}


def _events(*specs: tuple[Any, ...]) -> list[TraceEvent]:
    """(time, kind, txn_id, attempt, keys, data) tuples as events of object alice."""
    return [
        TraceEvent(
            seq=index + 1,
            time=at,
            kind=kind,
            txn_id=txn_id,
            attempt=attempt,
            keys=tuple(keys),
            data=data,
            request_id=7 if txn_id else None,
            **OBJ,
        )
        for index, (at, kind, txn_id, attempt, keys, data) in enumerate(specs)
    ]


# A JS transaction reads "count"; a plain write commits v2 meanwhile; the attempt conflicts and
# its retry commits v3.
CONFLICTING = _events(
    (10.000, "txn.begin", 1, 1, (), {"read_version": 1}),
    (10.001, "txn.read", 1, 1, ("count",), {}),
    (10.050, "storage.commit", None, None, ("count",), {"version": 2}),
    (10.100, "txn.write", 1, 1, ("count",), {}),
    (
        10.101,
        "txn.conflict",
        1,
        1,
        ("count",),
        {"winning_version": 2, "read_version": 1, "read_keys": ["count"], "write_keys": ["count"]},
    ),
    (10.105, "txn.begin", 2, 2, (), {"read_version": 2}),
    (10.105, "txn.retry", 2, 2, ("count",), {"replaces": 1, "winning_version": 2}),
    (10.106, "txn.read", 2, 2, ("count",), {}),
    (10.200, "txn.commit", 2, 2, ("count",), {"version": 3, "read_keys": ["count"], "write_keys": ["count"]}),
)


def test_bars_follow_attempts_outcomes_and_retries() -> None:
    model = TimelineModel()
    assert model.feed(CONFLICTING)
    first, second = model.bars()
    assert (first.txn_id, first.outcome, first.start, first.end) == (1, "conflict", 10.0, 10.101)
    assert (first.conflict_keys, first.winning_version, first.retried_by) == (["count"], 2, 2)
    assert (second.txn_id, second.outcome, second.retry_of, second.version) == (2, "committed", 1, 3)
    assert model.counts() == {"open": 0, "committed": 1, "conflict": 1, "rolledback": 0, "giveup": 0, "retry": 1}
    winner = model.winner(first)
    assert winner is not None and (winner.version, winner.txn_id, winner.time) == (2, None, 10.05)


def test_to_json_has_ms_times_rows_and_winner() -> None:
    model = TimelineModel()
    model.feed(CONFLICTING)
    data = model.to_json()
    assert data["lanes"] == [{"key": "COUNTER:alice", "label": "COUNTER:alice", "object": "COUNTER:alice", "rows": 1}]
    assert data["end"] == 200.0
    first, second = data["bars"]
    assert first == {
        "txn_id": 1,
        "lane": "COUNTER:alice",
        "row": 0,
        "attempt": 1,
        "start": 0.0,
        "end": 101.0,
        "outcome": "conflict",
        "request_id": 7,
        "retry_of": None,
        "retried_by": 2,
        "read": ["count"],
        "write": ["count"],
        "conflict_keys": ["count"],
        "read_version": 1,
        "version": None,
        "winning_version": 2,
        "winner_time": 50.0,
        "winner_txn": None,
        "reason": None,
    }
    assert (second["row"], second["start"], second["end"], second["retry_of"]) == (0, 105.0, 200.0, 1)
    assert data["commits"] == [
        {"lane": "COUNTER:alice", "time": 50.0, "version": 2, "keys": ["count"], "txn_id": None},
        {"lane": "COUNTER:alice", "time": 200.0, "version": 3, "keys": ["count"], "txn_id": 2},
    ]


def test_feeding_twice_ignores_seen_events_and_open_bars_stay_open() -> None:
    model = TimelineModel()
    model.feed(CONFLICTING[:2])
    assert [bar.outcome for bar in model.bars()] == ["open"]
    model.feed(CONFLICTING)
    model.feed(CONFLICTING)
    assert [bar.outcome for bar in model.bars()] == ["conflict", "committed"]


def test_overlapping_attempts_get_separate_rows() -> None:
    events = _events(
        (0.0, "txn.begin", 1, 1, (), {}),
        (0.1, "txn.begin", 2, 1, (), {}),
        (0.2, "txn.rollback", 1, 1, (), {"reason": "closure threw: x"}),
        (0.3, "txn.begin", 3, 1, (), {}),
        (0.4, "txn.conflict", 2, 1, ("k",), {"winning_version": 9}),
        (0.4, "txn.giveup", 2, 1, ("k",), {"attempts": 1}),
    )
    model = TimelineModel()
    model.feed(events)
    assert model.rows(model.bars()) == {1: 0, 2: 1, 3: 0}
    assert [(bar.outcome, bar.reason) for bar in model.bars()] == [
        ("rolledback", "closure threw: x"),
        ("giveup", None),
        ("open", None),
    ]
    assert model.to_json()["lanes"][0]["rows"] == 2


def test_lanes_per_request_and_object_filter() -> None:
    other = TraceEvent(
        seq=100,
        time=10.3,
        kind="txn.begin",
        txn_id=5,
        attempt=1,
        binding="COUNTER",
        object_id="cd" * 32,
        object_name="bob",
    )
    model = TimelineModel(lanes="request")
    model.feed([*CONFLICTING, other])
    assert [lane.key for lane in model.lanes()] == ["request 7", "python COUNTER:alice", "python COUNTER:bob"]
    assert model.object_keys() == ["COUNTER:alice", "COUNTER:bob"]
    assert [bar["txn_id"] for bar in model.to_json(objects=["COUNTER:bob"])["bars"]] == [5]


def test_static_renderings_show_the_same_attempts() -> None:
    model = TimelineModel()
    model.feed(CONFLICTING)
    data = model.to_json()
    html = timeline_html(data)
    assert "data-txn-id='1' data-outcome='conflict'" in html
    assert "data-txn-id='2' data-outcome='committed'" in html
    assert "conflict on count (lost to commit v2)" in html
    text = plain_text(timeline_rich(data), width=120)
    assert text.splitlines()[0] == "committed 1 · conflict 1 · rolledback 0 · giveup 0 · open 0 · retry 1"
    assert "conflict on count vs v2" in text
    assert "committed (retries 1)" in text


# ---------------------------------------------------------------------- real workloads
@pytest.fixture
def mf() -> Iterator[Miniflare]:
    with Miniflare(script=WORKER, modules=True, durable_objects={"COUNTER": "Counter"}) as emulator:
        yield emulator


def _js_txn_with_python_write(mf: Miniflare) -> None:
    storage = mf.get_durable_object_namespace("COUNTER").storage("alice")
    request = threading.Thread(target=lambda: mf.dispatch_fetch("http://localhost/?name=alice&wait=100"))
    request.start()
    while not mf.trace.events(kind="txn.read"):
        time.sleep(0.002)
    storage.put("count", 100)
    request.join()


def test_js_transaction_conflicts_with_a_python_write_and_retries(mf: Miniflare) -> None:
    _js_txn_with_python_write(mf)
    model = TimelineModel()
    model.feed(mf.trace.events())
    first, second = model.bars()
    assert (first.outcome, first.conflict_keys, first.read_keys, first.write_keys) == (
        "conflict",
        ["count"],
        ["count"],
        ["count", "updated"],
    )
    assert (second.outcome, second.retry_of, second.attempt) == ("committed", first.txn_id, 2)
    winner = model.winner(first)
    assert winner is not None and winner.txn_id is None and winner.keys == ("count",)
    assert mf.get_durable_object_namespace("COUNTER").storage("alice").get("count") == 101


def test_python_transactions_on_two_threads_conflict_and_retry(mf: Miniflare) -> None:
    storage = mf.get_durable_object_namespace("COUNTER").storage("bob")
    barrier = threading.Barrier(2)

    def deposit(amount: int) -> None:
        attempts: list[int] = []

        def body(txn: Any) -> None:
            attempts.append(1)
            balance = txn.get("balance") or 0
            if len(attempts) == 1:
                barrier.wait(timeout=10)
            txn.put("balance", balance + amount)

        storage.transaction(body)

    threads = [threading.Thread(target=deposit, args=(amount,)) for amount in (10, 25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    model = TimelineModel()
    model.feed(mf.trace.events())
    outcomes = sorted((bar.outcome, bar.attempt) for bar in model.bars())
    assert outcomes == [("committed", 1), ("committed", 2), ("conflict", 1)]
    (retry,) = [bar for bar in model.bars() if bar.retry_of is not None]
    (lost,) = [bar for bar in model.bars() if bar.outcome == "conflict"]
    assert (retry.retry_of, lost.retried_by) == (lost.txn_id, retry.txn_id)
    winner = model.winner(lost)
    assert winner is not None and winner.txn_id is not None
    assert storage.get("balance") == 35


def test_timeline_widget_follows_the_trace_live(mf: Miniflare) -> None:
    from mfbook.widgets import Timeline

    timeline = Timeline(mf, interval=0.05)
    try:
        assert timeline.data["bars"] == []
        _js_txn_with_python_write(mf)
        deadline = time.monotonic() + 5
        while timeline.data["counts"]["committed"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert [bar["outcome"] for bar in timeline.data["bars"]] == ["conflict", "committed"]
        bundle = timeline._repr_mimebundle_()
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        assert "application/vnd.jupyter.widget-view+json" in data
        assert "data-outcome='conflict'" in data["text/html"]
        assert data["text/plain"].startswith("committed 1 · conflict 1 · rolledback 0 · giveup 0 · open 0 · retry 1")
    finally:
        timeline.close()
