"""Behaviour every backend shares (parametrised over memory, SQLite and Redis)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfbook.backends import KEEP, Backend, CommitConflict, ObjectStore
from mfbook.backends.base import encode_key
from mfbook.ids import id_from_name

A = id_from_name("COUNTER", "a").hex
B = id_from_name("COUNTER", "b").hex

# Chosen so that code point order, UTF-16 order and UTF-8 byte order disagree.
ODD_KEYS = [
    "",
    "a",
    "ab",
    "b",
    "\x00",
    "\x7f",
    "é",
    "\uffff",
    "\U0001f600",
    "\ud800",
    "\udfff",
    "\ue000",
    "z\x00",
    "a/b",
    "..",
    "CON",
]


def byte_sorted(keys: list[str]) -> list[str]:
    return sorted(keys, key=encode_key)


def put(store: ObjectStore, items: dict[str, bytes], **kwargs: object) -> int:
    return store.commit(puts=items, deletes=(), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def store(backend: Backend) -> ObjectStore:
    return backend.open("COUNTER", A)


def test_new_object_is_empty(store: ObjectStore) -> None:
    assert store.get_many(["x"]) == {}
    assert store.list() == []
    assert store.version() == 0
    assert store.get_alarm() is None
    assert store.count() == 0
    assert store.size_bytes() == 0


def test_get_many_returns_found_keys_only(store: ObjectStore) -> None:
    put(store, {"a": b"1", "b": b"2"})
    assert store.get_many(["b", "missing", "a"]) == {"b": b"2", "a": b"1"}
    assert store.get_many([]) == {}


def test_values_are_bytes_exactly(store: ObjectStore) -> None:
    value = bytes(range(256)) * 3
    put(store, {"v": value, "empty": b""})
    assert store.get_many(["v", "empty"]) == {"v": value, "empty": b""}


def test_list_orders_by_utf8_bytes_including_surrogates_and_emoji(store: ObjectStore) -> None:
    put(store, {key: encode_key(key) for key in ODD_KEYS})
    listed = [key for key, _ in store.list()]
    assert listed == byte_sorted(ODD_KEYS)
    # emoji (4 UTF-8 bytes, F0..) sorts after U+FFFF (EF BF BF) although UTF-16 says otherwise
    assert listed.index("\U0001f600") > listed.index("\uffff")
    assert listed.index("\ud800") < listed.index("\ue000")
    assert store.get_many(ODD_KEYS) == {key: encode_key(key) for key in ODD_KEYS}


KEYS = ["a", "aa", "ab", "abc", "b", "ba", "c"]
OPTIONS = list(
    itertools.product(
        [None, "a", "ab", "b", "zz"],  # start
        [None, "a", "abc", "b", "c", "d"],  # end
        [None, "", "a", "ab", "b", "x"],  # prefix
        [False, True],  # reverse
        [None, 1, 2, 100],  # limit
    )
)


def expected_list(
    keys: list[str],
    start: str | None,
    end: str | None,
    prefix: str | None,
    reverse: bool,
    limit: int | None,
) -> list[str]:
    chosen = [
        key
        for key in byte_sorted(keys)
        if (start is None or encode_key(key) >= encode_key(start))
        and (end is None or encode_key(key) < encode_key(end))
        and (prefix is None or key.startswith(prefix))
    ]
    if reverse:
        chosen.reverse()
    return chosen if limit is None else chosen[:limit]


def test_list_every_option_combination(store: ObjectStore) -> None:
    put(store, {key: key.encode() for key in KEYS})
    for start, end, prefix, reverse, limit in OPTIONS:
        got = store.list(start=start, end=end, prefix=prefix, reverse=reverse, limit=limit)
        want = expected_list(KEYS, start, end, prefix, reverse, limit)
        assert [key for key, _ in got] == want, (start, end, prefix, reverse, limit)
        assert all(value == key.encode() for key, value in got)


@pytest.mark.parametrize("limit", [0, -1])
def test_list_rejects_non_positive_limit(store: ObjectStore, limit: int) -> None:
    with pytest.raises(ValueError):
        store.list(limit=limit)


_counter = itertools.count()
_key_text = st.text(
    alphabet=st.one_of(
        st.characters(codec=None, categories=None),
        st.sampled_from(["\ud800", "\udbff", "\udc00", "\U0001f600", "\uffff", "\x00"]),
    ),
    max_size=6,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    keys=st.lists(_key_text, max_size=12, unique=True),
    start=st.none() | _key_text,
    end=st.none() | _key_text,
    prefix=st.none() | _key_text,
    reverse=st.booleans(),
    limit=st.none() | st.integers(1, 5),
)
def test_list_matches_model_for_arbitrary_keys(
    backend: Backend,
    keys: list[str],
    start: str | None,
    end: str | None,
    prefix: str | None,
    reverse: bool,
    limit: int | None,
) -> None:
    store = backend.open("PROP", id_from_name("PROP", str(next(_counter))).hex)
    if keys:
        put(store, {key: b"v" for key in keys})
    got = store.list(start=start, end=end, prefix=prefix, reverse=reverse, limit=limit)
    prefix_model = None if prefix is None else prefix
    want = [
        key
        for key in expected_list(keys, start, end, None, reverse, None)
        if prefix_model is None or encode_key(key).startswith(encode_key(prefix_model))
    ]
    assert [key for key, _ in got] == (want if limit is None else want[:limit])


def test_commit_applies_delete_all_then_deletes_then_puts(store: ObjectStore) -> None:
    put(store, {"a": b"1", "b": b"2", "c": b"3"})
    store.commit(puts={"a": b"new", "d": b"4"}, deletes=["a", "b"], delete_all=True)
    assert dict(store.list()) == {"a": b"new", "d": b"4"}


def test_delete_all_keeps_alarm(store: ObjectStore) -> None:
    store.commit(puts={"a": b"1"}, deletes=(), alarm=1234)
    store.commit(puts={}, deletes=(), delete_all=True)
    assert store.list() == []
    assert store.count() == 0
    assert store.get_alarm() == 1234


def test_versions_increase_by_one_per_writing_commit(store: ObjectStore) -> None:
    assert put(store, {"a": b"1"}) == 1
    assert store.commit(puts={}, deletes=["a"]) == 2
    assert store.commit(puts={}, deletes=(), alarm=5) == 3
    assert store.version() == 3


def test_commit_without_writes_returns_current_version(store: ObjectStore) -> None:
    put(store, {"a": b"1"})
    assert store.commit(puts={}, deletes=(), read_keys=["a"], read_version=1) == 1
    assert store.version() == 1


def test_alarm_set_keep_and_delete(store: ObjectStore) -> None:
    store.commit(puts={}, deletes=(), alarm=1_700_000_000_123)
    assert store.get_alarm() == 1_700_000_000_123
    put(store, {"a": b"1"}, alarm=KEEP)
    assert store.get_alarm() == 1_700_000_000_123
    store.commit(puts={}, deletes=(), alarm=None)
    assert store.get_alarm() is None


def test_count_and_size_bytes_track_writes(store: ObjectStore) -> None:
    put(store, {"ab": b"123", "é": b"x"})
    assert store.count() == 2
    assert store.size_bytes() == 2 + 3 + 2 + 1
    put(store, {"ab": b"1"})
    assert store.size_bytes() == 2 + 1 + 2 + 1
    store.commit(puts={}, deletes=["é", "missing"])
    assert (store.count(), store.size_bytes()) == (1, 3)


def test_conflict_when_read_key_written_after_read_version(store: ObjectStore) -> None:
    put(store, {"x": b"0"})  # version 1
    read_version = store.version()
    put(store, {"x": b"1"})  # version 2
    with pytest.raises(CommitConflict) as caught:
        store.commit(puts={"x": b"2", "y": b"2"}, deletes=(), read_keys=["y", "x"], read_version=read_version)
    assert caught.value.keys == ("x",)
    assert caught.value.winning_version == 2
    assert caught.value.alarm is False
    assert store.get_many(["x", "y"]) == {"x": b"1"}
    assert store.version() == 2


def test_conflict_reports_every_conflicting_key_and_highest_version(store: ObjectStore) -> None:
    put(store, {"a": b"0", "b": b"0", "c": b"0"})
    put(store, {"a": b"1"})
    put(store, {"b": b"2"})
    with pytest.raises(CommitConflict) as caught:
        put(store, {"z": b""}, read_keys=["a", "b", "c"], read_version=1)
    assert set(caught.value.keys) == {"a", "b"}
    assert caught.value.winning_version == 3


def test_no_conflict_for_unrelated_key(store: ObjectStore) -> None:
    put(store, {"x": b"0"})
    read_version = store.version()
    put(store, {"other": b"1"})
    assert put(store, {"x": b"2"}, read_keys=["x"], read_version=read_version) == 3


def test_delete_counts_as_write_for_conflicts(store: ObjectStore) -> None:
    put(store, {"x": b"0"})
    store.commit(puts={}, deletes=["x"])
    with pytest.raises(CommitConflict):
        put(store, {"y": b"1"}, read_keys=["x"], read_version=1)


def test_delete_all_conflicts_with_reads_of_existing_keys(store: ObjectStore) -> None:
    put(store, {"x": b"0"})
    store.commit(puts={}, deletes=(), delete_all=True)
    with pytest.raises(CommitConflict) as caught:
        put(store, {"y": b"1"}, read_keys=["x"], read_version=1)
    assert caught.value.winning_version == 2


def test_alarm_conflict_only_with_read_alarm(store: ObjectStore) -> None:
    put(store, {"x": b"0"})
    store.commit(puts={}, deletes=(), alarm=99)
    assert put(store, {"y": b"1"}, read_version=1) == 3
    with pytest.raises(CommitConflict) as caught:
        put(store, {"y": b"1"}, read_alarm=True, read_version=1)
    assert caught.value.alarm is True
    assert caught.value.keys == ()
    assert caught.value.winning_version == 2


def test_objects_are_isolated(backend: Backend) -> None:
    first = backend.open("COUNTER", A)
    second = backend.open("COUNTER", B)
    other_binding = backend.open("OTHER", A)
    put(first, {"k": b"1"})
    assert second.get_many(["k"]) == {}
    assert other_binding.get_many(["k"]) == {}
    assert second.version() == 0


def test_list_objects_names_objects_with_data(backend: Backend) -> None:
    assert backend.list_objects("COUNTER") == []
    put(backend.open("COUNTER", B), {"k": b"1"})
    backend.open("COUNTER", A).commit(puts={}, deletes=(), alarm=5)
    backend.open("COUNTER", A).get_many(["k"])
    put(backend.open("OTHER", A), {"k": b"1"})
    assert backend.list_objects("COUNTER") == sorted([A, B])
    backend.open("COUNTER", B).commit(puts={}, deletes=(), delete_all=True)
    assert backend.list_objects("COUNTER") == [A]


@pytest.mark.parametrize("bad", ["", "A" * 64, "0" * 63, "../" + "0" * 61, "g" * 64])
def test_open_rejects_bad_object_hex(backend: Backend, bad: str) -> None:
    with pytest.raises(ValueError):
        backend.open("COUNTER", bad)


@pytest.mark.backends("sqlite", "redis")
def test_data_survives_reopen(make_backend: Callable[[], Backend]) -> None:
    first = make_backend()
    store = first.open("COUNTER", A)
    store.commit(puts={key: encode_key(key) for key in ODD_KEYS}, deletes=(), alarm=77)
    store.commit(puts={}, deletes=["a"])
    first.close()
    reopened = make_backend().open("COUNTER", A)
    assert [key for key, _ in reopened.list()] == byte_sorted([k for k in ODD_KEYS if k != "a"])
    assert reopened.get_alarm() == 77
    assert reopened.version() == 2
    with pytest.raises(CommitConflict):  # tombstone versions persist too
        put(reopened, {"b": b""}, read_keys=["a"], read_version=1)


@pytest.mark.backends("sqlite", "redis")
def test_two_backends_see_each_others_commits_and_conflicts(
    make_backend: Callable[[], Backend],
) -> None:
    one = make_backend().open("COUNTER", A)
    two = make_backend().open("COUNTER", A)
    put(one, {"x": b"1"})
    assert two.get_many(["x"]) == {"x": b"1"}
    read_version = two.version()
    put(one, {"x": b"2"})
    with pytest.raises(CommitConflict):
        put(two, {"x": b"3"}, read_keys=["x"], read_version=read_version)
    assert put(two, {"x": b"3"}, read_keys=["x"], read_version=two.version()) == 3
    assert one.get_many(["x"]) == {"x": b"3"}


@pytest.mark.backends("memory")
def test_memory_backends_do_not_share_data(make_backend: Callable[[], Backend]) -> None:
    put(make_backend().open("COUNTER", A), {"x": b"1"})
    assert make_backend().open("COUNTER", A).get_many(["x"]) == {}


# ---------------------------------------------------------------------- tombstone compaction
def tombstone_records(store: ObjectStore) -> int:
    """How many deleted keys the store still remembers (backend internals, for this test only)."""
    from mfbook.backends.memory import MemoryObjectStore
    from mfbook.backends.sqlite import SqliteObjectStore

    if isinstance(store, MemoryObjectStore):
        return sum(1 for raw in store._key_versions if raw not in store._values)
    if isinstance(store, SqliteObjectStore):
        return store._scalar("SELECT count(*) FROM kv WHERE value IS NULL", 0) or 0
    return int(store._backend.client.hlen(store._ver)) - store.count()  # type: ignore[attr-defined]


def test_tombstones_are_compacted_instead_of_piling_up(store: ObjectStore) -> None:
    put(store, {"keep": b"1"})
    for round_ in range(3):
        keys = [f"r{round_}-{i}" for i in range(700)]
        put(store, {key: b"x" for key in keys})
        store.commit(puts={}, deletes=keys)
    # 2,100 deletions, but never more than one batch of them is remembered.
    assert tombstone_records(store) < 1024
    assert store.get_many(["keep", "r0-1", "r2-699"]) == {"keep": b"1"}
    assert store.count() == 1


def test_reads_older_than_a_compaction_conflict_once(store: ObjectStore) -> None:
    put(store, {"gone": b"1"})
    read_version = store.version()
    keys = [f"k{i}" for i in range(1100)]
    put(store, {key: b"x" for key in keys})
    store.commit(puts={}, deletes=["gone", *keys])  # the compaction drops the tombstone of "gone"
    floor = store.version()
    assert tombstone_records(store) == 0
    with pytest.raises(CommitConflict) as raised:
        store.commit(puts={"out": b"1"}, deletes=(), read_keys=["gone"], read_version=read_version)
    assert raised.value.keys == ("gone",) and raised.value.winning_version == floor
    # A retry reads at the current version and commits.
    assert store.commit(puts={"out": b"1"}, deletes=(), read_keys=["gone"], read_version=floor) == floor + 1
