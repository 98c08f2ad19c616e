"""The storage browser's SQL tables in a real JupyterLab with headless Chromium."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from .test_widgets_browser import TIMEOUT_MS, _open_and_run, _screenshot

SETUP = '''\
from mfbook import Miniflare
from mfbook.widgets import StorageBrowser
WORKER = """
import { DurableObject } from "cloudflare:workers";
export class Notes extends DurableObject {}
export default { fetch: () => new Response("") };
"""
mf = Miniflare(script=WORKER, modules=True, durable_objects={"NOTES": {"class_name": "Notes", "sqlite": True}})
notes = mf.get_durable_object_namespace("NOTES").storage("alice")
notes.sql.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
for n in range(7):
    notes.sql.exec("INSERT INTO notes (text) VALUES (?)", f"note {n}")
notes.put("owner", "alice")
'''


def test_storage_browser_shows_sql_tables_with_schema_and_pages(
    jupyter_lab: dict[str, Any], browser: Any, artifacts_dir: Path
) -> None:
    name = f"sql-{uuid.uuid4().hex[:8]}.ipynb"
    notebook = new_notebook(
        cells=[
            new_code_cell(SETUP),
            new_code_cell('browser = StorageBrowser(mf, "NOTES", "alice", names=["alice"], page_size=5)\nbrowser'),
            new_code_cell('print("sql setup done")'),
        ],
        metadata={"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
    )
    nbformat.write(notebook, jupyter_lab["root"] / name)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    saved: list[Path] = []
    try:
        _open_and_run(page, jupyter_lab["base"], name)
        page.locator(".jp-OutputArea-output", has_text="sql setup done").first.wait_for(timeout=TIMEOUT_MS)
        widget = page.locator(".mf-storage-browser").first
        widget.locator("table.mf-sql tr.mf-sql-row").first.wait_for(timeout=TIMEOUT_MS)
        assert widget.locator('button.mf-sql-table[data-table="notes"]').inner_text() == "notes (7)"
        assert widget.locator(".mf-sql-schema").inner_text() == "notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"
        assert widget.locator("table.mf-sql th").all_inner_texts() == ["id", "text"]
        assert widget.locator("table.mf-sql tr.mf-sql-row").count() == 5
        assert widget.locator('table.mf-storage tr[data-key="owner"]').count() == 1  # the KV pairs beside
        widget.locator("button.mf-sql-next").click()
        page.wait_for_function(
            "() => document.querySelectorAll('table.mf-sql tr.mf-sql-row').length === 2", timeout=TIMEOUT_MS
        )
        cells = widget.locator("table.mf-sql tr.mf-sql-row td").all_inner_texts()
        assert cells == ["6", "note 5", "7", "note 6"]
        _screenshot(widget, artifacts_dir, "storage-browser-sql.png", saved)
        assert not errors, errors
    finally:
        page.close()
