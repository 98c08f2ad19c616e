"""The lesson notebooks: each starts with prose, ends with "Try this", and runs without errors.

Every notebook is executed once per test session, inside the replayed Binder environment
(``binder_session`` in conftest.py, see binder_replay.py): two at a time, each in its own
process and Jupyter kernel, as a reader would run them. The tests read the executed copies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from binder_replay import BinderSession

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))


def errors(notebook: Any) -> list[str]:
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                found.append(f"{cell.source.splitlines()[0]!r}: {output['ename']}: {output['evalue']}")
    return found


def text(cell: Any) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output["text"])
        elif "data" in output:
            parts.append(output["data"].get("text/html") or output["data"].get("text/plain", ""))
    return "".join(parts)


def cell_text(notebook: Any, first_line: str) -> str:
    """Output of the first code cell whose source starts with ``first_line``."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.source.startswith(first_line):
            return text(cell)
    raise AssertionError(f"no code cell starts with {first_line!r}")


@pytest.fixture(scope="module")
def executed(binder_session: BinderSession) -> dict[str, Any]:
    return binder_session.notebooks


def test_the_series_is_there() -> None:
    assert sorted(path.name for path in NOTEBOOKS.glob("*.ipynb")) == [path.name for path in LESSONS]
    assert [path.name for path in LESSONS] == [
        "01-quickstart.ipynb",
        "02-storage-api.ipynb",
        "03-gates-and-coalescing.ipynb",
        "04-transactions.ipynb",
        "05-alarms.ipynb",
        "06-persistence.ipynb",
        "07-multiple-workers.ipynb",
        "08-testing-with-pytest.ipynb",
        "09-sqlite.ipynb",
        "10-websockets.ipynb",
    ]


@pytest.mark.parametrize("path", LESSONS, ids=lambda path: path.name)
def test_prose_comes_before_the_first_code_cell(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    first_code = next(index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    prose = " ".join(cell.source for cell in notebook.cells[:first_code] if cell.cell_type == "markdown")
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")
    assert len(prose.split()) >= 30, f"{path.name}: explain the concept before the first code cell"


@pytest.mark.parametrize("path", LESSONS, ids=lambda path: path.name)
def test_each_lesson_ends_with_try_this_and_is_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    last = notebook.cells[-1]
    assert last.cell_type == "markdown" and last.source.startswith("## Try this")
    assert last.source.count("\n- ") >= 2
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_every_notebook_runs_without_errors(executed: dict[str, Any]) -> None:
    assert {name: errors(notebook) for name, notebook in executed.items()} == {
        path.name: [] for path in LESSONS
    }


def test_storage_lesson_shows_the_runtime_errors(executed: dict[str, Any]) -> None:
    table = cell_text(executed["02-storage-api.ipynb"], "from IPython.display import HTML")
    for message in (
        "RangeError: Keys cannot be larger than 2048 bytes.",
        "TypeError: put() called with undefined value.",
        "RangeError: Values cannot be larger than 131072 bytes.",
        "RangeError: Maximum number of pairs is 128.",
        "TypeError: List limit must be positive.",
    ):
        assert message in table
    assert "(accepted)" not in table


def test_gates_lesson_shows_lost_and_kept_updates(executed: dict[str, Any]) -> None:
    notebook = executed["03-gates-and-coalescing.ipynb"]
    output = cell_text(notebook, "async def burst")
    assert "safe:   ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']" in output
    assert "unsafe: ['1', '1'" in output
    assert "guarded: ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']" in cell_text(notebook, 'print("guarded:"')
    coalescing = cell_text(notebook, 'stub = mf.get_durable_object_namespace("COUNTER").get_by_name("batches")')
    assert "together  [('storage.commit', ('a', 'b', 'c'))]" in coalescing
    assert "apart     [('storage.commit', ('a',)), ('storage.commit', ('b', 'c'))]" in coalescing


def test_transactions_lesson_retries_and_gives_up(executed: dict[str, Any]) -> None:
    notebook = executed["04-transactions.ipynb"]
    assert "balance: 405" in cell_text(notebook, 'storage = mf.get_durable_object_namespace("ACCOUNT")')
    assert "409 Transaction gave up after 2 attempts: keys 'balance'" in cell_text(
        notebook, "from mfbook import Miniflare"
    )
    assert "closure ran 3 times" in cell_text(notebook, "from mfbook import ConflictError")


def test_alarms_lesson_retries_then_flushes(executed: dict[str, Any]) -> None:
    notebook = executed["05-alarms.ipynb"]
    output = cell_text(notebook, 'reminder.put("fail", 2)')
    assert "after 2.6 s: [(0, True), (1, True)]" in output
    assert "after flush: [(0, True), (1, True), (2, False)]" in output
    assert "alarm.retry" in cell_text(notebook, "from IPython.display import HTML")


def test_persistence_lesson_shares_one_counter_between_two_processes(executed: dict[str, Any]) -> None:
    output = cell_text(executed["06-persistence.ipynb"], "here = Miniflare(")
    assert "other process sees 5" in output
    assert "final count: 405" in output


def test_testing_lesson_runs_its_pytest_suite(executed: dict[str, Any]) -> None:
    notebook = executed["08-testing-with-pytest.ipynb"]
    assert "4 passed" in cell_text(notebook, '(project / "tests").mkdir()')
    assert "AssertionError: committed: expected 1, got 0" in cell_text(
        notebook, '(project / "tests" / "test_wrong.py")'
    )


def test_sqlite_lesson_queries_rolls_back_and_restores(executed: dict[str, Any]) -> None:
    notebook = executed["09-sqlite.ipynb"]
    assert "(NOTES -> Notes) loaded into `mf`" in cell_text(notebook, "%%worker --do NOTES=Notes --sqlite")
    assert "write the report" in cell_text(notebook, "%do_fetch /")
    assert "buy milk" in cell_text(notebook, "%%do_sql NOTES alice")
    assert "[{'id': 1, 'stars': 1}, {'id': 2, 'stars': 0}]" in cell_text(notebook, "rows = %do_sql NOTES alice")
    assert "Error: no note 99" in cell_text(notebook, "try:\n    %do_call NOTES alice moveStars 1, 99")
    assert cell_text(notebook, "%do_call NOTES alice moveStars 1, 2").strip() == "1"
    assert "access to _cf_KV.key is prohibited: SQLITE_AUTH" in cell_text(notebook, "try:\n    notes.sql.exec")
    assert cell_text(notebook, "before = notes.bookmark()").strip() == "{'n': 0}"
    assert cell_text(notebook, "undo = notes.restore(before)").strip() == "{'n': 2}"
    assert "('DELETE FROM notes', 2)" in cell_text(notebook, '[(event["data"]["statement"][:40]')


def test_websockets_lesson_chats_hibernates_and_wakes(executed: dict[str, Any]) -> None:
    notebook = executed["10-websockets.ipynb"]
    chat = cell_text(notebook, "def join(")
    assert 'bob got   {"system":"bob joined"} {"user":"alice","text":"hello, Bob","count":1}' in chat
    assert "bob got pong" in cell_text(notebook, 'bob.send("ping")')
    assert 'bob got {"who":["alice","bob"],"builds":2}' in cell_text(notebook, "room_id = ")
    timeline = cell_text(notebook, "from IPython.display import HTML")
    for kind in ("ws.accept", "ws.message", "ws.autoresponse", "ws.hibernate", "ws.wake"):
        assert kind in timeline
