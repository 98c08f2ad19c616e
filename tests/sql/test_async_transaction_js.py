# ruff: noqa: E501 - long lines are JavaScript source inside strings
"""The async ``storage.transaction()`` of SQLite-backed objects: SQL inside it rolls back with it.

In workerd the closure of ``transaction()`` runs in a savepoint of the object's database, so
a throw or ``txn.rollback()`` undoes its SQL as well as its key-value writes (workerd's
sql-test.js, "Try a transaction that is implicitly rolled back by throwing an exception").
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mfbook import Miniflare
from tests.do_support import call, object_worker

SETUP = 'storage.sql.exec("CREATE TABLE IF NOT EXISTS t (v)"); storage.sql.exec("DELETE FROM t"); await storage.put("n", 0);'
ROUTES = {
    "throws": SETUP
    + """
        try {
          await storage.transaction(async (txn) => {
            storage.sql.exec("INSERT INTO t VALUES (1)");
            await txn.put("n", 1);
            throw new Error("txn failure");
          });
        } catch (e) { var message = e.message; }
        return [message, storage.sql.exec("SELECT count(*) AS c FROM t").one().c, await storage.get("n")];
    """,
    "rollback": SETUP
    + """
        await storage.transaction(async (txn) => {
          storage.sql.exec("INSERT INTO t VALUES (1)");
          storage.kv.put("n", 4);
          txn.rollback();
        });
        return [storage.sql.exec("SELECT count(*) AS c FROM t").one().c, await storage.get("n")];
    """,
    "commits": SETUP
    + """
        const result = await storage.transaction(async (txn) => {
          storage.sql.exec("INSERT INTO t VALUES (1)");
          await txn.put("n", 1);
          return "foo";
        });
        return [result, storage.sql.exec("SELECT count(*) AS c FROM t").one().c, await storage.get("n")];
    """,
    "nested": SETUP
    + """
        await storage.transaction(async (txn) => {
          storage.sql.exec("INSERT INTO t VALUES (1)");
          await storage.transaction(async () => {
            storage.sql.exec("INSERT INTO t VALUES (2)");
            await scheduler.wait(1);
          });
          txn.rollback();
        });
        const after = storage.sql.exec("SELECT count(*) AS c FROM t").one().c;
        await storage.transaction(async () => {
          storage.sql.exec("INSERT INTO t VALUES (3)");
          try {
            await storage.transaction(async () => { storage.sql.exec("INSERT INTO t VALUES (4)"); throw new Error("inner"); });
          } catch {}
        });
        return [after, storage.sql.exec("SELECT v FROM t ORDER BY v").raw().toArray().flat()];
    """,
    "awaitsIo": SETUP
    + """
        try {
          await storage.transaction(async () => {
            storage.sql.exec("INSERT INTO t VALUES (1)");
            await scheduler.wait(5);
            storage.sql.exec("INSERT INTO t VALUES (2)");
            throw new Error("late failure");
          });
        } catch {}
        await scheduler.wait(5);
        return storage.sql.exec("SELECT count(*) AS c FROM t").one().c;
    """,
    "count": 'return storage.sql.exec("SELECT count(*) AS c FROM t").one().c;',
}


@pytest.fixture
def mf() -> Iterator[Miniflare]:
    with Miniflare(
        script=object_worker(ROUTES, prelude="const scheduler = { wait: (ms) => new Promise((r) => setTimeout(r, ms)) };"),
        modules=True,
        durable_objects={"TEST": {"class_name": "Test", "sqlite": True}},
    ) as instance:
        yield instance


def test_a_throwing_closure_rolls_back_its_sql_and_kv_writes(mf: Miniflare) -> None:
    assert call(mf, "throws") == ["txn failure", 0, 0]
    assert call(mf, "count") == 0  # nothing was committed at the output gate either


def test_rollback_drops_the_sql_and_the_sync_kv_writes(mf: Miniflare) -> None:
    assert call(mf, "rollback") == [0, 0]


def test_a_finished_closure_keeps_its_sql(mf: Miniflare) -> None:
    assert call(mf, "commits") == ["foo", 1, 1]
    assert call(mf, "count") == 1


def test_nested_transactions_roll_back_level_by_level(mf: Miniflare) -> None:
    assert call(mf, "nested") == [0, [3]]


def test_a_closure_awaiting_io_still_rolls_back_everything(mf: Miniflare) -> None:
    assert call(mf, "awaitsIo") == 0
    assert call(mf, "count") == 0
