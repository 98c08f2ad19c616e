"""``%%do_sql`` / ``%do_sql`` and ``%%worker --sqlite``, through a real IPython shell."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from IPython.core.error import UsageError
from IPython.core.getipython import get_ipython
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import start_ipython

from mfbook.notebook.sql_params import bind_parameters
from mfbook.sql.python_api import SqlRows

NOTES = """import { DurableObject } from "cloudflare:workers";
export class Notes extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT)");
  }
  add(text) { return this.ctx.storage.sql.exec("INSERT INTO notes (text) VALUES (?) RETURNING id", text).one().id; }
}
export default { fetch: () => new Response("") };
"""


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    ip = start_ipython() or get_ipython()
    assert ip is not None
    ip.run_line_magic("load_ext", "mfbook")
    try:
        yield ip
    finally:
        ip.run_line_magic("unload_ext", "mfbook")
        for name in ("mf", "rows", "wanted", "note"):
            ip.user_ns.pop(name, None)


@pytest.fixture
def notes(shell: InteractiveShell) -> InteractiveShell:
    shell.run_cell_magic("worker", "--do NOTES=Notes --sqlite", NOTES)
    shell.user_ns["mf"].get_durable_object_namespace("NOTES").get_by_name("a").call("add", "hello")
    return shell


def test_cell_form_binds_notebook_variables_safely(notes: InteractiveShell) -> None:
    notes.user_ns["wanted"] = "hello' OR '1'='1"
    rows = notes.run_cell_magic("do_sql", "NOTES a", "SELECT id, text FROM notes WHERE text = {wanted}")
    assert isinstance(rows, SqlRows) and rows.rows == []
    notes.user_ns["wanted"] = "hello"
    rows = notes.run_cell_magic("do_sql", "NOTES a", "SELECT id, text FROM notes WHERE text = {wanted}")
    assert rows.rows == [{"id": 1, "text": "hello"}]
    assert "<td>hello</td>" in rows._repr_html_()


def test_line_form_returns_the_rows(notes: InteractiveShell) -> None:
    notes.run_cell("rows = %do_sql NOTES a SELECT count(*) AS n FROM notes", store_history=False)
    assert notes.user_ns["rows"].one() == {"n": 1}
    written = notes.run_line_magic("do_sql", "NOTES a INSERT INTO notes (text) VALUES ('two')")
    assert written.rows_written == 1
    assert notes.run_line_magic("do_sql", "NOTES a SELECT text FROM notes ORDER BY id").raw == [("hello",), ("two",)]


def test_errors_are_usage_errors(notes: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="%do_sql: SQL error: no such table: nope: SQLITE_ERROR"):
        notes.run_line_magic("do_sql", "NOTES a SELECT * FROM nope")
    with pytest.raises(UsageError, match="no variable 'missing'"):
        notes.run_cell_magic("do_sql", "NOTES a", "SELECT {missing}")
    with pytest.raises(UsageError, match="no SQL"):
        notes.run_line_magic("do_sql", "NOTES a")
    with pytest.raises(UsageError, match="unknown Durable Object binding 'OTHER'"):
        notes.run_line_magic("do_sql", "OTHER a SELECT 1")


def test_kv_backed_class_says_sql_is_not_enabled(shell: InteractiveShell) -> None:
    shell.run_cell_magic("worker", "--do NOTES=Notes", NOTES.replace("ctx.storage.sql.exec", "void"))
    with pytest.raises(UsageError, match="SQL is not enabled for this Durable Object class"):
        shell.run_line_magic("do_sql", "NOTES a SELECT 1")


def test_bind_parameters_skips_strings_comments_and_escaped_braces() -> None:
    sql, values = bind_parameters("SELECT {a}, '{a}', \"{a}\", {{a}} -- {a}\n, /* {a} */ {b.real}", {"a": 1, "b": 2})
    assert sql == "SELECT ?, '{a}', \"{a}\", {a} -- {a}\n, /* {a} */ ?"
    assert values == [1, 2]
    with pytest.raises(ValueError, match="unclosed"):
        bind_parameters("SELECT {a", {"a": 1})
    with pytest.raises(ValueError, match="not a variable name"):
        bind_parameters("SELECT {1 + 1}", {})


def test_do_list_shows_the_tables_of_a_sqlite_object_with_row_counts(notes: InteractiveShell) -> None:
    notes.run_line_magic("do_sql", "NOTES a INSERT INTO notes (text) VALUES ('two')")
    notes.run_line_magic("do_sql", "NOTES a CREATE TABLE tags (name TEXT)")
    listed = notes.run_line_magic("do_list", "NOTES a")
    assert dict(listed) == {}
    assert listed.tables == {"notes": 2, "tags": 0}
    assert listed.table().caption == "0 keys; tables: notes (2 rows), tags (0 rows)"
    shown = notes.run_line_magic("do_storage", "NOTES a --static")
    assert shown.tables == {"notes": 2, "tags": 0}
    trace_before = len(notes.user_ns["mf"].trace)
    notes.run_line_magic("do_list", "NOTES a")
    assert len(notes.user_ns["mf"].trace) == trace_before


def test_do_list_of_a_kv_object_has_no_tables(shell: InteractiveShell) -> None:
    shell.run_cell_magic("worker", "--do NOTES=Notes", NOTES.replace("ctx.storage.sql.exec", "void"))
    shell.run_line_magic("do_put", "NOTES a k 1")
    listed = shell.run_line_magic("do_list", "NOTES a")
    assert dict(listed) == {"k": 1}
    assert listed.tables == {}
    assert listed.table().caption == "1 key"
