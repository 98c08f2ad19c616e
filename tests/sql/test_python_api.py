# ruff: noqa: E501 - long lines are JavaScript source inside strings
"""``storage.sql`` and bookmarks from Python, and SQL statements on the trace."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from mfbook import Miniflare, SqlError, WorkerError
from mfbook.sql.python_api import SqlRows

SCRIPT = """
import { DurableObject } from "cloudflare:workers";
export class Notes extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS constructed (at TEXT)");
  }
  add(text) { this.ctx.storage.sql.exec("INSERT INTO notes (text) VALUES (?)", text); return this.count(); }
  count() { return this.ctx.storage.sql.exec("SELECT count(*) AS n FROM notes").one().n; }
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
        yield instance


def storage_of(mf: Miniflare, name: str = "a", binding: str = "NOTES"):  # type: ignore[no-untyped-def]
    namespace = mf.get_durable_object_namespace(binding)
    return mf.get_durable_object_storage(namespace.id_from_name(name))


def test_exec_from_python_returns_rows_columns_and_counts_without_constructing(mf: Miniflare) -> None:
    sql = storage_of(mf).sql
    created = sql.exec(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes (text) VALUES (?), (?)", "a", "b"
    )
    assert created.rows_written == 2
    result = sql.exec("SELECT id, text FROM notes ORDER BY id")
    assert isinstance(result, SqlRows)
    assert result.columns == ("id", "text")
    assert result.rows == [{"id": 1, "text": "a"}, {"id": 2, "text": "b"}]
    assert list(result) == result.rows and len(result) == 2
    assert sql.exec("SELECT text FROM notes WHERE id = ?", 2).one() == {"text": "b"}
    assert sql.tables() == ["notes"]  # the constructor (which creates "constructed") never ran


def test_python_and_javascript_see_each_others_writes(mf: Miniflare) -> None:
    storage = storage_of(mf)
    storage.sql.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    stub = mf.get_durable_object_namespace("NOTES").get_by_name("a")
    assert stub.call("add", "from js") == 1
    storage.sql.exec("INSERT INTO notes (text) VALUES (?)", "from python")
    assert stub.call("count") == 2
    assert [row["text"] for row in storage.sql.exec("SELECT text FROM notes ORDER BY id")] == ["from js", "from python"]


def test_python_bindings_and_blobs(mf: Miniflare) -> None:
    sql = storage_of(mf).sql
    assert sql.exec("SELECT ?, ?, ?, ?, ?", 2**62, 1.5, "s", b"\x00\xff", None).raw == [
        (2**62, 1.5, "s", b"\x00\xff", None)
    ]
    with pytest.raises(TypeError, match="cannot bind a dict"):
        sql.exec("SELECT ?", {})


def test_errors_from_python(mf: Miniflare) -> None:
    sql = storage_of(mf).sql
    with pytest.raises(SqlError, match="no such table: missing: SQLITE_ERROR"):
        sql.exec("SELECT * FROM missing")
    with pytest.raises(SqlError, match="please use the state.storage.transaction"):
        sql.exec("BEGIN")
    with pytest.raises(WorkerError, match="SQL is not enabled for this Durable Object class"):
        storage_of(mf, binding="PLAIN").sql.exec("SELECT 1")


def test_an_exec_from_python_is_atomic(mf: Miniflare) -> None:
    sql = storage_of(mf).sql
    sql.exec("CREATE TABLE t (v UNIQUE)")
    with pytest.raises(SqlError, match="UNIQUE constraint failed"):
        sql.exec("INSERT INTO t VALUES (1); INSERT INTO t VALUES (1)")
    assert sql.exec("SELECT count(*) AS n FROM t").one() == {"n": 0}


def test_html_table(mf: Miniflare) -> None:
    rows = storage_of(mf).sql.exec("SELECT 1 AS n, '<b>' AS s, x'01' AS b, NULL AS z")
    assert "<th>n</th><th>s</th><th>b</th><th>z</th>" in rows._repr_html_()
    assert "<td>&lt;b&gt;</td><td>x&#x27;01&#x27;</td><td>NULL</td>" in rows._repr_html_()


def test_bookmark_and_restore_from_python(mf: Miniflare) -> None:
    storage = storage_of(mf)
    storage.sql.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    storage.put("k", "before")
    mark = storage.bookmark()
    storage.sql.exec("INSERT INTO notes (text) VALUES ('later')")
    storage.put("k", "after")
    undo = storage.restore(mark)
    assert storage.sql.exec("SELECT count(*) AS n FROM notes").one() == {"n": 0}
    assert storage.get("k") == "before"
    storage.restore(undo)
    assert storage.get("k") == "after"
    storage.restore(datetime.now(timezone.utc) - timedelta(seconds=0))
    assert storage.get("k") == "after"
    with pytest.raises(SqlError, match="outside the point-in-time recovery window"):
        storage.restore(datetime.now(timezone.utc) - timedelta(days=31))


def test_sql_statements_are_on_the_trace(mf: Miniflare) -> None:
    storage_of(mf).sql.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    mf.get_durable_object_namespace("NOTES").get_by_name("a").call("add", "x")
    events = [record for record in mf.trace.records() if record["kind"] == "sql.exec"]
    statements = [event["data"]["statement"] for event in events]
    assert statements[0] == "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)"
    insert = next(event for event in events if event["data"]["statement"].startswith("INSERT INTO notes"))
    assert insert["data"]["rows_written"] == 1
    assert insert["data"]["ms"] >= 0
    assert insert["request_id"] is not None
    assert insert["object_name"] == "a"


def test_storage_browser_model_lists_tables_schema_and_pages(mf: Miniflare) -> None:
    from mfbook.widgets.sql_model import SqlTablesView

    storage = storage_of(mf)
    storage.sql.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL, data BLOB)")
    for n in range(5):
        storage.sql.exec("INSERT INTO notes (text, data) VALUES (?, ?)", f"note {n}", bytes([n]))
    storage.sql.exec("CREATE TABLE kv_like (k TEXT PRIMARY KEY, v) WITHOUT ROWID; INSERT INTO kv_like VALUES ('a', NULL)")
    before = len(mf.trace.records())
    view = SqlTablesView(storage, page_size=2)
    tables = view.tables()
    assert [(table.name, table.rows) for table in tables] == [("kv_like", 1), ("notes", 5)]
    assert tables[1].schema == "notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL, data BLOB)"
    first = view.page("notes")
    assert first.columns == ("id", "text", "data")
    assert first.rows == (("1", "note 0", "x'00'"), ("2", "note 1", "x'01'"))
    assert first.has_next and not first.has_previous
    last = view.page("notes", 2)
    assert last.rows == (("5", "note 4", "x'04'"),) and not last.has_next
    assert view.page("kv_like").rows == (("a", "NULL"),)
    assert len(mf.trace.records()) == before  # the browser's reads stay off the trace
    assert mf.get_durable_object_namespace("NOTES").object_ids() == [storage.id.hex]
    assert SqlTablesView(storage_of(mf, binding="PLAIN")).tables() == []
