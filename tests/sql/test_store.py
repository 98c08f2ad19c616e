"""KV pairs and SQL tables of a SQLite-backed object in one database; bookmarks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mfbook.backends.base import CommitConflict
from mfbook.backends.memory import MemoryBackend
from mfbook.backends.redis import RedisBackend
from mfbook.backends.sqlite import SqliteBackend
from mfbook.errors import ConfigError, SqlError
from mfbook.sql.backend import DATABASE_NAME, SqlBackend, SqlBackends
from mfbook.sql.bookmarks import BookmarkLog
from mfbook.sql.store import SqlObjectStore

HEX = "a" * 64


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def memory_store(clock: Clock | None = None) -> SqlObjectStore:
    return SqlObjectStore(None, bookmarks=BookmarkLog(clock=clock or Clock()))


def test_kv_pairs_live_in_cf_kv() -> None:
    store = memory_store()
    store.commit(puts={"b": b"2", "a": b"1"}, deletes=())
    assert store.get_many(["a", "b", "c"]) == {"a": b"1", "b": b"2"}
    assert store.list() == [("a", b"1"), ("b", b"2")]
    database = store.database()
    assert database is not None
    with database.trusted() as connection:
        assert connection.execute("SELECT key, value FROM _cf_KV ORDER BY key").fetchall() == [
            (b"a", b"1"),
            (b"b", b"2"),
        ]


def test_kv_commit_commits_the_sql_of_the_same_event() -> None:
    store = memory_store()
    assert store.begin()
    database = store.database()
    assert database is not None
    database.exec("CREATE TABLE t (v); INSERT INTO t VALUES (1)")
    assert store.in_transaction()
    store.commit(puts={"k": b"v"}, deletes=())
    assert not store.in_transaction()
    assert database.exec("SELECT v FROM t").rows == [(1,)]


def test_validation_conflicts_on_keys_written_later() -> None:
    store = memory_store()
    first = store.commit(puts={"k": b"1"}, deletes=())
    store.commit(puts={"k": b"2"}, deletes=())
    with pytest.raises(CommitConflict) as caught:
        store.commit(puts={"x": b"1"}, deletes=(), read_keys=["k"], read_version=first)
    assert caught.value.keys == ("k",)
    store.commit(deletes=["k"], puts={})
    with pytest.raises(CommitConflict):
        store.commit(puts={}, deletes=(), read_keys=["k"], read_version=first + 1)


def test_alarm_is_stored_in_the_database() -> None:
    store = memory_store()
    store.commit(puts={}, deletes=(), alarm=1234)
    assert store.get_alarm() == 1234
    assert store.has_data()


def test_delete_all_drops_tables_views_triggers_and_pairs() -> None:
    store = memory_store()
    store.begin()
    database = store.database()
    assert database is not None
    database.exec(
        "CREATE TABLE t (v); CREATE VIEW w AS SELECT v FROM t;"
        " CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END; CREATE INDEX i ON t (v)"
    )
    store.commit(puts={"k": b"v"}, deletes=())
    store.commit(puts={}, deletes=(), delete_all=True)
    assert database.user_tables() == []
    assert store.count() == 0
    with database.trusted() as connection:
        assert connection.execute("SELECT name FROM sqlite_schema WHERE name NOT LIKE '_cf_%'").fetchall() == []


def test_bookmark_restores_sql_and_kv_together() -> None:
    clock = Clock()
    store = memory_store(clock)
    store.begin()
    database = store.database()
    assert database is not None
    database.exec("CREATE TABLE t (v); INSERT INTO t VALUES ('before')")
    store.commit(puts={"k": b"before"}, deletes=())
    mark = store.bookmarks.current()
    clock.now += 60
    store.begin()
    database.exec("UPDATE t SET v = 'after'")
    store.commit(puts={"k": b"after"}, deletes=())
    undo = store.restore(mark)
    assert database.exec("SELECT v FROM t").rows == [("before",)]
    assert store.get_many(["k"]) == {"k": b"before"}
    store.restore(undo)
    assert database.exec("SELECT v FROM t").rows == [("after",)]


def test_bookmark_for_time_finds_the_state_at_that_time() -> None:
    clock = Clock()
    store = memory_store(clock)
    store.commit(puts={"k": b"1"}, deletes=())
    one = clock.now
    clock.now += 10
    store.commit(puts={"k": b"2"}, deletes=())
    clock.now += 10
    store.restore(store.bookmarks.for_time((one + 5) * 1000))
    assert store.get_many(["k"]) == {"k": b"1"}


def test_bookmark_errors() -> None:
    clock = Clock()
    log = BookmarkLog(clock=clock, retention_days=1)
    log.record(b"image")
    with pytest.raises(SqlError, match="future"):
        log.for_time((clock.now + 10) * 1000)
    with pytest.raises(SqlError, match="outside the point-in-time recovery window"):
        log.for_time((clock.now - 2 * 86_400) * 1000)
    with pytest.raises(SqlError, match="Invalid bookmark"):
        log.image("nope")


def test_old_bookmarks_expire_and_the_log_is_bounded() -> None:
    clock = Clock()
    log = BookmarkLog(clock=clock, retention_days=1, max_entries=3)
    first = log.record(b"1")
    clock.now += 2 * 86_400
    for n in range(5):
        log.record(str(n).encode())
    with pytest.raises(SqlError, match="not in the point-in-time recovery window"):
        log.image(first)
    assert log.image(log.current()) == b"4"
    assert len(log._keys) == 3


def test_bookmarks_sort_by_time() -> None:
    clock = Clock()
    log = BookmarkLog(clock=clock)
    marks = []
    for _ in range(3):
        marks.append(log.record(b"x"))
        clock.now += 1
    assert marks == sorted(marks)


def test_file_database_is_readable_with_plain_sqlite(tmp_path: Path) -> None:
    backend = SqlBackend(tmp_path)
    store = backend.open("COUNTER", HEX)
    store.begin()
    database = store.database()
    assert database is not None
    database.exec("CREATE TABLE t (v); INSERT INTO t VALUES (42)")
    store.commit(puts={"k": b"v"}, deletes=())
    path = tmp_path / "COUNTER" / HEX / DATABASE_NAME
    other = sqlite3.connect(path)
    assert other.execute("SELECT v FROM t").fetchall() == [(42,)]
    assert other.execute("SELECT key FROM _cf_KV").fetchall() == [(b"k",)]
    other.close()
    assert backend.list_objects("COUNTER") == [HEX]
    backend.close()
    reopened = SqlBackend(tmp_path).open("COUNTER", HEX)
    assert reopened.get_many(["k"]) == {"k": b"v"}
    assert reopened.bookmarks.current()  # the log survived on disk


def test_reading_a_missing_object_creates_no_file(tmp_path: Path) -> None:
    store = SqlBackend(tmp_path).open("COUNTER", HEX)
    assert store.get_many(["k"]) == {}
    assert store.list() == []
    assert not (tmp_path / "COUNTER").exists()


def test_backends_sit_beside_memory_and_files_and_refuse_redis(tmp_path: Path) -> None:
    backends = SqlBackends()
    memory = MemoryBackend()
    assert backends.over(memory).root is None
    assert backends.over(memory) is backends.over(memory)
    assert backends.over(SqliteBackend(tmp_path)).root == tmp_path.absolute()
    with pytest.raises(ConfigError, match="cannot be stored in") as caught:
        backends.over(RedisBackend("redis://127.0.0.1:1/0"))
    assert caught.value.option == "durable_objects_persist"


def test_snapshots_share_unchanged_pages() -> None:
    log = BookmarkLog(clock=Clock())
    first = bytes(4096) + b"a" * 4096 + b"b" * 4096
    second = bytes(4096) + b"c" * 4096 + b"b" * 4096
    one, two = log.record(first), log.record(second)
    assert log.image(one) == first and log.image(two) == second
    pages_one, pages_two = log._pages[log._keys[0]], log._pages[log._keys[1]]
    assert pages_one[0] is pages_two[0] and pages_one[2] is pages_two[2]
    assert pages_one[1] is not pages_two[1]


def test_disk_log_reloads_and_collects_unused_pages(tmp_path: Path) -> None:
    path = tmp_path / "bookmarks.sqlite3"
    log = BookmarkLog(path=path, clock=Clock(), max_entries=2)
    images = [bytes([n]) * 4096 + b"same" * 1024 for n in range(70)]
    marks = [log.record(image) for image in images]
    log.close()
    again = BookmarkLog(path=path, clock=Clock(), max_entries=2)
    assert again.image(marks[-1]) == images[-1]
    assert again.image(marks[-2]) == images[-2]
    with pytest.raises(SqlError, match="not in the point-in-time recovery window"):
        again.image(marks[0])
    plain = sqlite3.connect(path)
    (pages,) = plain.execute("SELECT count(*) FROM pages").fetchone()
    plain.close()
    assert pages < 20  # 70 snapshots of 2 pages, the shared page stored once, dropped pages collected
