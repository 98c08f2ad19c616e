"""The storage API from Python: same semantics, limits and message texts as JavaScript."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import pytest
from do_support import call, start

from mfbook import UNDEFINED, JSMap, JSTypedArray, Miniflare, StorageRangeError, StorageTypeError

ROUTES = {
    "read": "return { value: (await storage.get('shared')) ?? null, isMap: (await storage.get('map')) instanceof Map };",  # noqa: E501
    "write": "await storage.put('fromJs', { n: 1 }); return true;",
    "constructed": "return self.constructedCount;",
    "nulls": "const m = await storage.get(['single', 'many']); return [m.size, m.get('single'), m.get('many')];",
}
MEMBERS = """
  get constructedCount() { return globalThis.constructedCount; }
"""


@pytest.fixture
def mf():
    with start(ROUTES, members=MEMBERS) as instance:
        yield instance


def storage_of(mf: Miniflare, name: str = "test"):
    return mf.get_durable_object_storage(mf.get_durable_object_namespace("TEST").id_from_name(name))


def deeply_nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def test_none_is_stored_as_null_and_round_trips(mf):
    storage = storage_of(mf)
    storage.put("single", None)
    storage.put({"many": None, "other": 1})
    assert storage.get(["single", "many", "other"]) == {"many": None, "other": 1, "single": None}
    assert storage.list() == {"many": None, "other": 1, "single": None}
    storage.put(storage.list())  # written back as read: lossless
    assert storage.list() == {"many": None, "other": 1, "single": None}
    assert call(mf, "nulls") == [2, None, None]  # JS finds both keys, holding null


def test_put_get_delete_round_trip(mf):
    storage = storage_of(mf)
    assert storage.get("a") is None
    storage.put("a", {"x": [1, 2.5, None]})
    assert storage.get("a") == {"x": [1, 2.5, None]}
    storage.put({"b": 2, "c": 3, "skipped": UNDEFINED})
    assert storage.get(["c", "missing", "a", "b", "skipped"]) == {"a": {"x": [1, 2.5, None]}, "b": 2, "c": 3}
    assert list(storage.get(["c", "b", "a"])) == ["a", "b", "c"]
    assert storage.delete("a") is True
    assert storage.delete("a") is False
    assert storage.delete(["b", "c", "d"]) == 2
    assert storage.list() == {}


def test_python_writes_are_seen_by_js_and_back(mf):
    storage = storage_of(mf)
    storage.put("shared", "from python")
    storage.put("map", JSMap([(1, "a")]))
    assert call(mf, "read") == {"value": "from python", "isMap": True}
    call(mf, "write")
    assert storage.get("fromJs") == {"n": 1}


def test_get_durable_object_storage_does_not_construct_the_object(mf):
    storage = storage_of(mf, "unconstructed")
    storage.put("k", 1)
    storage.get("k")
    storage.list()
    assert mf.get_durable_object_namespace("TEST").object_ids() == [storage.id.hex]
    storage.delete("k")
    runtime = mf._runtime
    assert all(actor.worker is None or actor.hex != storage.id.hex for actor in runtime.actors.values())


def test_list_options(mf):
    storage = storage_of(mf)
    storage.put({f"section{s}key{k}": f"value{s}{k}" for s in (1, 2, 3) for k in (1, 2)})
    every = [f"section{s}key{k}" for s in (1, 2, 3) for k in (1, 2)]
    assert list(storage.list()) == every
    assert list(storage.list(start="section2key1")) == every[2:]
    assert list(storage.list(start_after="section2key1")) == every[3:]
    assert list(storage.list(end="section2key2")) == every[:3]
    assert list(storage.list(prefix="section3")) == every[4:]
    assert list(storage.list(reverse=True, limit=2)) == every[::-1][:2]
    assert list(storage.list(prefix="section1", reverse=True)) == every[:2][::-1]
    assert storage.list(start="section9") == {}


def test_utf8_byte_order(mf):
    storage = storage_of(mf)
    emoji, private = "\U0001f600", "\ue000"
    storage.put({emoji: 1, private: 2, "a": 3})
    assert list(storage.list()) == ["a", private, emoji]
    assert list(storage.get([emoji, private, "a"])) == ["a", private, emoji]


def test_values_are_copied(mf):
    storage = storage_of(mf)
    value = {"n": [1]}
    storage.put("k", value)
    value["n"].append(2)
    read = storage.get("k")
    read["n"].append(3)
    assert storage.get("k") == {"n": [1]}


def test_natural_python_types(mf):
    storage = storage_of(mf)
    when = dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    storage.put("v", {"when": when, "raw": b"\x00\x01", "set": {1, 2}, "big": 2**80, "pattern": re.compile("a+", re.I)})
    value = storage.get("v")
    assert value["when"] == when and value["raw"] == b"\x00\x01" and value["set"] == {1, 2} and value["big"] == 2**80


UNDEFINED_KEY = ": parameter 1 is not of type 'variant'. (key is undefined)"


@pytest.mark.parametrize(
    ("action", "error", "message"),
    [
        (lambda s: s.get(None), StorageTypeError, "Failed to execute 'get' on 'DurableObjectStorage'" + UNDEFINED_KEY),
        (
            lambda s: s.put(None, 1),
            StorageTypeError,
            "Failed to execute 'put' on 'DurableObjectStorage'" + UNDEFINED_KEY,
        ),
        (
            lambda s: s.delete(None),
            StorageTypeError,
            "Failed to execute 'delete' on 'DurableObjectStorage'" + UNDEFINED_KEY,
        ),
        (lambda s: s.get("x" * 2049), StorageRangeError, "Keys cannot be larger than 2048 bytes."),
        (lambda s: s.get("\U0001f600" * 513), StorageRangeError, "Keys cannot be larger than 2048 bytes."),
        (lambda s: s.put("x" * 2049, 1), StorageRangeError, "Keys cannot be larger than 2048 bytes."),
        (lambda s: s.delete("x" * 2049), StorageRangeError, "Keys cannot be larger than 2048 bytes."),
        (
            lambda s: s.get(["a", "x" * 2049]),
            StorageRangeError,
            f'Key "{"x" * 2049}" is larger than the limit of 2048 bytes.',
        ),
        (
            lambda s: s.put({"x" * 2049: 1}),
            StorageRangeError,
            f'Key "{"x" * 2049}" is larger than the limit of 2048 bytes.',
        ),
        (
            lambda s: s.delete(["x" * 2049]),
            StorageRangeError,
            f'Key "{"x" * 2049}" is larger than the limit of 2048 bytes.',
        ),
        (lambda s: s.get([f"k{i}" for i in range(129)]), StorageRangeError, "Maximum number of keys is 128."),
        (lambda s: s.delete([f"k{i}" for i in range(129)]), StorageRangeError, "Maximum number of keys is 128."),
        (lambda s: s.put({f"k{i}": i for i in range(129)}), StorageRangeError, "Maximum number of pairs is 128."),
        (lambda s: s.put("k", UNDEFINED), StorageTypeError, "put() called with undefined value."),
        (lambda s: s.put("k"), StorageTypeError, "put() called with undefined value."),
        (
            lambda s: s.put(b"bytes-key", 1),
            StorageTypeError,
            "Failed to execute 'put' on 'DurableObjectStorage': keys are str, not bytes "
            "(decode the bytes first, e.g. key.decode('utf-8')).",
        ),
        (
            lambda s: s.get([b"k"]),
            StorageTypeError,
            "Failed to execute 'get' on 'DurableObjectStorage': keys are str, not bytes "
            "(decode the bytes first, e.g. key.decode('utf-8')).",
        ),
        (
            lambda s: s.put("k", deeply_nested(10_000)),
            ValueError,
            "The value is nested too deeply (beyond Python's recursion limit, sys.getrecursionlimit()) "
            "to be encoded or decoded.",
        ),
        (
            lambda s: s.put("k", "x" * (128 * 1024 + 31)),
            StorageRangeError,
            "Values cannot be larger than 131072 bytes.",
        ),
        (
            lambda s: s.put({"big": "x" * (128 * 1024 + 31)}),
            StorageRangeError,
            'Value for key "big" is above the limit of 131072 bytes.',
        ),
        (lambda s: s.list(limit=0), StorageTypeError, "List limit must be positive."),
        (lambda s: s.list(limit=-5), StorageTypeError, "List limit must be positive."),
        (
            lambda s: s.list(start="a", start_after="b"),
            StorageTypeError,
            "list() cannot be called with both start and startAfter values.",
        ),
    ],
)
def test_validation_messages(mf, action, error, message):
    storage = storage_of(mf)
    with pytest.raises(error) as info:
        action(storage)
    assert str(info.value) == message
    assert isinstance(info.value, TypeError if error is StorageTypeError else ValueError)
    assert storage.list() == {}


def test_limits_inclusive(mf):
    storage = storage_of(mf)
    # 2048-byte key; the value serializes (V8) to exactly 131104 bytes: header 2, tag 1, length 3.
    storage.put("x" * 2048, "x" * (128 * 1024 + 32 - 6))
    storage.put({f"k{i}": i for i in range(128)})
    assert len(storage.get([f"k{i}" for i in range(128)])) == 128
    assert storage.delete([f"k{i}" for i in range(128)]) == 128


def test_binary_values_are_measured_as_v8_serializes_them(mf):
    storage = storage_of(mf)
    storage.put("bytes", bytes(99_000))  # base64 would count 132,000
    limit = 128 * 1024
    storage.put("view", JSTypedArray("Uint8Array", bytes(limit)))
    assert len(storage.get("view").buffer) == limit
    with pytest.raises(StorageRangeError, match="Values cannot be larger than 131072 bytes."):
        storage.put("view", JSTypedArray("Uint8Array", bytes(limit + 32)))
    with pytest.raises(StorageRangeError, match="Values cannot be larger than 131072 bytes."):
        storage.put("bytes", bytes(limit + 32))


def test_delete_all_keeps_the_alarm(mf):
    storage = storage_of(mf)
    storage.put({"a": 1, "b": 2})
    storage.set_alarm(dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc))
    storage.delete_all()
    assert storage.list() == {}
    assert storage.get_alarm() == 4102444800000


def test_alarm_get_set_delete(mf):
    storage = storage_of(mf)
    assert storage.get_alarm() is None
    storage.set_alarm(4102444800000)
    assert storage.get_alarm() == 4102444800000
    storage.delete_alarm()
    assert storage.get_alarm() is None
    with pytest.raises(StorageTypeError, match="parameter 1 is not of type 'date'"):
        storage.set_alarm("soon")


def test_async_twins(mf):
    storage = storage_of(mf)

    async def run():
        await storage.put_async("a", 1)
        await storage.put_async({"b": 2})
        got = await storage.get_async(["a", "b"])
        listed = await storage.list_async(prefix="a")
        deleted = await storage.delete_async(["a", "b"])
        await storage.set_alarm_async(4102444800000)
        alarm = await storage.get_alarm_async()
        await storage.delete_alarm_async()
        await storage.put_async("c", 3)
        await storage.delete_all_async()
        return got, listed, deleted, alarm, await storage.get_async("c")

    assert asyncio.run(run()) == ({"a": 1, "b": 2}, {"a": 1}, 2, 4102444800000, None)


def test_storage_survives_set_options_but_not_a_new_instance():
    from do_support import object_worker

    options = dict(script=object_worker(ROUTES, members=MEMBERS), modules=True, durable_objects={"TEST": "Test"})
    with Miniflare(**options) as mf:
        storage_of(mf).put("shared", "kept")
        assert call(mf, "read")["value"] == "kept"
        mf.set_options(**options)
        assert storage_of(mf).get("shared") == "kept"
        assert call(mf, "read")["value"] == "kept"
    with Miniflare(**options) as fresh:
        assert storage_of(fresh).get("shared") is None
        assert call(fresh, "read")["value"] is None
