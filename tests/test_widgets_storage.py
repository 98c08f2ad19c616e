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
    assert page.rows[1] == Row(key="m", type="Map", preview='Map(1) {"x" => 1}', full=None, size=31, edit=None)
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
        browser._on_message(browser, {"action": "put", "key": "x", "text": "nope("}, [])
        assert browser.error.startswith("ValueError: not JSON or a Python literal")
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
