"""The SQL engine of SQLite-backed objects, against workerd's behaviour and texts."""

from __future__ import annotations

import sqlite3

import pytest

from mfbook.errors import SqlError
from mfbook.sql.authorizer import TRANSACTION_MESSAGE
from mfbook.sql.database import SqlDatabase, open_connection, split_statements


@pytest.fixture
def db() -> SqlDatabase:
    database = SqlDatabase(open_connection(":memory:"))
    database.begin()
    return database


def test_select_returns_columns_rows_and_counts(db: SqlDatabase) -> None:
    result = db.exec("SELECT 123 AS n, 'abc' AS s, x'ff' AS b, NULL AS z, 1.5 AS f")
    assert result.columns == ("n", "s", "b", "z", "f")
    assert result.rows == [(123, "abc", b"\xff", None, 1.5)]
    assert (result.rows_read, result.rows_written, result.statements) == (1, 0, 1)


def test_bindings_of_every_type_round_trip(db: SqlDatabase) -> None:
    db.exec("CREATE TABLE t (v)")
    db.exec("INSERT INTO t VALUES (?), (?), (?), (?), (?)", [1.5, "text", b"\x00\x01", None, 2**60 + 1])
    assert db.exec("SELECT v, typeof(v) FROM t").rows == [
        (1.5, "real"),
        ("text", "text"),
        (b"\x00\x01", "blob"),
        (None, "null"),
        (2**60 + 1, "integer"),
    ]


def test_lone_surrogates_become_replacement_characters(db: SqlDatabase) -> None:
    assert db.exec("SELECT ?", ["a\ud800b"]).rows == [("a\ufffdb",)]


def test_multi_statement_runs_all_and_returns_the_last(db: SqlDatabase) -> None:
    result = db.exec(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES (?), (?) RETURNING id", ["a", "b"]
    )
    assert result.rows == [(1,), (2,)]
    assert result.rows_written == 2
    assert result.statements == 2
    assert db.exec("SELECT 1; SELECT 2;").rows == [(2,)]


def test_semicolons_in_strings_and_triggers_do_not_split() -> None:
    assert split_statements("SELECT 'a;b'; SELECT 2") == ["SELECT 'a;b';", " SELECT 2"]
    trigger = "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET v = 1; DELETE FROM t; END;"
    assert split_statements(trigger) == [trigger]


@pytest.mark.parametrize("query", ["", ";", "  ; ", "SELECT 123; SELECT 456; -- trailing comment", "-- only"])
def test_no_statement_is_workerds_error(db: SqlDatabase, query: str) -> None:
    with pytest.raises(SqlError, match=r"^SQL code did not contain a statement\.$"):
        db.exec(query)


def test_syntax_errors_carry_offset_and_code(db: SqlDatabase) -> None:
    with pytest.raises(SqlError, match=r'^near ";": syntax error at offset 7: SQLITE_ERROR$'):
        db.exec("SELECT ;")
    with pytest.raises(SqlError, match=r"syntax error at offset 8"):
        db.exec("SELECT -;")


def test_constraint_error_names_primary_and_extended_codes(db: SqlDatabase) -> None:
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    db.exec("INSERT INTO t VALUES (1)")
    with pytest.raises(SqlError) as caught:
        db.exec("INSERT INTO t VALUES (1)")
    assert str(caught.value) == (
        "UNIQUE constraint failed: t.id: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_PRIMARYKEY)"
    )
    assert caught.value.code == "SQLITE_CONSTRAINT_PRIMARYKEY"


def test_datatype_mismatch(db: SqlDatabase) -> None:
    db.exec("CREATE TABLE t (name TEXT)")
    with pytest.raises(SqlError, match="^datatype mismatch: SQLITE_MISMATCH$"):
        db.exec("INSERT INTO t (rowid, name) VALUES ('yeah', 'nah')")


def test_wrong_number_of_bindings(db: SqlDatabase) -> None:
    with pytest.raises(SqlError, match=r"^Wrong number of parameter bindings for SQL query\.$"):
        db.exec("SELECT ?")
    with pytest.raises(SqlError, match="only the last statement can have parameters"):
        db.exec("SELECT ?; SELECT 1", [1])


