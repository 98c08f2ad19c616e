"""The "SQLite-backed Durable Objects" notebook runs top to bottom in a real Jupyter kernel."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "sql.ipynb"


def _text(cell: Any) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output["text"])
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
    return "".join(parts)


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    root = str(NOTEBOOK.parent.parent)
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = root + (os.pathsep + previous if previous else "")
    try:
        client = NotebookClient(
            notebook,
            timeout=120,
            kernel_name="python3",
            resources={"metadata": {"path": str(tmp_path_factory.mktemp("nb"))}},
        )
        client.execute()
    finally:
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous
    return notebook


def test_committed_notebook_has_no_outputs_and_prose_first() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    assert notebook.cells[0].cell_type == "markdown"
    assert notebook.cells[0].source.startswith("# SQLite-backed Durable Objects")
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_notebook_runs_and_shows_what_the_prose_says(executed: nbformat.NotebookNode) -> None:
    errors = [
        output for cell in executed.cells for output in cell.get("outputs", []) if output["output_type"] == "error"
    ]
    assert errors == []
    by_source: dict[str, str] = {}
    for cell in executed.cells:
        if cell.cell_type == "code":
            by_source.setdefault(cell.source.splitlines()[0], _text(cell))
    assert "(NOTES -> Notes) loaded into `mf`" in by_source["%%worker --do NOTES=Notes --sqlite"]
    assert '"text": "write the report"' in by_source["%do_fetch /"]
    assert "buy milk" in by_source["%%do_sql NOTES alice"]
    assert (
        "[{'id': 1, 'stars': 1}, {'id': 2, 'stars': 0}]"
        in by_source["rows = %do_sql NOTES alice SELECT id, stars FROM notes ORDER BY id"]
    )
    assert "Error: no note 99" in by_source["try:"]
    assert by_source["%do_call NOTES alice moveStars 1, 2"].strip() == "1"
    assert "access to _cf_KV.key is prohibited: SQLITE_AUTH" in _text(
        next(cell for cell in executed.cells if "_cf_KV" in cell.source and cell.cell_type == "code")
    )
    assert by_source["before = notes.bookmark()"].strip() == "{'n': 0}"
    assert by_source["undo = notes.restore(before)"].strip() == "{'n': 2}"
    assert "('DELETE FROM notes', 2)" in by_source['[(event["data"]["statement"][:40], event["data"]["rows_written"])']
