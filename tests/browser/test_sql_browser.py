"""The SQL views in a real JupyterLab with headless Chromium: the storage browser's SQL pane and
the SQL statements in the timeline's details."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from .test_widgets_browser import TIMEOUT_MS, _new_page, _open_and_run, _screenshot

SETUP = '''\
from mfbook import Miniflare
from mfbook.widgets import StorageBrowser, Timeline
WORKER = """
import { DurableObject } from "cloudflare:workers";
export class Notes extends DurableObject {
  async move() {
    this.ctx.storage.sql.exec("UPDATE notes SET text = upper(text) WHERE id = 1");
    await this.ctx.storage.transaction(async (txn) => { await txn.put("moves", ((await txn.get("moves")) ?? 0) + 1); });
  }
}
export default { fetch: () => new Response("") };
"""
mf = Miniflare(script=WORKER, modules=True, durable_objects={"NOTES": {"class_name": "Notes", "sqlite": True}})
notes = mf.get_durable_object_namespace("NOTES").storage("alice")
notes.sql.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
for n in range(7):
    notes.sql.exec("INSERT INTO notes (text) VALUES (?)", f"note {n}")
notes.put("owner", "alice")
mf.get_durable_object_namespace("NOTES").get_by_name("alice").call("move")
'''


def test_storage_browser_shows_sql_tables_and_the_timeline_the_requests_sql(
    jupyter_lab: dict[str, Any], browser: Any, artifacts_dir: Path
) -> None:
    name = f"sql-{uuid.uuid4().hex[:8]}.ipynb"
    notebook = new_notebook(
        cells=[
            new_code_cell(SETUP),
            new_code_cell('browser = StorageBrowser(mf, "NOTES", "alice", names=["alice"], page_size=5)\nbrowser'),
            new_code_cell("Timeline(mf)"),
            new_code_cell('print("sql setup done")'),
        ],
        metadata={"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
    )
    nbformat.write(notebook, jupyter_lab["root"] / name)
    errors: list[str] = []
    page = _new_page(browser, errors)
    saved: list[Path] = []
    try:
        _open_and_run(page, f"{jupyter_lab['base']}/lab/tree/{name}?reset", "light")
        page.locator(".jp-OutputArea-output", has_text="sql setup done").first.wait_for(timeout=TIMEOUT_MS)
        widget = page.locator(".mf-storage-browser").first
        widget.locator("table.mf-sql tr.mf-sql-row").first.wait_for(timeout=TIMEOUT_MS)
        assert widget.locator('button.mf-sql-table[data-table="notes"]').inner_text() == "notes (7)"
        assert widget.locator(".mf-sql-schema").inner_text() == "notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"
        assert widget.locator("table.mf-sql th").all_inner_texts() == ["id", "text"]
        assert widget.locator("table.mf-sql tr.mf-sql-row").count() == 5
        assert widget.locator("table.mf-sql tr.mf-sql-row").first.locator("td").all_inner_texts() == ["1", "NOTE 0"]
        assert widget.locator('table.mf-storage tr[data-key="owner"]').count() == 1  # the key-value pairs beside
        widget.locator("button.mf-sql-next").click()
        page.wait_for_function(  # in the widget: the static copy beside it (for exports) has the first page
            "(root) => root.querySelectorAll('table.mf-sql tr.mf-sql-row').length === 2",
            arg=widget.element_handle(),
            timeout=TIMEOUT_MS,
        )
        assert widget.locator("table.mf-sql tr.mf-sql-row td").all_inner_texts() == ["6", "note 5", "7", "note 6"]
        assert widget.locator(".mf-sql-pager .mf-range").inner_text() == "6–7 of 7"
        _screenshot(widget, artifacts_dir, "storage-browser-sql.png", saved)

        timeline = page.locator(".mf-timeline").first
        timeline.locator("rect.mf-bar").first.wait_for(timeout=TIMEOUT_MS)
        timeline.locator("rect.mf-bar").first.click()
        statement = timeline.locator(".mf-details .mf-sql-statement")
        statement.first.wait_for(timeout=TIMEOUT_MS)
        assert statement.count() == 1
        assert statement.locator("code").inner_text() == "UPDATE notes SET text = upper(text) WHERE id = 1"
        assert statement.locator(".mf-sql-stats").inner_text().startswith(" · 1 row read · 1 row written · ")
        _screenshot(timeline, artifacts_dir, "timeline-sql-details.png", saved)
        assert not errors, errors
    finally:
        page.close()
