"""The quickstart notebook runs top to bottom in a real Jupyter kernel (so it cannot rot)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "01-quickstart.ipynb"


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


def test_committed_notebook_has_no_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_quickstart_runs_without_errors(executed: nbformat.NotebookNode) -> None:
    errors = [
        output for cell in executed.cells for output in cell.get("outputs", []) if output["output_type"] == "error"
    ]
    assert errors == []


def test_quickstart_outputs(executed: nbformat.NotebookNode) -> None:
    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    by_source: dict[str, str] = {}
    for cell in code:  # keyed by first line; the first cell with that line wins
        by_source.setdefault(cell.source.splitlines()[0], _text(cell))
    assert "worker 'worker' (COUNTER -> Counter) loaded into `mf`" in by_source["%%worker --do COUNTER=Counter"]
    assert by_source["%do_fetch /hit?name=alice"].startswith("hit alice\nHTTP 200 OK")
    assert "(200, {'count': 2})" in by_source["response = %do_fetch /hit?name=alice"]
    assert by_source["count = %do_get COUNTER alice count"].strip() == "2"
    assert '"count": 42' in by_source["%do_put COUNTER alice count 41"]
    assert "Set(2)" in by_source["%do_list COUNTER alice"]
    assert by_source["total = %do_call COUNTER alice add 10"].strip() == "52"
    assert "([52, 1000], 1001)" in by_source['storage = mf.get_durable_object_namespace("COUNTER").storage("alice")']
    assert "conflict" in by_source["%do_timeline"]  # widget or static table, either shows the conflict
    assert "reloaded (storage kept)" in _text(code[-4])
    assert '"count": 1101' in by_source["%do_fetch /"]
