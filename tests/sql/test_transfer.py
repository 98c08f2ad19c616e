"""SQL tables in ``mf.export_storage`` / ``mf.import_storage`` (mfbook/sql/transfer.py, export.py)."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from typing import Any

import pytest

from mfbook import Miniflare
from mfbook.sql.transfer import decode_cell, encode_cell

SCRIPT = """
import { DurableObject } from "cloudflare:workers";
export class Notes extends DurableObject {}
export class Plain extends DurableObject {}
export default { fetch: () => new Response("") };
"""
OPTIONS: dict[str, Any] = dict(
    script=SCRIPT, modules=True, durable_objects={"NOTES": {"class_name": "Notes", "sqlite": True}, "PLAIN": "Plain"}
)
SCHEMA = """
CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT, data BLOB, big INTEGER, x REAL);
CREATE TABLE log (what TEXT);
CREATE INDEX notes_body ON notes (body);
CREATE VIEW bodies AS SELECT body FROM notes;
CREATE TRIGGER noted AFTER INSERT ON notes BEGIN INSERT INTO log VALUES ('insert ' || new.body); END;
CREATE VIRTUAL TABLE search USING fts5(text);
INSERT INTO notes (body, data, big, x) VALUES ('first', x'00ff', 9223372036854775807, 1e999), ('second', NULL, -5, 0.5);
DELETE FROM notes WHERE body = 'second';
INSERT INTO search VALUES ('hello world');
"""


def _storage(mf: Miniflare, name: str = "a", binding: str = "NOTES"):  # type: ignore[no-untyped-def]
    namespace = mf.get_durable_object_namespace(binding)
    return mf.get_durable_object_storage(namespace.id_from_name(name))


def _state(mf: Miniflare) -> dict[str, Any]:
    sql = _storage(mf).sql
    return {
        "notes": sql.exec("SELECT * FROM notes").raw,
        "log": sql.exec("SELECT * FROM log").raw,
        "view": sql.exec("SELECT * FROM bodies").raw,
        "search": sql.exec("SELECT text FROM search WHERE search MATCH 'hello'").raw,
        "schema": sql.exec("SELECT type, name FROM sqlite_master WHERE name NOT LIKE '_cf_%' ORDER BY name").raw,
        "kv": _storage(mf).list(),
    }


@pytest.fixture
def exported() -> Iterator[tuple[str, dict[str, Any]]]:
    with Miniflare(**OPTIONS) as mf:
        _storage(mf).sql.exec(SCHEMA)
        _storage(mf).put("count", 2)
        stream = io.StringIO()
        summary = mf.export_storage(stream)
        assert summary.objects == 1 and summary.keys == 1 and summary.sql > 0
        yield stream.getvalue(), _state(mf)


def test_export_writes_schema_and_row_lines_after_the_keys(exported: tuple[str, dict[str, Any]]) -> None:
    lines = [json.loads(line) for line in exported[0].splitlines()]
    kinds = [next(kind for kind in ("key", "schema", "table") if kind in line) for line in lines]
    assert kinds[0] == "key" and set(kinds[1:]) == {"schema", "table"}
    schema = [line["schema"] for line in lines if "schema" in line]
    assert schema[0].startswith("CREATE TABLE notes") and schema[1].startswith("CREATE TABLE log")
    assert schema[2].startswith("CREATE VIRTUAL TABLE search")
    assert [text.split()[1] for text in schema[3:]] == ["INDEX", "VIEW", "TRIGGER"]  # after the rows
    rows = [(line["table"], line["row"]) for line in lines if "row" in line]
    assert ("notes", [1, "first", {"$b": "AP8="}, 9223372036854775807, {"$f": "inf"}]) in rows
    assert ("sqlite_sequence", ["notes", 2]) in rows
    assert ("search", ["hello world"]) in rows
    assert not any(name.startswith(("_cf_", "search_")) for name, _ in rows)  # no internal or shadow tables


def test_import_into_a_fresh_emulator_gives_the_same_tables(exported: tuple[str, dict[str, Any]]) -> None:
    text, before = exported
    with Miniflare(**OPTIONS) as mf:
        summary = mf.import_storage(io.StringIO(text))
        assert summary.objects == 1 and summary.keys == 1
        assert _state(mf) == before
        sql = _storage(mf).sql
        sql.exec("INSERT INTO notes (body) VALUES ('third')")  # AUTOINCREMENT goes on from the export
        assert sql.exec("SELECT id FROM notes WHERE body = 'third'").one() == {"id": 3}


def test_import_with_replace_drops_the_tables_there_were(exported: tuple[str, dict[str, Any]]) -> None:
    text, before = exported
    with Miniflare(**OPTIONS) as mf:
        _storage(mf).sql.exec("CREATE TABLE stale (v); CREATE TABLE notes (other)")
        mf.import_storage(io.StringIO(text), replace=True)
        assert _state(mf) == before


def test_a_bad_sql_line_fails_the_import_and_writes_nothing_of_that_object() -> None:
    with Miniflare(**OPTIONS) as mf:
        hex_id = mf.get_durable_object_namespace("NOTES").id_from_name("a").hex
        lines = [
            {"binding": "NOTES", "id": hex_id, "key": "k", "value": 1},
            {"binding": "NOTES", "id": hex_id, "schema": "CREATE TABLE t (v)"},
            {"binding": "NOTES", "id": hex_id, "schema": "CREATE TABLE _cf_mine (v)"},
        ]
        with pytest.raises(Exception, match="not authorized"):
            mf.import_storage(io.StringIO("\n".join(json.dumps(line) for line in lines)))
        assert _storage(mf).sql.tables() == [] and _storage(mf).list() == {}
        pragma = {"binding": "NOTES", "id": hex_id, "schema": "PRAGMA journal_mode = OFF"}
        with pytest.raises(ValueError, match="one CREATE TABLE, INDEX, VIEW or TRIGGER statement"):
            mf.import_storage(io.StringIO(json.dumps(pragma)))


def test_sql_lines_need_a_sqlite_backed_class() -> None:
    with Miniflare(**OPTIONS) as mf:
        hex_id = mf.get_durable_object_namespace("PLAIN").id_from_name("a").hex
        line = {"binding": "PLAIN", "id": hex_id, "schema": "CREATE TABLE t (v)"}
        with pytest.raises(ValueError, match=r"<stream>:1: SQL lines need a SQLite-backed class"):
            mf.import_storage(io.StringIO(json.dumps(line)))


@pytest.mark.parametrize("value", [None, 0, -(2**63), 2**63 - 1, 0.25, "tëxt", b"", b"\x00\x01", math.inf, -math.inf])
def test_cells_round_trip_through_json(value: Any) -> None:
    assert decode_cell(json.loads(json.dumps(encode_cell(value)))) == value


@pytest.mark.parametrize("value", [True, [1], {"$b": 1}, {"$f": "nan"}, {"other": 1}])
def test_other_json_is_not_a_cell(value: Any) -> None:
    with pytest.raises(ValueError, match="not a SQL value"):
        decode_cell(value)