@pytest.mark.parametrize("query", ["BEGIN TRANSACTION", "SAVEPOINT foo", "COMMIT", "ROLLBACK", "RELEASE foo"])
def test_transaction_statements_are_refused_with_workerds_explanation(db: SqlDatabase, query: str) -> None:
    with pytest.raises(SqlError) as caught:
        db.exec(query)
    assert str(caught.value) == TRANSACTION_MESSAGE


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("CREATE TABLE _cf_invalid (name TEXT)", "not authorized: SQLITE_AUTH"),
        ("SELECT * FROM _cf_KV", "access to _cf_KV.key is prohibited: SQLITE_AUTH"),
        ("PRAGMA table_info(_cf_KV)", "not authorized: SQLITE_AUTH"),
        ("PRAGMA hard_heap_limit = 1024", "not authorized: SQLITE_AUTH"),
        ("PRAGMA data_version = 5", "not authorized: SQLITE_AUTH"),
        ("PRAGMA page_size = 8192", "not authorized: SQLITE_AUTH"),
        ("PRAGMA journal_mode = DELETE", "not authorized: SQLITE_AUTH"),
        ("ATTACH 'other.db' AS other", "not authorized: SQLITE_AUTH"),
        ("CREATE TEMP TABLE t (a)", "not authorized: SQLITE_AUTH"),
        ("SELECT sqlite_version()", "not authorized to use function: sqlite_version: SQLITE_ERROR"),
        ("CREATE VIRTUAL TABLE v USING fts5abcd(id)", "not authorized: SQLITE_AUTH"),
    ],
)
def test_forbidden_statements_fail_like_workerd(db: SqlDatabase, query: str, message: str) -> None:
    with db.trusted() as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS _cf_KV (key BLOB PRIMARY KEY, value BLOB)")
    with pytest.raises(SqlError) as caught:
        db.exec(query)
    assert str(caught.value) == message


def test_allowed_pragmas_and_functions(db: SqlDatabase) -> None:
    db.exec("CREATE TABLE my_table (foo TEXT, bar INTEGER)")
    assert [row[1] for row in db.exec("PRAGMA table_info(my_table)").rows] == ["foo", "bar"]
    assert db.exec("PRAGMA quick_check").rows == [("ok",)]
    assert db.exec("PRAGMA foreign_keys = ON").rows == []
    assert db.exec("SELECT abs(-123), cos(0), json_extract('{\"a\": 2}', '$.a')").rows == [(123, 1.0, 2)]
    assert db.exec("PRAGMA table_list").columns[:2] == ("schema", "name")


@pytest.mark.skipif(not hasattr(sqlite3.Connection, "setlimit"), reason="SQLite limits need Python 3.11")
def test_compound_select_limit_is_workerds(db: SqlDatabase) -> None:
    assert len(db.exec(" UNION ALL ".join(f"SELECT {n}" for n in range(5))).rows) == 5
    with pytest.raises(SqlError, match="too many terms in compound SELECT"):
        db.exec(" UNION ALL ".join(f"SELECT {n}" for n in range(6)))


def test_savepoints_nest_and_roll_back_only_their_level(db: SqlDatabase) -> None:
    db.exec("CREATE TABLE t (v)")
    assert db.savepoint() == 1
    db.exec("INSERT INTO t VALUES (1)")
    assert db.savepoint() == 2
    db.exec("INSERT INTO t VALUES (2)")
    db.rollback_to()
    db.release()
    assert db.depth == 0
    assert db.exec("SELECT v FROM t").rows == [(1,)]


def test_rollback_drops_the_implicit_transaction(db: SqlDatabase) -> None:
    db.exec("CREATE TABLE t (v)")
    db.commit()
    db.begin()
    db.exec("INSERT INTO t VALUES (1)")
    db.rollback()
    assert db.exec("SELECT count(*) FROM t").rows == [(0,)]


def test_database_size_counts_used_pages(db: SqlDatabase) -> None:
    empty = db.size()
    db.exec("CREATE TABLE t (v)")
    db.exec("INSERT INTO t VALUES (randomblob(20000))")
    assert db.size() > empty + 16384
    assert db.size() % 4096 == 0


def test_user_sql_spelled_like_mfbooks_own_statements_is_still_checked(db: SqlDatabase) -> None:
    with db.trusted() as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS _cf_KV (key BLOB PRIMARY KEY, value BLOB)")
        connection.execute("SELECT key, value FROM _cf_KV")
    with pytest.raises(SqlError, match="access to _cf_KV.key is prohibited"):
        db.exec("SELECT key, value FROM _cf_KV")
    with pytest.raises(SqlError) as caught:
        db.exec("BEGIN")  # the implicit transaction was opened with a trusted BEGIN
    assert str(caught.value) == TRANSACTION_MESSAGE
