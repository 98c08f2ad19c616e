# ruff: noqa: E501 - long lines are JavaScript source inside strings
"""``ctx.storage.sql``, ``storage.kv`` and ``transactionSync`` from JavaScript, end to end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mfbook import Miniflare
from tests.do_support import call, object_worker

ROUTES = {
    "hello": "return storage.sql.exec(\"SELECT 'Hello, World!' as greeting\").one().greeting;",
    "schema": """
        const sql = storage.sql;
        sql.exec(`CREATE TABLE IF NOT EXISTS artist(artistid INTEGER PRIMARY KEY, artistname TEXT);
                  INSERT OR IGNORE INTO artist VALUES (123, 'Alice'), (456, 'Bob'), (789, 'Charlie');`);
        return sql.exec("SELECT count(*) AS n FROM artist").one().n;
    """,
    "cursor": """
        const sql = storage.sql;
        const out = {};
        const rows = [];
        for (const row of sql.exec("SELECT * FROM artist ORDER BY artistid")) rows.push(row);
        out.iterated = rows;
        out.spread = [...sql.exec("SELECT artistname FROM artist ORDER BY artistid")].map((r) => r.artistname);
        out.raw = sql.exec("SELECT * FROM artist ORDER BY artistid").raw().toArray();
        out.columns = sql.exec("SELECT * FROM artist").columnNames;
        out.columnsToArray = sql.exec("SELECT * FROM artist").columnNames.toArray();
        const cursor = sql.exec("SELECT * FROM artist ORDER BY artistname ASC");
        out.first = cursor.next();
        out.readAfterOne = cursor.rowsRead;
        out.rest = cursor.toArray();
        out.readAfterAll = cursor.rowsRead;
        out.done = cursor.next();
        const mixed = sql.exec("SELECT * FROM artist ORDER BY artistname ASC");
        out.rawFirst = mixed.raw().next().value;
        out.mixedRest = mixed.toArray().map((r) => r.artistname);
        out.one = sql.exec("SELECT * FROM artist WHERE artistname = ?", "Alice").one();
        try { sql.exec("SELECT * FROM artist").one(); } catch (e) { out.many = e.message; }
        try { sql.exec("SELECT * FROM artist WHERE 0").one(); } catch (e) { out.none = e.message; }
        const write = sql.exec("UPDATE artist SET artistname = artistname WHERE artistid > 200");
        out.written = [write.rowsWritten, write.toArray().length];
        out.tag = Object.prototype.toString.call(sql.exec("SELECT 1"));
        out.duplicate = sql.exec("SELECT 1 AS a, 2 AS a").one();
        out.odd = sql.exec(`SELECT 1 AS "we""ird ${'$'}{x}", 2 AS "b c"`).one();
        const proto = sql.exec('SELECT 3 AS "__proto__"').one();
        out.proto = [Object.keys(proto).length, typeof proto];
        return out;
    """,
    "bindings": """
        const sql = storage.sql;
        const row = (q, ...b) => sql.exec(q, ...b).raw().toArray()[0];
        const out = {};
        out.number = row("SELECT ?, typeof(?)", 1.5, 1.5);
        out.integer = row("SELECT ?, typeof(?)", 7, 7);
        out.string = row("SELECT ?, typeof(?)", "héllo", "héllo");
        out.nul = row("SELECT ?, typeof(?)", null, null);
        out.bigint = row("SELECT ? + 1, typeof(?)", 9007199254740993n, 9007199254740993n);
        const blob = row("SELECT ?", new Uint8Array([0, 1, 255]))[0];
        out.blob = [blob instanceof ArrayBuffer, [...new Uint8Array(blob)]];
        const view = row("SELECT ?", new Uint8Array([9, 8, 7, 6]).subarray(1, 3))[0];
        out.view = [...new Uint8Array(view)];
        const buffer = row("SELECT ?", new Uint8Array([5]).buffer)[0];
        out.buffer = [...new Uint8Array(buffer)];
        out.blobLiteral = [...new Uint8Array(sql.exec("SELECT x'ff' AS b").one().b)];
        out.huge = row("SELECT 9223372036854775807")[0];
        out.hugeIsNumber = typeof out.huge;
        out.hugeIsTwoTo63 = out.huge === 2 ** 63;
        out.inf = row("SELECT 1e999")[0] === Infinity;
        try { sql.exec("SELECT ?", {}); } catch (e) { out.badType = e.name; }
        return out;
    """,
    "errors": """
        const out = [];
        for (const q of ["", "SELECT ;", "BEGIN TRANSACTION", "SAVEPOINT x", "CREATE TABLE _cf_x (a)", "SELECT * FROM _cf_KV",
                         "SELECT sqlite_version()", "PRAGMA journal_mode = OFF", "ATTACH 'x' AS y", "SELECT ?"]) {
          try { storage.sql.exec(q); out.push(null); } catch (e) { out.push(`${e.name}: ${e.message}`); }
        }
        return out;
    """,
    "size": "return storage.sql.databaseSize;",
    "kvSync": """
        const kv = storage.kv;
        kv.put("a", { nested: [1, 2] });
        kv.put("b", new Map([["k", 1]]));
        const out = { a: kv.get("a"), missing: kv.get("zz") === undefined, isMap: kv.get("b") instanceof Map };
        out.asyncSees = await storage.get("a");
        await storage.put("c", 3);
        out.syncSeesAsync = kv.get("c");
        out.list = [...kv.list()].map(([k]) => k);
        out.prefixed = [...kv.list({ prefix: "b" })].map(([k]) => k);
        out.deleted = [kv.delete("a"), kv.delete("a")];
        try { kv.put("x", undefined); } catch (e) { out.undefinedPut = e.message; }
        return out;
    """,
    "kvRead": "return [storage.kv.get('b') instanceof Map, storage.kv.get('c'), await storage.get('c')];",
    "txnSync": """
        const sql = storage.sql;
        sql.exec("CREATE TABLE IF NOT EXISTS t (v)");
        sql.exec("DELETE FROM t");
        const out = {};
        out.value = storage.transactionSync(() => {
          sql.exec("INSERT INTO t VALUES (1)");
          try {
            storage.transactionSync(() => {
              sql.exec("INSERT INTO t VALUES (2)");
              storage.kv.put("inner", true);
              throw new Error("inner fails");
            });
          } catch (e) { out.inner = e.message; }
          storage.transactionSync(() => sql.exec("INSERT INTO t VALUES (3)"));
          return "returned";
        });
        try {
          storage.transactionSync(() => { sql.exec("INSERT INTO t VALUES (4)"); throw new TypeError("outer"); });
        } catch (e) { out.outer = e.name; }
        out.rows = sql.exec("SELECT v FROM t ORDER BY v").raw().toArray().flat();
        out.innerKv = storage.kv.get("inner") ?? null;
        return out;
    """,
    "writeThenThrow": """
        storage.sql.exec("CREATE TABLE IF NOT EXISTS w (v)");
        storage.sql.exec("INSERT INTO w VALUES (1)");
        throw new Error("after the write");
    """,
    "countW": "return storage.sql.exec('SELECT count(*) AS n FROM w').one().n;",
    "deleteAll": """
        storage.sql.exec("CREATE TABLE IF NOT EXISTS d (v)");
        storage.kv.put("k", 1);
        await storage.deleteAll();
        return [storage.sql.exec("SELECT name FROM sqlite_master WHERE name NOT LIKE '_cf_%'").toArray(), storage.kv.get("k") ?? null];
    """,
    "asyncTxn": """
        storage.sql.exec("CREATE TABLE IF NOT EXISTS a (v)");
        await storage.transaction(async (txn) => { await txn.put("n", ((await txn.get("n")) ?? 0) + 1); });
        return [await storage.get("n"), storage.kv.get("n")];
    """,
    "bookmark": "return await storage.getCurrentBookmark();",
    "setName": "storage.sql.exec('CREATE TABLE IF NOT EXISTS names (v)'); storage.sql.exec('DELETE FROM names'); storage.sql.exec('INSERT INTO names VALUES (?)', new URL(request.url).searchParams.get('v')); return 'ok';",
    "getName": "return storage.sql.exec('SELECT v FROM names').one().v;",
    "restore": "const undo = await storage.onNextSessionRestoreBookmark(new URL(request.url).searchParams.get('b')); state.abort(); return undo;",
    "writeThenAbort": "storage.sql.exec('CREATE TABLE IF NOT EXISTS ab (v)'); storage.sql.exec('INSERT INTO ab VALUES (1)'); await storage.put('ab', 1); state.abort();",
    "countAb": "return [storage.sql.exec(\"SELECT count(*) AS n FROM sqlite_master WHERE name = 'ab'\").one().n, (await storage.get('ab')) ?? null];",
    "forTime": "return await storage.getBookmarkForTime(Date.now());",
}


def sqlite_worker(**options: Any) -> Miniflare:
    return Miniflare(
        script=object_worker(ROUTES),
        modules=True,
        durable_objects={"TEST": {"class_name": "Test", "sqlite": True}},
        **options,
    )


@pytest.fixture
def mf() -> Iterator[Miniflare]:
    with sqlite_worker() as instance:
        yield instance


def test_hello_world_greeting(mf: Miniflare) -> None:
    assert call(mf, "hello") == "Hello, World!"


def test_cursor_methods(mf: Miniflare) -> None:
    assert call(mf, "schema") == 3
    out = call(mf, "cursor")
    alice = {"artistid": 123, "artistname": "Alice"}
    assert out["iterated"] == [
        alice,
        {"artistid": 456, "artistname": "Bob"},
        {"artistid": 789, "artistname": "Charlie"},
    ]
    assert out["spread"] == ["Alice", "Bob", "Charlie"]
    assert out["raw"] == [[123, "Alice"], [456, "Bob"], [789, "Charlie"]]
    assert out["columns"] == out["columnsToArray"] == ["artistid", "artistname"]
    assert out["first"] == {"done": False, "value": alice}
    assert (out["readAfterOne"], out["readAfterAll"]) == (1, 3)
    assert [row["artistname"] for row in out["rest"]] == ["Bob", "Charlie"]
    assert out["done"] == {"done": True}
    assert out["rawFirst"] == [123, "Alice"]
    assert out["mixedRest"] == ["Bob", "Charlie"]
    assert out["one"] == alice
    assert out["many"] == "Expected exactly one result from SQL query, but got multiple results."
    assert out["none"] == "Expected exactly one result from SQL query, but got no results."
    assert out["written"] == [2, 0]
    assert out["tag"] == "[object SqlStorageCursor]"
    assert out["duplicate"] == {"a": 2}
    assert out["odd"] == {'we"ird ${x}': 1, "b c": 2}
    assert out["proto"] == [0, "object"]


def test_binding_types_and_returned_values(mf: Miniflare) -> None:
    out = call(mf, "bindings")
    assert out["number"] == [1.5, "real"]
    assert out["integer"] == [7, "real"]  # JS numbers bind as doubles, as in workerd
    assert out["string"] == ["héllo", "text"]
    assert out["nul"] == [None, "null"]
    assert out["bigint"] == [9007199254740994, "integer"]
    assert out["blob"] == [True, [0, 1, 255]]
    assert out["view"] == [8, 7]
    assert out["buffer"] == [5]
    assert out["blobLiteral"] == [255]
    assert out["hugeIsNumber"] == "number" and out["hugeIsTwoTo63"] is True  # a lossy double, as in workerd
    assert out["inf"] is True
    assert out["badType"] == "TypeError"


def test_errors_have_workerds_names_and_texts(mf: Miniflare) -> None:
    out = call(mf, "errors")
    assert out[0] == "Error: SQL code did not contain a statement."
    assert out[1] == 'Error: near ";": syntax error at offset 7: SQLITE_ERROR'
    assert out[2].startswith("Error: To execute a transaction, please use the state.storage.transaction()")
    assert out[3] == out[2]
    assert out[4] == "Error: not authorized: SQLITE_AUTH"
    assert out[5] == "Error: access to _cf_KV.key is prohibited: SQLITE_AUTH"
    assert out[6] == "Error: not authorized to use function: sqlite_version: SQLITE_ERROR"
    assert out[7] == "Error: not authorized: SQLITE_AUTH"
    assert out[8] == "Error: not authorized: SQLITE_AUTH"
    assert out[9] == "Error: Wrong number of parameter bindings for SQL query."


def test_database_size_is_a_page_multiple(mf: Miniflare) -> None:
    size = call(mf, "size")
    assert size > 0 and size % 4096 == 0


def test_synchronous_kv_shares_the_async_api_storage(mf: Miniflare) -> None:
    out = call(mf, "kvSync")
    assert out["a"] == {"nested": [1, 2]}
    assert out["missing"] is True and out["isMap"] is True
    assert out["asyncSees"] == {"nested": [1, 2]}
    assert out["syncSeesAsync"] == 3
    assert out["list"] == ["a", "b", "c"]
    assert out["prefixed"] == ["b"]
    assert out["deleted"] == [True, False]
    assert out["undefinedPut"] == "put() called with undefined value."
    assert call(mf, "kvRead") == [True, 3, 3]


def test_transaction_sync_nests_and_rolls_back_on_throw(mf: Miniflare) -> None:
    out = call(mf, "txnSync")
    assert out["value"] == "returned"
    assert out["inner"] == "inner fails"
    assert out["outer"] == "TypeError"
    assert out["rows"] == [1, 3]
    assert out["innerKv"] is None


def test_writes_of_an_event_commit_at_the_output_gate(mf: Miniflare) -> None:
    assert call(mf, "writeThenThrow") == {"error": {"name": "Error", "message": "after the write"}}
    assert call(mf, "countW") == 1
    database = _database(mf)
    assert not database.in_transaction


def test_delete_all_drops_tables_and_pairs(mf: Miniflare) -> None:
    assert call(mf, "deleteAll") == [[], None]


def test_async_transactions_use_the_same_database(mf: Miniflare) -> None:
    assert call(mf, "asyncTxn") == [1, 1]
    assert call(mf, "asyncTxn") == [2, 2]


def test_bookmark_restore_after_abort(mf: Miniflare) -> None:
    assert call(mf, "setName?v=first") == "ok"
    bookmark = call(mf, "bookmark")
    assert call(mf, "setName?v=second") == "ok"
    assert call(mf, "getName") == "second"
    undo = call(mf, f"restore?b={bookmark}")
    assert isinstance(undo, dict) and "error" in undo  # abort() fails the event
    assert call(mf, "getName") == "first"
    assert isinstance(call(mf, "forTime"), str)


def test_objects_stay_separate(mf: Miniflare) -> None:
    call(mf, "setName?v=one", name="one")
    call(mf, "setName?v=two", name="two")
    assert call(mf, "getName", name="one") == "one"
    assert call(mf, "getName", name="two") == "two"


def test_memory_databases_survive_set_options(mf: Miniflare) -> None:
    call(mf, "setName?v=kept")
    mf.set_options(
        script=object_worker(ROUTES), modules=True, durable_objects={"TEST": {"class_name": "Test", "sqlite": True}}
    )
    assert call(mf, "getName") == "kept"


def test_rpc_from_python_reaches_the_sql_api() -> None:
    script = """
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, n INTEGER); INSERT OR IGNORE INTO counter VALUES (1, 0)");
  }
  increment() { return this.ctx.storage.sql.exec("UPDATE counter SET n = n + 1 WHERE id = 1 RETURNING n").one().n; }
}
export default { fetch: () => new Response("") };
"""
    with Miniflare(script=script, modules=True, durable_objects={"C": {"class_name": "Counter", "sqlite": True}}) as mf:
        stub = mf.get_durable_object_namespace("C").get_by_name("x")
        assert [stub.call("increment") for _ in range(3)] == [1, 2, 3]


def _database(mf: Miniflare) -> Any:
    runtime = mf._runtime
    (storage,) = [s for key, s in runtime.storages.items() if key.startswith("TEST:")]
    return storage.store.database()


KV_ONLY = {
    "sql": "try { storage.sql; return null; } catch (e) { return e.message; }",
    "kv": "try { storage.kv; return null; } catch (e) { return e.message; }",
    "txn": "try { storage.transactionSync(() => 1); return null; } catch (e) { return e.message; }",
    "put": "await storage.put('k', 1); return await storage.get('k');",
    "abortPut": "await storage.put('gone', 1); state.abort();",
    "getGone": "return (await storage.get('gone')) ?? null;",
}


def test_kv_backed_classes_refuse_the_sqlite_api_with_workerds_texts() -> None:
    with Miniflare(script=object_worker(KV_ONLY), modules=True, durable_objects={"TEST": "Test"}) as mf:
        assert call(mf, "sql").startswith("SQL is not enabled for this Durable Object class.")
        assert call(mf, "kv").startswith("The storage.kv (synchronous KV) API is only available for SQLite-backed")
        assert call(mf, "txn") == "Durable Object is not backed by SQL."
        assert call(mf, "put") == 1
        assert "error" in call(mf, "abortPut")
        assert call(mf, "getGone") is None


def test_a_slow_statement_is_stopped_by_the_cpu_budget() -> None:
    routes = {
        "slow": "return storage.sql.exec('WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) AS c FROM n').one().c;",
        "fast": "return storage.sql.exec('SELECT 42 AS v').one().v;",
    }
    with Miniflare(
        script=object_worker(routes),
        modules=True,
        durable_objects={"TEST": {"class_name": "Test", "sqlite": True}},
        cpu_limit_ms=200,
    ) as mf:
        response = mf.dispatch_fetch("http://localhost/slow")
        assert response.status == 500
        assert "interrupted: SQLITE_INTERRUPT" in response.text()
        assert call(mf, "fast") == 42  # the emulator keeps serving


def test_abort_drops_the_events_writes(mf: Miniflare) -> None:
    assert call(mf, "writeThenAbort")["error"]["message"] == "Application called abort() to reset Durable Object."
    assert call(mf, "countAb") == [0, None]


def test_alarms_work_on_sqlite_backed_objects() -> None:
    routes = {
        "arm": "storage.sql.exec('CREATE TABLE IF NOT EXISTS fired (at INTEGER)'); await storage.setAlarm(Date.now() + 60_000); return await storage.getAlarm() !== null;",
        "fired": "return [storage.sql.exec('SELECT count(*) AS n FROM fired').one().n, await storage.getAlarm()];",
    }
    alarm = "this.ctx.storage.sql.exec('INSERT INTO fired VALUES (?)', Date.now());"
    with Miniflare(
        script=object_worker(routes, alarm=alarm),
        modules=True,
        durable_objects={"TEST": {"class_name": "Test", "sqlite": True}},
    ) as mf:
        assert call(mf, "arm") is True
        mf.flush_alarms()
        assert call(mf, "fired") == [1, None]


def test_a_reload_can_make_a_class_sqlite_backed() -> None:
    with Miniflare(script=object_worker(ROUTES), modules=True, durable_objects={"TEST": "Test"}) as mf:
        assert "error" in call(mf, "hello")
        mf.set_options(
            script=object_worker(ROUTES), modules=True, durable_objects={"TEST": {"class_name": "Test", "sqlite": True}}
        )
        assert call(mf, "hello") == "Hello, World!"
        storage = mf.get_durable_object_namespace("TEST").storage("test")
        assert storage.sql.exec("SELECT 1 AS one").one() == {"one": 1}
