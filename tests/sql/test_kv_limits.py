# ruff: noqa: E501 - long lines are JavaScript source inside strings
"""The key-value API of SQLite-backed objects has the SQLite backend's limits, not the KV backend's.

workerd keeps each pair as one row of the object's ``_cf_KV`` table and checks no key or
value size of its own there (``ActorSqlite`` calls none of ``ActorStorageLimits``); what
bounds a pair is the row: Cloudflare documents "key and value combined cannot exceed 2 MB",
and SQLite reports a longer row as ``string or blob too big: SQLITE_TOOBIG``.
KV-backed classes keep the 2,048-byte key and 128 KiB value limits and their texts.
"""

from __future__ import annotations

import pytest

from mfbook import Miniflare
from mfbook.errors import SqlError, StorageRangeError
from mfbook.messages import MAX_SQL_ROW_SIZE
from tests.do_support import call, object_worker

ROUTES = {
    "bigValue": """
        const value = "x".repeat(1024 * 1024);  // 1 MiB: far above the KV backend's 128 KiB
        await storage.put("big", value);
        storage.kv.put("bigSync", value);
        const bytes = new Uint8Array(1_900_000);
        await storage.put("bytes", bytes);
        return [(await storage.get("big")).length, storage.kv.get("bigSync").length, (await storage.get("bytes")).byteLength];
    """,
    "longKey": """
        const key = "k".repeat(10_000);  // above the KV backend's 2,048 bytes
        await storage.put(key, 1);
        return [await storage.get(key), storage.kv.get(key), await storage.delete(key)];
    """,
    "tooBig": """
        const out = [];
        const tries = {
          value: () => storage.put("v", new Uint8Array(2 * 1024 * 1024)),
          entries: () => storage.put({ a: 1, b: "y".repeat(2 * 1024 * 1024) }),
          sync: () => storage.kv.put("s", new Uint8Array(2 * 1024 * 1024)),
          keyAndValue: () => storage.put("k".repeat(1024 * 1024), new Uint8Array(1024 * 1024)),
          key: () => storage.get("k".repeat(2 * 1024 * 1024 + 1)),
        };
        for (const [name, attempt] of Object.entries(tries)) {
          try { await attempt(); out.push([name, null]); } catch (e) { out.push([name, `${e.name}: ${e.message}`]); }
        }
        out.push(["stored", [...storage.kv.list()].length]);
        return out;
    """,
    "kvBacked": """
        const out = [];
        try { await storage.put("v", "x".repeat(200_000)); } catch (e) { out.push(`${e.name}: ${e.message}`); }
        try { await storage.put("k".repeat(3000), 1); } catch (e) { out.push(`${e.name}: ${e.message}`); }
        return out;
    """,
}


def _worker(*, sqlite: bool) -> Miniflare:
    return Miniflare(
        script=object_worker(ROUTES), modules=True, durable_objects={"TEST": {"class_name": "Test", "sqlite": sqlite}}
    )


def test_the_limit_is_two_mebibytes_per_row() -> None:
    assert MAX_SQL_ROW_SIZE == 2 * 1024 * 1024


def test_values_far_above_128_kib_are_stored() -> None:
    with _worker(sqlite=True) as mf:
        assert call(mf, "bigValue") == [1024 * 1024, 1024 * 1024, 1_900_000]


def test_keys_above_2048_bytes_are_stored() -> None:
    with _worker(sqlite=True) as mf:
        assert call(mf, "longKey") == [1, 1, True]


def test_a_row_above_two_mebibytes_fails_with_sqlites_error_and_writes_nothing() -> None:
    too_big = "Error: string or blob too big: SQLITE_TOOBIG"
    with _worker(sqlite=True) as mf:
        assert call(mf, "tooBig") == [
            ["value", too_big],
            ["entries", too_big],
            ["sync", too_big],
            ["keyAndValue", too_big],
            ["key", too_big],
            ["stored", 0],
        ]


def test_kv_backed_classes_keep_their_limits_and_texts() -> None:
    with _worker(sqlite=False) as mf:
        assert call(mf, "kvBacked") == [
            "RangeError: Values cannot be larger than 131072 bytes.",
            "RangeError: Keys cannot be larger than 2048 bytes.",
        ]


def test_the_python_api_applies_the_same_limits_per_class() -> None:
    with _worker(sqlite=True) as mf:
        storage = mf.get_durable_object_namespace("TEST").storage("python")
        storage.put("k" * 5000, "x" * 1_000_000)
        assert len(storage.get("k" * 5000)) == 1_000_000
        with pytest.raises(SqlError, match=r"^string or blob too big: SQLITE_TOOBIG$") as caught:
            storage.put({"a": 1, "b": b"\0" * (2 * 1024 * 1024)})
        assert caught.value.code == "SQLITE_TOOBIG"
        assert storage.get(["a"]) == {}
    with _worker(sqlite=False) as mf:
        storage = mf.get_durable_object_namespace("TEST").storage("python")
        with pytest.raises(StorageRangeError, match="Values cannot be larger than 131072 bytes."):
            storage.put("v", "x" * 200_000)
