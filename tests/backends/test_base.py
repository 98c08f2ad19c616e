"""The commit helpers every store shares (mfbook/backends/base.py, sql_versions.py)."""

from __future__ import annotations

import sqlite3

import pytest

from mfbook.backends.base import KEEP, TOMBSTONE_BATCH, CommitBatch, CommitConflict, check_reads, should_compact
from mfbook.backends.sql_versions import range_query, version_in, write_meta


def test_a_batch_writes_when_it_puts_deletes_clears_or_sets_the_alarm() -> None:
    assert not CommitBatch(puts={}, deletes=()).writes
    assert CommitBatch(puts={"a": b"1"}, deletes=()).writes
    assert CommitBatch(puts={}, deletes=["a"]).writes
    assert CommitBatch(puts={}, deletes=(), delete_all=True).writes
    assert CommitBatch(puts={}, deletes=(), alarm=None).writes
    assert not CommitBatch(puts={}, deletes=(), alarm=KEEP).writes


def test_reads_of_keys_without_a_record_count_as_written_at_the_floor() -> None:
    versions = {b"kept": 3}
    batch = CommitBatch(puts={}, deletes=(), read_keys=["kept", "gone"], read_version=4)
    check_reads(batch, written=versions.get, alarm_version=0, floor=4)  # nothing newer than 4
    with pytest.raises(CommitConflict) as caught:
        check_reads(batch, written=versions.get, alarm_version=0, floor=5)
    assert caught.value.keys == ("gone",) and caught.value.winning_version == 5


def test_the_alarm_conflicts_only_when_it_was_read() -> None:
    unread = CommitBatch(puts={}, deletes=(), read_version=1)
    check_reads(unread, written=lambda raw: None, alarm_version=9, floor=0)
    read = CommitBatch(puts={}, deletes=(), read_alarm=True, read_version=1)
    with pytest.raises(CommitConflict) as caught:
        check_reads(read, written=lambda raw: None, alarm_version=9, floor=0)
    assert caught.value.alarm and caught.value.winning_version == 9


def test_no_read_version_checks_nothing() -> None:
    batch = CommitBatch(puts={}, deletes=(), read_keys=["a"], read_alarm=True)
    check_reads(batch, written=lambda raw: 99, alarm_version=99, floor=99)


def test_compaction_waits_for_a_batch_and_for_as_many_tombstones_as_live_keys() -> None:
    counted: list[int] = []

    def live() -> int:
        counted.append(1)
        return 2000

    assert not should_compact(TOMBSTONE_BATCH - 1, live) and counted == []  # not even counted
    assert not should_compact(TOMBSTONE_BATCH, live)
    assert should_compact(2000, live)


def test_the_sql_helpers_read_versions_write_meta_and_list_ranges() -> None:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE v (key BLOB PRIMARY KEY, version INTEGER)")
    connection.execute("CREATE TABLE meta (id INTEGER PRIMARY KEY, version INTEGER, alarm INTEGER, alarm_version INTEGER)")
    connection.execute("INSERT INTO meta VALUES (0, 0, NULL, 0)")
    connection.executemany("INSERT INTO v VALUES (?, ?)", [(b"a", 1), (b"b", 2), (b"c", 3)])
    written = version_in(connection, "v")
    assert (written(b"b"), written(b"zz")) == (2, None)
    write_meta(connection, "meta", 4, KEEP)
    assert connection.execute("SELECT version, alarm, alarm_version FROM meta").fetchone() == (4, None, 0)
    write_meta(connection, "meta", 5, 1234)
    assert connection.execute("SELECT version, alarm, alarm_version FROM meta").fetchone() == (5, 1234, 5)
    sql, params = range_query("SELECT key FROM v WHERE 1", b"a", b"c", reverse=True, limit=1)
    assert connection.execute(sql, params).fetchall() == [(b"b",)]
    sql, params = range_query("SELECT key FROM v WHERE 1", b"b", None, reverse=False, limit=None)
    assert connection.execute(sql, params).fetchall() == [(b"b",), (b"c",)]
