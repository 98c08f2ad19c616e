"""``rowsRead`` counted like the runtime's (mfbook/sql/reads.py).

The expected numbers are those of workerd's patched SQLite: its ``testIoStats`` (sql-test.js)
for whole scans, scans with an ``IN`` filter and writes by key, and the patch's rules for the
rest (``count(*)`` reads every row, a lookup by key reads one).
"""

from __future__ import annotations

import pytest

from mfbook.sql.database import SqlDatabase, open_connection


@pytest.fixture
def db() -> SqlDatabase:
    database = SqlDatabase(open_connection(":memory:"))
    database.begin()
    database.exec("CREATE TABLE tbl (id INTEGER PRIMARY KEY, value TEXT, n INTEGER)")
    for index in range(1, 1001):
        database.exec("INSERT INTO tbl VALUES (?, ?, ?)", [index, f"v{index}", index % 10])
    return database


def reads(db: SqlDatabase, query: str, *bindings: object) -> tuple[int, int]:
    result = db.exec(query, list(bindings))
    return result.rows_read, len(result.rows)


def test_a_whole_scan_reads_every_row(db: SqlDatabase) -> None:
    assert reads(db, "SELECT * FROM tbl") == (1000, 1000)


def test_a_filtered_scan_reads_every_row_it_looked_at(db: SqlDatabase) -> None:
    assert reads(db, "SELECT * FROM tbl WHERE n = 3") == (1000, 100)
    assert reads(db, "SELECT * FROM tbl WHERE value IN ('v1', 'v2', 'v3')") == (1000, 3)  # the IN list is no table


def test_count_reads_every_row(db: SqlDatabase) -> None:
    assert reads(db, "SELECT count(*) FROM tbl") == (1000, 1)


def test_a_lookup_by_key_reads_one_row(db: SqlDatabase) -> None:
    assert reads(db, "SELECT * FROM tbl WHERE id = ?", 7) == (1, 1)
    result = db.exec("UPDATE tbl SET n = n + 1 WHERE id = 7 RETURNING n")
    assert (result.rows_read, result.rows_written) == (1, 1)


def test_an_index_search_reads_what_it_yields(db: SqlDatabase) -> None:
    db.exec("CREATE INDEX tbl_n ON tbl (n)")
    assert reads(db, "SELECT id FROM tbl WHERE n = 3") == (100, 100)
    assert reads(db, "SELECT count(*) FROM tbl") == (1000, 1)  # plans are analysed again after the index


def test_an_empty_scan_reads_one_as_the_runtime_counts_its_start(db: SqlDatabase) -> None:
    db.exec("CREATE TABLE empty (v)")
    assert reads(db, "SELECT * FROM empty") == (1, 0)


def test_each_run_has_its_own_count_and_statements_add_up(db: SqlDatabase) -> None:
    assert reads(db, "SELECT * FROM tbl WHERE n = 1") == (1000, 100)
    assert reads(db, "SELECT * FROM tbl WHERE n = 1") == (1000, 100)
    result = db.exec("SELECT * FROM tbl WHERE id = 1; SELECT count(*) FROM tbl")
    assert result.rows_read == 1001 and result.statements == 2
