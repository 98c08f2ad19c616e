"""The storage browser's SQL pane (mfbook/widgets/sql_pane.py and its traits on StorageBrowser)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from mfbook import Miniflare
from mfbook.widgets import StorageBrowser
from mfbook.widgets.frontend import esm
from mfbook.widgets.sql_pane import SqlPane
from mfbook.widgets.static import plain_text

SCRIPT = """
import { DurableObject } from "cloudflare:workers";
export class Notes extends DurableObject {
  add(text) { this.ctx.storage.sql.exec("INSERT INTO notes (text) VALUES (?)", text); }
}
export class Plain extends DurableObject {}
export default { fetch: () => new Response("") };
"""


@pytest.fixture
def mf() -> Iterator[Miniflare]:
    with Miniflare(
        script=SCRIPT,
        modules=True,
        durable_objects={"NOTES": {"class_name": "Notes", "sqlite": True}, "PLAIN": "Plain"},
    ) as instance:
        notes = instance.get_durable_object_namespace("NOTES").storage("alice")
        notes.sql.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL); CREATE TABLE tags (name TEXT)")
        for index in range(7):
            notes.sql.exec("INSERT INTO notes (text) VALUES (?)", f"note {index}")
        notes.put("owner", "alice")
        yield instance


def test_the_browser_lists_tables_with_schema_and_the_first_page(mf: Miniflare) -> None:
    browser = StorageBrowser(mf, "NOTES", "alice", page_size=5, live=False)
    try:
        assert browser.tables == [
            {"name": "notes", "rows": 7, "schema": "notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"},
            {"name": "tags", "rows": 0, "schema": "tags (name TEXT)"},
        ]
        assert browser.table == "notes"
        assert browser.table_page["columns"] == ["id", "text"]
        assert browser.table_page["rows"][0] == ["1", "note 0"] and len(browser.table_page["rows"]) == 5
        assert (browser.table_page["range"], browser.table_page["has_next"]) == ("1–5 of 7", True)
        assert [row["key"] for row in browser.page["rows"]] == ["owner"]  # the key-value pairs beside
    finally:
        browser.close()


def test_paging_and_picking_a_table(mf: Miniflare) -> None:
    browser = StorageBrowser(mf, "NOTES", "alice", page_size=5, live=False)
    try:
        browser._on_message(browser, {"action": "sql_next"}, [])
        assert browser.table_page["rows"] == [["6", "note 5"], ["7", "note 6"]]
        assert (browser.table_page["range"], browser.table_page["has_previous"]) == ("6–7 of 7", True)
        browser._on_message(browser, {"action": "sql_next"}, [])  # past the end: stays on the last page
        assert browser.table_page["index"] == 1
        browser.table = "tags"
        assert (browser.table_page["table"], browser.table_page["rows"], browser.table_page["range"]) == (
            "tags",
            [],
            "0 of 0",
        )
        browser._on_message(browser, {"action": "sql_previous"}, [])
        assert browser.table_page["index"] == 0
    finally:
        browser.close()


def test_a_write_from_the_object_refreshes_a_live_browser(mf: Miniflare) -> None:
    browser = StorageBrowser(mf, "NOTES", "alice", page_size=50, interval=0.01)
    try:
        mf.get_durable_object_namespace("NOTES").get_by_name("alice").call("add", "from js")
        deadline = time.monotonic() + 5
        while browser.tables[0]["rows"] != 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert browser.tables[0]["rows"] == 8 and browser.table_page["rows"][-1] == ["8", "from js"]
    finally:
        browser.close()


def test_kv_backed_objects_have_no_sql_pane(mf: Miniflare) -> None:
    mf.get_durable_object_namespace("PLAIN").storage("bob").put("k", 1)
    browser = StorageBrowser(mf, "PLAIN", "bob", live=False)
    try:
        assert (browser.tables, browser.table, browser.table_page) == ([], "", {})
    finally:
        browser.close()


def test_the_pane_reads_nothing_without_an_object() -> None:
    state = SqlPane().read(None)
    assert (state.tables, state.table, state.page) == ([], "", {})


def test_the_front_end_module_carries_the_sql_pane_before_the_browser() -> None:
    module = esm("storage_sql.js", "storage_browser.js")
    assert module.index("function sqlPane(") < module.index("function render(") and module.count("export default") == 1
    timeline = esm("timeline_parts.js", "timeline.js")
    assert timeline.index("function sqlDetails(") < timeline.index("function render(")


def test_the_static_renderings_carry_the_shown_table(mf: Miniflare) -> None:
    browser = StorageBrowser(mf, "NOTES", "alice", page_size=2, live=False)
    try:
        html = browser._repr_html_()
        assert "SQL tables: <b>notes</b> (7) · tags (0)" in html
        assert "<code>notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)</code> · 1–2 of 7" in html
        assert html.count("<tr class='mf-sql-row'>") == 2 and "<td style='padding:2px 8px'>note 1</td>" in html
        text = plain_text(browser.__rich__())
        assert "SQL tables: notes (7), tags (0)" in text and "note 0" in text
    finally:
        browser.close()
    plain = StorageBrowser(mf, "PLAIN", live=False)
    try:
        assert "SQL tables" not in plain._repr_html_()
    finally:
        plain.close()
