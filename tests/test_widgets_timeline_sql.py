"""The SQL statements of a request in the timeline's details (timeline_items.RequestSql, timeline_model)."""

from __future__ import annotations

from typing import Any

from mfbook import Miniflare
from mfbook.trace import TraceEvent
from mfbook.widgets.timeline_items import SQL_PER_REQUEST
from mfbook.widgets.timeline_model import TimelineModel

OBJ = {"binding": "NOTES", "object_id": "cd" * 32, "object_name": "a"}


def event(seq: int, kind: str, *, request_id: int = 7, txn_id: int | None = None, **data: Any) -> TraceEvent:
    return TraceEvent(
        seq=seq, time=seq / 1000, kind=kind, txn_id=txn_id, attempt=1, request_id=request_id, data=data, **OBJ
    )


def sql(seq: int, statement: str, *, request_id: int = 7, read: int = 1, written: int = 0) -> TraceEvent:
    return event(
        seq,
        "sql.exec",
        request_id=request_id,
        statement=statement,
        rows_read=read,
        rows_written=written,
        statements=1,
        ms=0.25,
    )


def test_an_attempt_lists_the_sql_of_its_request_before_and_after_it_began() -> None:
    model = TimelineModel()
    model.feed([sql(1, "CREATE TABLE t (v)"), event(2, "txn.begin", txn_id=1, read_version=0)])
    model.feed([sql(3, "INSERT INTO t VALUES (1)", written=1), sql(4, "SELECT 1", request_id=8)])
    (bar,) = model.to_json()["bars"]
    assert bar["sql"] == [
        {"statement": "CREATE TABLE t (v)", "rows_read": 1, "rows_written": 0, "ms": 0.25},
        {"statement": "INSERT INTO t VALUES (1)", "rows_read": 1, "rows_written": 1, "ms": 0.25},
    ]


def test_a_statement_after_the_attempt_began_reaches_a_live_front_end_as_a_delta() -> None:
    model = TimelineModel()
    model.feed([event(1, "txn.begin", txn_id=1, read_version=0)])
    held = model.revision
    assert model.feed([sql(2, "UPDATE t SET v = 2", written=1)])
    (bar,) = model.delta(held)["bars"]
    assert [item["statement"] for item in bar["sql"]] == ["UPDATE t SET v = 2"]
    assert not model.feed([sql(3, "SELECT 1", request_id=99)])  # no attempt shows request 99: nothing to send


def test_a_request_keeps_its_first_statements() -> None:
    model = TimelineModel()
    model.feed([event(1, "txn.begin", txn_id=1, read_version=0)])
    model.feed([sql(index + 2, f"INSERT INTO t VALUES ({index})") for index in range(SQL_PER_REQUEST + 10)])
    (bar,) = model.to_json()["bars"]
    assert len(bar["sql"]) == SQL_PER_REQUEST and bar["sql"][-1]["statement"].endswith(f"({SQL_PER_REQUEST - 1})")


def test_a_real_request_s_statements_show_with_its_transaction() -> None:
    script = """
import { DurableObject } from "cloudflare:workers";
export class Notes extends DurableObject {
  async move() {
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t (v)");
    this.ctx.storage.sql.exec("INSERT INTO t VALUES (1), (2)");
    await this.ctx.storage.transaction(async (txn) => { await txn.put("n", ((await txn.get("n")) ?? 0) + 1); });
    this.ctx.storage.sql.exec("SELECT * FROM t").toArray();
  }
}
export default { fetch: () => new Response("") };
"""
    with Miniflare(script=script, modules=True, durable_objects={"N": {"class_name": "Notes", "sqlite": True}}) as mf:
        mf.get_durable_object_namespace("N").get_by_name("a").call("move")
        model = TimelineModel()
        model.feed(mf.trace.events())
        (bar,) = model.to_json()["bars"]
        assert [(item["statement"], item["rows_read"], item["rows_written"]) for item in bar["sql"]] == [
            ("CREATE TABLE IF NOT EXISTS t (v)", 0, 0),
            ("INSERT INTO t VALUES (1), (2)", 2, 2),
            ("SELECT * FROM t", 2, 0),
        ]
