"""The storage browser: its view model (objects, rows, paging, prefix, edits) and live refresh."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mfbook import Miniflare
from mfbook.codec import JSMap
from mfbook.widgets.storage_model import ObjectSummary, Row, StorageView

WORKER = (Path(__file__).parent / "browser" / "fixtures" / "conflict_worker.js").read_text()


@pytest.fixture
def mf() -> Iterator[Miniflare]:
    with Miniflare(script=WORKER, modules=True, durable_objects={"COUNTER": "Counter"}) as emulator:
        yield emulator


def _eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _fill(mf: Miniflare, name: str, count: int) -> None:
    storage = mf.get_durable_object_namespace("COUNTER").storage(name)
    for first in range(0, count, 128):
        storage.put({f"k{index:05d}": index for index in range(first, min(count, first + 128))})


def test_rows_show_decoded_values_in_key_order(mf: Miniflare) -> None:
    mf.get_durable_object_namespace("COUNTER").storage("a").put(
        {"m": JSMap([("x", 1)]), "n": 5, "s": {"b", "a"}, "long": "y" * 200}
    )
    view = StorageView(mf, binding="COUNTER", object_name="a")
    page = view.page()
    assert [row.key for row in page.rows] == ["long", "m", "n", "s"]
    assert page.rows[1] == Row(
        key="m",
        type="Map",
        preview='Map(1) {"x" => 1}',
        full=None,
        size=31,
        edit='[["x", 1]]',
        tree={"label": "Map(1)", "children": [{"key": '"x"', "label": "1"}]},
    )
    assert page.rows[2] == Row(key="n", type="number", preview="5", full=None, size=1, edit="5")
    assert page.rows[3].preview == 'Set(2) {"a", "b"}'
    assert page.rows[0].preview == '"' + "y" * 119 + "…"
    assert page.rows[0].full == '"' + "y" * 200 + '"'
    assert (page.index, page.has_next, page.has_previous) == (0, False, False)


def test_pages_follow_start_after_cursors(mf: Miniflare) -> None:
    _fill(mf, "a", 25)
    view = StorageView(mf, binding="COUNTER", object_name="a", page_size=10)
    first = view.page()
    assert [row.key for row in first.rows] == [f"k{index:05d}" for index in range(10)]
    assert first.has_next
    second = view.next_page()
    assert [row.key for row in second.rows] == [f"k{index:05d}" for index in range(10, 20)]
    third = view.next_page()
    assert [row.key for row in third.rows] == [f"k{index:05d}" for index in range(20, 25)]
    assert (third.index, third.has_next) == (2, False)
    assert view.next_page().index == 2
    assert view.previous_page().rows[0].key == "k00010"
    assert view.first_page().rows[0].key == "k00000"


def test_prefix_filters_keys_and_restarts_paging(mf: Miniflare) -> None:
    mf.get_durable_object_namespace("COUNTER").storage("a").put({"user:1": 1, "user:2": 2, "order:1": 3})
    view = StorageView(mf, binding="COUNTER", object_name="a", page_size=1)
    view.next_page()
    view.set_prefix("user:")
    page = view.page()
    assert ([row.key for row in page.rows], page.index, page.has_next) == (["user:1"], 0, True)
    assert [row.key for row in view.next_page().rows] == ["user:2"]


def test_a_page_that_empties_steps_back(mf: Miniflare) -> None:
    _fill(mf, "a", 3)
    view = StorageView(mf, binding="COUNTER", object_name="a", page_size=2)
    view.next_page()
    mf.get_durable_object_namespace("COUNTER").storage("a").delete("k00002")
    assert [row.key for row in view.page().rows] == ["k00000", "k00001"]


def test_objects_list_names_key_counts_and_sizes(mf: Miniflare) -> None:
    mf.dispatch_fetch("http://localhost/?name=alice&wait=0")  # a name on the trace
    mf.get_durable_object_namespace("COUNTER").storage("bob").put("x", "yz")
    view = StorageView(mf, binding="COUNTER", names=["bob"])
    view.learn_names(mf.trace.events())
    summaries = {summary.name: summary for summary in view.objects()}
    assert summaries["bob"] == ObjectSummary(
        mf.get_durable_object_namespace("COUNTER").id_from_name("bob").hex, "bob", keys=1, size=5
    )
    assert summaries["bob"].label == "bob · 1 key · 5 B"
    assert summaries["alice"].keys == 2  # count, updated


def test_large_objects_page_without_loading_everything(mf: Miniflare) -> None:
    _fill(mf, "big", 20_000)
    view = StorageView(mf, binding="COUNTER", object_name="big", page_size=50, count_limit=5_000)
    started = time.monotonic()
    page = view.next_page()
    assert [row.key for row in page.rows][:2] == ["k00050", "k00051"]
    assert time.monotonic() - started < 2.0
    (summary,) = view.objects()
    assert (summary.keys, summary.capped) == (5_000, True)
    assert summary.label.startswith(summary.object_id[:12] + "… · 5000+ keys")


def test_put_and_delete_go_through_storage(mf: Miniflare) -> None:
    storage = mf.get_durable_object_namespace("COUNTER").storage("a")
    storage.put("seed", 1)
    view = StorageView(mf, binding="COUNTER", object_name="a")
    assert view.put("cfg", '{"on": true}') == {"on": True}
    assert view.put("ids", "{1, 2}") == {1, 2}
    assert storage.get("cfg") == {"on": True}
    assert storage.get("ids") == {1, 2}
    assert view.delete("seed") is True
    assert storage.get("seed") is None
    with pytest.raises(ValueError, match="not JSON"):
        view.put("bad", "{oops")
    commits = [event for event in mf.trace.events(kind="storage.commit")]
    assert [event.keys for event in commits[-3:]] == [("cfg",), ("ids",), ("seed",)]


def test_unknown_binding_is_a_value_error(mf: Miniflare) -> None:
    with pytest.raises(ValueError, match="no Durable Object binding 'NOPE'"):
        StorageView(mf, binding="NOPE")


def test_browser_refreshes_live_after_python_and_js_writes(mf: Miniflare) -> None:
    from mfbook.widgets import StorageBrowser

    storage = mf.get_durable_object_namespace("COUNTER").storage("alice")
    storage.put("a", 1)
    browser = StorageBrowser(mf, "COUNTER", "alice", interval=0.05)
    try:
        assert [row["key"] for row in browser.page["rows"]] == ["a"]
        storage.put("b", 2)
        _eventually(lambda: [row["key"] for row in browser.page["rows"]] == ["a", "b"])
        mf.dispatch_fetch("http://localhost/?name=alice&wait=0")
        _eventually(lambda: [row["key"] for row in browser.page["rows"]] == ["a", "b", "count", "updated"])
        assert browser.objects[0]["label"] == "alice · 4 keys · 47 B"
    finally:
        browser.close()


def test_browser_actions_page_edit_and_delete(mf: Miniflare) -> None:
    from mfbook.widgets import StorageBrowser

    _fill(mf, "a", 3)
    browser = StorageBrowser(mf, "COUNTER", "a", page_size=2, live=False)
    try:
        browser._on_message(browser, {"action": "next"}, [])
        assert [row["key"] for row in browser.page["rows"]] == ["k00002"]
        browser._on_message(browser, {"action": "put", "key": "k00002", "text": "[1, 2]"}, [])
        assert browser.page["rows"][0]["preview"] == "[1, 2]"
        browser._on_message(browser, {"action": "put", "key": "x", "text": "nope(", "id": 7}, [])
        # The editor's error comes back to that editor (which keeps the text), not as a banner.
        assert browser.last_result is not None
        assert (browser.last_result["id"], browser.last_result["ok"]) == (7, False)
        assert browser.last_result["error"].startswith("ValueError: not JSON or a Python literal")
        assert browser.error == ""
        browser._on_message(browser, {"action": "jump", "key": "zzz"}, [])
        assert browser.error == "ValueError: no key 'zzz' (or after it) in this object"
        browser._on_message(browser, {"action": "delete", "key": "k00002"}, [])
        assert [row["key"] for row in browser.page["rows"]] == ["k00000", "k00001"]
        browser.prefix = "k00001"
        assert [row["key"] for row in browser.page["rows"]] == ["k00001"]
    finally:
        browser.close()


def test_browser_bundle_carries_widget_html_and_text(mf: Miniflare) -> None:
    from mfbook.widgets import StorageBrowser

    mf.get_durable_object_namespace("COUNTER").storage("a").put("k", "v")
    browser = StorageBrowser(mf, "COUNTER", "a", live=False)
    try:
        bundle = browser._repr_mimebundle_()
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        assert "application/vnd.jupyter.widget-view+json" in data
        assert "<table class='mf-storage'" in data["text/html"]
        assert "<tr data-key='k'>" in data["text/html"]
        assert '│ k   │ string │ "v"   │     3 │' in data["text/plain"]
    finally:
        browser.close()


def test_sort_by_key_or_size_with_totals_last_page_and_jump(mf: Miniflare) -> None:
    mf.get_durable_object_namespace("COUNTER").storage("a").put(
        {f"k{index:02d}": "x" * (index % 7) for index in range(23)}
    )
    view = StorageView(mf, binding="COUNTER", object_name="a", page_size=10)
    first = view.page()
    assert (first.range_text, first.total, first.has_next) == ("1–10 of 23", 23, True)
    last = view.last_page()
    assert ([row.key for row in last.rows], last.range_text, last.has_next) == (
        ["k20", "k21", "k22"],
        "21–23 of 23",
        False,
    )
    view.set_sort("-key")
    assert [row.key for row in view.page().rows][:3] == ["k22", "k21", "k20"]
    view.set_sort("-size")
    largest = view.page().rows
    assert [row.size for row in largest][:4] == [8, 8, 8, 7]
    assert [row.key for row in largest][:3] == ["k06", "k13", "k20"]  # stable: key order among equals
    view.set_sort("key")
    jumped = view.jump_to("k15")
    assert (jumped.index, jumped.rows[0].key, jumped.range_text) == (1, "k10", "11–20 of 23")
    assert view.jump_to("k195").rows[0].key == "k20"  # the first key at or after it
    view.set_prefix("k1")
    assert view.page().range_text == "1–10 of 10"
    with pytest.raises(ValueError, match="sort must be one of key, -key, size, -size"):
        view.set_sort("value")


def test_a_capped_object_says_its_total_is_a_lower_bound(mf: Miniflare) -> None:
    _fill(mf, "a", 30)
    view = StorageView(mf, binding="COUNTER", object_name="a", page_size=10, count_limit=20)
    assert view.page().range_text == "1–10 of 20+"


def test_live_browser_recounts_only_the_object_that_changed(mf: Miniflare) -> None:
    from mfbook.widgets import StorageBrowser

    namespace = mf.get_durable_object_namespace("COUNTER")
    for name in ("a", "b", "c", "d"):
        namespace.storage(name).put("k", name)
    browser = StorageBrowser(mf, "COUNTER", "c", names=["a", "b", "c", "d"], interval=0.02)
    try:
        before = browser.view.recounts
        assert before == 4
        namespace.storage("c").put("k2", 2)
        _eventually(lambda: any(item["label"] == "c · 2 keys · 7 B" for item in browser.objects))
        assert browser.view.recounts == before + 1
    finally:
        browser.close()


def test_objects_other_than_the_shown_one_are_recounted_at_a_slower_pace(mf: Miniflare) -> None:
    from mfbook.widgets import StorageBrowser

    namespace = mf.get_durable_object_namespace("COUNTER")
    for name in ("a", "b"):
        namespace.storage(name).put("k", name)
    now = [0.0]
    browser = StorageBrowser(
        mf, "COUNTER", "a", names=["a", "b"], live=False, others_interval=2.0, clock=lambda: now[0]
    )
    try:
        before = browser.view.recounts
        namespace.storage("b").put("k2", 2)
        namespace.storage("a").put("k2", 2)
        browser._refresh_live()
        labels = sorted(item["label"] for item in browser.objects)
        assert labels == ["a · 2 keys · 7 B", "b · 1 key · 4 B"]  # b waits
        assert browser.view.recounts == before + 1
        now[0] += 2.5
        browser._refresh_live()
        assert sorted(item["label"] for item in browser.objects) == ["a · 2 keys · 7 B", "b · 2 keys · 7 B"]
        assert browser.view.recounts == before + 2
    finally:
        browser.close()


def test_a_disposed_emulator_shows_a_clear_state_and_live_goes_off() -> None:
    from mfbook.widgets import StorageBrowser
    from mfbook.widgets.storage_browser import DISPOSED

    emulator = Miniflare(script=WORKER, modules=True, durable_objects={"COUNTER": "Counter"})
    emulator.get_durable_object_namespace("COUNTER").storage("a").put("k", 1)
    browser = StorageBrowser(emulator, "COUNTER", "a")
    try:
        emulator.dispose()
        assert (browser.disposed, browser.live, browser.error) == (True, False, DISPOSED)
        browser._on_message(browser, {"action": "refresh"}, [])
        assert browser.error == DISPOSED
        assert [row["key"] for row in browser.page["rows"]] == ["k"]  # the last data stays readable
    finally:
        browser.close()


def test_an_error_belongs_to_its_object_and_clears_when_switching(mf: Miniflare) -> None:
    from mfbook.widgets import StorageBrowser

    namespace = mf.get_durable_object_namespace("COUNTER")
    namespace.storage("a").put("k", 1)
    namespace.storage("b").put("k", 2)
    browser = StorageBrowser(mf, "COUNTER", "a", names=["a", "b"], live=False)
    try:
        browser._on_message(browser, {"action": "jump", "key": "zzz"}, [])
        assert browser.error.startswith("ValueError: no key 'zzz'")
        browser.object_id = namespace.id_from_name("b").hex
        assert browser.error == ""
        assert [row["preview"] for row in browser.page["rows"]] == ["2"]
    finally:
        browser.close()
