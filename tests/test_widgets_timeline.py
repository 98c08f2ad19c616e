"""The transaction timeline: bars from trace events, retries, conflicts, winners, live updates."""

from __future__ import annotations

import dataclasses
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
        "txn": 1,
        "lane": "COUNTER:alice",
        "object": "COUNTER:alice",
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
        "sql": [],
    }
    assert (second["row"], second["start"], second["end"], second["retry_of"]) == (0, 105.0, 200.0, 1)
    assert data["commits"] == [
        {
            "lane": "COUNTER:alice",
            "object": "COUNTER:alice",
            "time": 50.0,
            "version": 2,
            "keys": ["count"],
            "txn_id": None,
        },
        {
            "lane": "COUNTER:alice",
            "object": "COUNTER:alice",
            "time": 200.0,
            "version": 3,
            "keys": ["count"],
            "txn_id": 2,
        },
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


def test_attempts_of_a_transaction_share_one_row_with_its_wait() -> None:
    start = TraceEvent(seq=1, time=9.9, kind="request.start", request_id=7, data={"kind": "fetch"}, **OBJ)
    model = TimelineModel()
    model.feed([start, *(dataclasses.replace(event, seq=event.seq + 1) for event in CONFLICTING)])
    (txn,) = model.transactions()
    assert model.txn_json(txn) == {
        "id": 1,
        "object": "COUNTER:alice",
        "label": "fetch #7",
        "request_id": 7,
        "attempts": [1, 2],
        "start": 100.0,
        "end": 300.0,
        "outcome": "committed",
        "wait_start": 0.0,
        "wait": 100.0,
    }
    assert [bar["txn"] for bar in model.to_json()["bars"]] == [1, 1]


def test_delta_carries_only_what_changed_since_a_revision() -> None:
    model = TimelineModel()
    model.feed(CONFLICTING[:5])  # attempt 1 conflicts
    first = model.delta(0)
    assert (first["since"], first["rev"]) == (0, 1)
    assert [bar["txn_id"] for bar in first["bars"]] == [1]
    assert [txn["id"] for txn in first["txns"]] == [1]
    assert [mark["version"] for mark in first["commits"]] == [2]
    assert model.delta(first["rev"])["bars"] == []
    model.feed(CONFLICTING)  # the retry begins and commits
    second = model.delta(first["rev"])
    assert second["rev"] == 2
    # Attempt 1 changed too (retried_by); the retry joined row 1, and its own row left.
    assert [(bar["txn_id"], bar["retried_by"], bar["txn"]) for bar in second["bars"]] == [(1, 2, 1), (2, None, 1)]
    assert [(txn["id"], txn["attempts"]) for txn in second["txns"]] == [(1, [1, 2])]
    assert second["removed_txns"] == [2]
    assert [mark["version"] for mark in second["commits"]] == [3]
    # Replaying deltas from 0 gives the same bars as the whole timeline.
    assert model.delta(0)["bars"] == [
        {key: value for key, value in bar.items() if key != "row"} for bar in model.to_json()["bars"]
    ]


def test_the_cap_drops_old_attempts_in_the_delta_and_says_so() -> None:
    events = [
        TraceEvent(seq=index + 1, time=index * 0.001, kind="txn.begin", txn_id=index + 1, attempt=1, **OBJ)
        for index in range(5)
    ]
    model = TimelineModel(max_bars=3)
    model.feed(events[:3])
    rev = model.revision
    model.feed(events[3:])
    delta = model.delta(rev)
    assert [bar["txn_id"] for bar in delta["bars"]] == [4, 5]
    assert (delta["removed_bars"], delta["removed_txns"]) == ([1, 2], [1, 2])
    view = model.view()
    assert (view["shown_attempts"], view["total_attempts"]) == (3, 5)
    assert view["summary"].endswith("showing the last 3 of 5 attempts")


def test_view_fits_the_axis_to_the_filtered_objects() -> None:
    late = [
        TraceEvent(
            seq=100,
            time=70.0,
            kind="txn.begin",
            txn_id=9,
            attempt=1,
            binding="COUNTER",
            object_id="cd" * 32,
            object_name="bob",
        ),
        TraceEvent(
            seq=101,
            time=70.05,
            kind="txn.commit",
            txn_id=9,
            attempt=1,
            binding="COUNTER",
            object_id="cd" * 32,
            object_name="bob",
            data={"version": 1},
        ),
    ]
    model = TimelineModel()
    model.feed([*CONFLICTING, *late])
    everything = model.view()["axis"]
    assert [part["kind"] for part in everything["parts"]] == ["time", "break", "time"]
    bob = model.view(objects=["COUNTER:bob"])
    assert (bob["axis"]["start"], bob["axis"]["end"]) == (60_000.0, 60_050.0)
    assert [part["kind"] for part in bob["axis"]["parts"]] == ["time"]
    assert bob["counts"]["committed"] == 1 and bob["counts"]["conflict"] == 0
    assert bob["summary"] == "1 transaction · 1 attempt · no conflicts"


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


def test_live_timeline_sends_deltas_with_back_pressure_and_pauses_on_a_stall(mf: Miniflare) -> None:
    from mfbook.widgets import Timeline
    from mfbook.widgets.timeline import PAUSED_STALL

    now = [0.0]
    timeline = Timeline(mf, interval=0.01, stall_after=5.0, clock=lambda: now[0])
    try:
        _js_txn_with_python_write(mf)
        timeline.refresh()
        assert timeline.sent == []  # no front end asked yet: nothing goes out
        timeline._on_message(timeline, {"type": "sync"}, [])
        full = timeline.sent[-1]
        assert (full["type"], full["since"]) == ("delta", 0)
        assert [bar["outcome"] for bar in full["bars"]] == ["conflict", "committed"]
        assert full["view"]["summary"].startswith("1 transaction · 2 attempts · 1 conflict · hottest key `count`")

        # Unacknowledged: new attempts wait instead of going out.
        mf.dispatch_fetch("http://localhost/?name=alice&wait=1")
        timeline.refresh()
        assert timeline.sent[-1] is full and timeline.flow.waiting
        # The page drew it: the waiting change goes out as a delta from the acknowledged revision.
        timeline._on_message(timeline, {"type": "ack", "rev": full["rev"]}, [])
        deadline = time.monotonic() + 5
        while timeline.sent[-1] is full:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        delta = timeline.sent[-1]
        assert delta["since"] == full["rev"]
        assert [bar["attempt"] for bar in delta["bars"]] == [1]

        # No acknowledgement for longer than stall_after: live pauses and says so.
        mf.dispatch_fetch("http://localhost/?name=alice&wait=1")
        now[0] += 6
        timeline.refresh()
        assert (timeline.live, timeline.notice) == (False, PAUSED_STALL)
        timeline._on_message(timeline, {"type": "resume"}, [])
        assert (timeline.live, timeline.notice) == (True, "")
    finally:
        timeline.close()


def test_a_disposed_emulator_turns_live_off_with_a_notice() -> None:
    from mfbook.widgets import Timeline

    emulator = Miniflare(script=WORKER, modules=True, durable_objects={"COUNTER": "Counter"})
    timeline = Timeline(emulator)
    try:
        emulator.dispose()
        assert (timeline.disposed, timeline.live) == (True, False)
        assert "re-run %do_timeline" in timeline.notice
    finally:
        timeline.close()


def test_static_timeline_has_the_summary_an_idle_break_and_glyphs() -> None:
    late = [
        TraceEvent(seq=100, time=70.0, kind="txn.begin", txn_id=9, attempt=1, **OBJ),
        TraceEvent(seq=101, time=70.05, kind="txn.commit", txn_id=9, attempt=1, data={"version": 4}, **OBJ),
    ]
    model = TimelineModel()
    model.feed([*CONFLICTING, *late])
    html = timeline_html(model.to_json())
    assert "2 transactions · 3 attempts · 1 conflict · hottest key `count`" in html
    assert "idle 60 s" in html
    assert ">✕</text>" in html and ">✓</text>" in html
    capped = timeline_html(model.to_json(newest=1))
    assert "drawn: the newest 1 of 2 transactions" in capped
    assert "data-txn-id='9'" in capped and "data-txn-id='1'" not in capped


def test_rows_are_labelled_with_the_url_of_the_request_that_ran_them(mf: Miniflare) -> None:
    mf.dispatch_fetch("http://localhost/inc?name=alice&wait=0")
    mf.get_durable_object_namespace("COUNTER").storage("bob").transaction(lambda txn: txn.put("k", 1))
    model = TimelineModel()
    model.feed(mf.trace.events())
    assert [(txn.label, txn.object_key) for txn in model.transactions()] == [
        ("GET /inc?name=alice&wait=0", "COUNTER:alice"),
        ("Python", "COUNTER:bob"),
    ]
