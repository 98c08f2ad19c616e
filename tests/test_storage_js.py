# ruff: noqa: E501 - long lines are JavaScript source inside strings
"""The storage API from JavaScript (after Miniflare 2's storage.spec.ts): methods, options, limits, messages."""

from __future__ import annotations

import pytest
from do_support import call, start

from mfbook import Miniflare

ROUTES = {
    # ------------------------------------------------------------ get / put
    "single": """
      await storage.put("key", { a: 1 });
      return [await storage.get("key"), (await storage.get("missing")) === undefined];
    """,
    "complex": """
      const value = { map: new Map([[1, new Set(["x"])]]), date: new Date(5), big: 2n ** 70n, re: /a+/gi,
                      bytes: new Uint8Array([0, 255]), nested: [undefined, -0, NaN, Infinity] };
      await storage.put("complex", value);
      const got = await storage.get("complex");
      return { map: got.map.get(1).has("x"), date: got.date.getTime(), big: got.big === 2n ** 70n,
               re: got.re.source + "/" + got.re.flags, bytes: Array.from(got.bytes),
               undef: got.nested[0] === undefined && 0 in got.nested, negZero: Object.is(got.nested[1], -0),
               nan: Number.isNaN(got.nested[2]), inf: got.nested[3] === Infinity };
    """,
    "many": """
      await storage.put({ b: 2, a: 1, c: 3, skipped: undefined });
      const map = await storage.get(["c", "missing", "a", undefined, "b"]);
      return { keys: [...map.keys()], values: [...map.values()], skipped: (await storage.get("skipped")) === undefined };
    """,
    "overwrite": """
      await storage.put("k", 1);
      await storage.put("k", 2);
      return await storage.get("k");
    """,
    "copies": """
      const value = { n: 1 };
      await storage.put("k", value);
      value.n = 2;
      const first = await storage.get("k");
      first.n = 3;
      return [(await storage.get("k")).n, (await storage.get(["k"])).get("k").n];
    """,
    "put-options-form": """
      await storage.put({ x: 1 }, { allowUnconfirmed: true });
      await storage.put("y", 2, { allowConcurrency: true });
      return Object.fromEntries(await storage.list());
    """,
    # ------------------------------------------------------------ delete / deleteAll
    "delete": """
      await storage.put({ a: 1, b: 2, c: 3 });
      return { single: await storage.delete("a"), again: await storage.delete("a"),
               many: await storage.delete(["b", "c", "d", undefined]), rest: (await storage.list()).size };
    """,
    "delete-all": """
      await storage.put({ a: 1, b: 2, c: 3 });
      const result = await storage.deleteAll();
      return { result: result === undefined, size: (await storage.list()).size };
    """,
    # ------------------------------------------------------------ list
    "list-seed": """
      const values = {};
      for (const section of [1, 2, 3]) for (const key of [1, 2]) values[`section${section}key${key}`] = `value${section}${key}`;
      await storage.put(values);
      return true;
    """,
    "list": """
      const options = JSON.parse(new URL(request.url).searchParams.get("options"));
      return [...(await storage.list(options)).keys()];
    """,
    "list-not-mutated": """
      const options = { startAfter: "a" };
      await storage.list(options);
      return options;
    """,
    "list-many": """
      const entries = {};
      for (let i = 0; i < 128; i++) entries["a" + String(i).padStart(3, "0")] = i;
      await storage.put(entries);
      const more = {};
      for (let i = 128; i < 300; i++) more["a" + String(i).padStart(3, "0")] = i;
      const chunk = Object.entries(more);
      await storage.put(Object.fromEntries(chunk.slice(0, 100)));
      await storage.put(Object.fromEntries(chunk.slice(100)));
      const map = await storage.list();
      return [map.size, map.get("a299"), [...map.keys()][0]];
    """,
    "order": """
      // UTF-8 byte order: U+E000 (EE 80 80, BMP private use) sorts before U+1F600 (F0 9F 98 80),
      // although its UTF-16 code unit 0xE000 is above the surrogate 0xD83D.
      await storage.put({ "\\u{1F600}": 1, "\\uE000": 2, "a": 3, "\\u00e9": 4, "Z": 5 });
      return { list: [...(await storage.list()).keys()],
               get: [...(await storage.get(["\\u{1F600}", "\\uE000", "a", "\\u00e9", "Z"])).keys()],
               reverse: [...(await storage.list({ reverse: true, limit: 2 })).keys()] };
    """,
    # ------------------------------------------------------------ validation
    "validate": """
      const results = {};
      const sync = (label, fn) => {
        try { const p = fn(); results[label] = { sync: false, promise: p instanceof Promise }; p?.catch?.(() => {}); }
        catch (e) { results[label] = { sync: true, name: e.name, message: e.message }; }
      };
      const later = async (label, fn) => {
        let p;
        try { p = fn(); } catch (e) { results[label] = { sync: true, name: e.name, message: e.message }; return; }
        try { await p; results[label] = { sync: false, ok: true }; }
        catch (e) { results[label] = { sync: false, name: e.name, message: e.message }; }
      };
      const big = "x".repeat(2049);
      const emojiKey = "\\u{1F600}".repeat(513); // 2052 bytes, 1026 UTF-16 units
      const keys129 = Array.from({ length: 129 }, (_, i) => "k" + i);
      const pairs129 = Object.fromEntries(keys129.map((k) => [k, 1]));
      await later("getUndefined", () => storage.get(undefined));
      await later("getBig", () => storage.get(big));
      await later("getEmoji", () => storage.get(emojiKey));
      await later("getBigMany", () => storage.get(["a", big]));
      await later("getTooMany", () => storage.get(keys129));
      await later("get2048", () => storage.get("x".repeat(2048)));
      sync("putUndefinedKey", () => storage.put(undefined, 1));
      sync("putBig", () => storage.put(big, 1));
      sync("putBigMany", () => storage.put({ [big]: 1 }));
      sync("putUndefinedValue", () => storage.put("k", undefined));
      sync("putTooMany", () => storage.put(pairs129));
      sync("putValueTooBig", () => storage.put("k", "x".repeat(128 * 1024 + 32)));
      sync("putValueTooBigMany", () => storage.put({ big: "x".repeat(128 * 1024 + 32) }));
      sync("putFunction", () => storage.put("k", () => 1));
      // V8 serialization size: header 2, string tag 1, length varint 3, then the characters.
      await later("putValueAtLimit", () => storage.put("limit", "x".repeat(128 * 1024 + 32 - 6)));
      sync("putValueOneOver", () => storage.put("limit", "x".repeat(128 * 1024 + 32 - 5)));
      await later("putBinary99k", () => storage.put("bin", new Uint8Array(99000)));
      await later("putBinaryAtLimit", () => storage.put("bin", new Uint8Array(128 * 1024)));
      sync("putBinaryOver", () => storage.put("bin", new Uint8Array(128 * 1024 + 32)));
      sync("putSharedViewsOver", () => {
        const buffer = new ArrayBuffer(40000);
        return storage.put("bin", [new Uint8Array(buffer), new Uint8Array(buffer), new Uint8Array(buffer), new Uint8Array(buffer)]);
      });
      await later("put128", () => storage.put(Object.fromEntries(keys129.slice(1).map((k) => [k, 1]))));
      sync("deleteUndefined", () => storage.delete(undefined));
      sync("deleteBig", () => storage.delete(big));
      sync("deleteBigMany", () => storage.delete([big]));
      sync("deleteTooMany", () => storage.delete(keys129));
      await later("listLimitZero", () => storage.list({ limit: 0 }));
      await later("listLimitNegative", () => storage.list({ limit: -1 }));
      await later("listStartAndStartAfter", () => storage.list({ start: "a", startAfter: "b" }));
      return results;
    """,
    # ------------------------------------------------------------ alarms (storage side)
    "alarm": """
      const before = await storage.getAlarm();
      const time = Date.now() + 60_000;
      await storage.setAlarm(time);
      const set = await storage.getAlarm();
      await storage.setAlarm(new Date(time + 1000));
      const fromDate = await storage.getAlarm();
      await storage.deleteAlarm();
      return [before, set === time, fromDate === time + 1000, await storage.getAlarm()];
    """,
    "sync": """
      storage.put("a", 1);
      const result = await storage.sync();
      return [result === undefined, await storage.get("a")];
    """,
    "hides": """
      const txn = await storage.transaction(async (txn) => Object.keys(txn));
      return { storage: Object.keys(storage), txn, state: Object.keys(state).sort() };
    """,
}


@pytest.fixture(scope="module")
def mf():
    with start(ROUTES, alarm="return;") as instance:
        yield instance


def test_get_and_put_single_key(mf: Miniflare):
    assert call(mf, "single", "single") == [{"a": 1}, True]


def test_complex_values_round_trip(mf: Miniflare):
    assert call(mf, "complex", "complex") == {
        "map": True,
        "date": 5,
        "big": True,
        "re": "a+/gi",
        "bytes": [0, 255],
        "undef": True,
        "negZero": True,
        "nan": True,
        "inf": True,
    }


def test_get_many_returns_found_keys_sorted_and_put_skips_undefined(mf: Miniflare):
    assert call(mf, "many", "many") == {"keys": ["a", "b", "c"], "values": [1, 2, 3], "skipped": True}


def test_put_overwrites(mf: Miniflare):
    assert call(mf, "overwrite", "overwrite") == 2


def test_values_are_copied_on_write_and_read(mf: Miniflare):
    assert call(mf, "copies", "copies") == [1, 1]


def test_put_accepts_options_in_both_positions(mf: Miniflare):
    assert call(mf, "put-options-form", "put-options") == {"x": 1, "y": 2}


def test_delete_results(mf: Miniflare):
    assert call(mf, "delete", "delete") == {"single": True, "again": False, "many": 2, "rest": 0}


def test_delete_all(mf: Miniflare):
    assert call(mf, "delete-all", "delete-all") == {"result": True, "size": 0}


ALL = [f"section{s}key{k}" for s in (1, 2, 3) for k in (1, 2)]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, ALL),
        ({"start": "section2"}, ALL[2:]),
        ({"start": "section2key1"}, ALL[2:]),
        ({"startAfter": "section2key1"}, ALL[3:]),
        ({"end": "section2key2"}, ALL[:3]),
        ({"start": "section1key2", "end": "section3key1"}, ALL[1:4]),
        ({"prefix": "section2"}, ALL[2:4]),
        ({"prefix": "section2", "reverse": True}, ALL[2:4][::-1]),
        ({"reverse": True}, ALL[::-1]),
        ({"limit": 3}, ALL[:3]),
        ({"limit": 2, "reverse": True}, ALL[::-1][:2]),
        ({"startAfter": "section1key2", "limit": 2}, ALL[2:4]),
        ({"startAfter": "section3key2"}, []),
        ({"end": "section0"}, []),
        ({"start": "section3", "end": "section1"}, []),
        ({"prefix": "section2", "start": "section2key2", "end": "section9"}, ["section2key2"]),
        ({"prefix": "nothing"}, []),
    ],
)
def test_list_options(mf: Miniflare, options, expected):
    import json
    from urllib.parse import quote

    call(mf, "list-seed", "list")
    response = mf.dispatch_fetch(f"http://localhost/list?name=list&options={quote(json.dumps(options))}")
    assert json.loads(response.text()) == expected


def test_list_does_not_mutate_options(mf: Miniflare):
    assert call(mf, "list-not-mutated", "list-options") == {"startAfter": "a"}


def test_list_returns_more_than_128_keys(mf: Miniflare):
    assert call(mf, "list-many", "list-many") == [300, 299, "a000"]


def test_keys_sort_by_utf8_bytes(mf: Miniflare):
    emoji, private = "\U0001f600", "\ue000"
    expected = ["Z", "a", "\u00e9", private, emoji]
    assert call(mf, "order", "order") == {"list": expected, "get": expected, "reverse": [emoji, private]}


def test_validation_messages_and_sync_or_async_failure(mf: Miniflare):
    results = call(mf, "validate", "validate")

    def rejected(name, message):
        return {"sync": False, "name": name, "message": message}

    def thrown(name, message):
        return {"sync": True, "name": name, "message": message}

    undefined_key = ": parameter 1 is not of type 'variant'. (key is undefined)"
    big = "x" * 2049
    assert results["getUndefined"] == rejected(
        "TypeError", "Failed to execute 'get' on 'DurableObjectStorage'" + undefined_key
    )
    assert results["getBig"] == rejected("RangeError", "Keys cannot be larger than 2048 bytes.")
    assert results["getEmoji"] == rejected("RangeError", "Keys cannot be larger than 2048 bytes.")
    assert results["getBigMany"] == rejected("RangeError", f'Key "{big}" is larger than the limit of 2048 bytes.')
    assert results["getTooMany"] == rejected("RangeError", "Maximum number of keys is 128.")
    assert results["get2048"] == {"sync": False, "ok": True}
    assert results["putUndefinedKey"] == thrown(
        "TypeError", "Failed to execute 'put' on 'DurableObjectStorage'" + undefined_key
    )
    assert results["putBig"] == thrown("RangeError", "Keys cannot be larger than 2048 bytes.")
    assert results["putBigMany"] == thrown("RangeError", f'Key "{big}" is larger than the limit of 2048 bytes.')
    assert results["putUndefinedValue"] == thrown("TypeError", "put() called with undefined value.")
    assert results["putTooMany"] == thrown("RangeError", "Maximum number of pairs is 128.")
    assert results["putValueTooBig"] == thrown("RangeError", "Values cannot be larger than 131072 bytes.")
    assert results["putValueTooBigMany"] == thrown(
        "RangeError", 'Value for key "big" is above the limit of 131072 bytes.'
    )
    assert results["putFunction"]["sync"] is True and results["putFunction"]["name"] == "DataCloneError"
    assert results["putValueAtLimit"] == {"sync": False, "ok": True}
    assert results["putValueOneOver"] == thrown("RangeError", "Values cannot be larger than 131072 bytes.")
    assert results["putBinary99k"] == {"sync": False, "ok": True}
    assert results["putBinaryAtLimit"] == {"sync": False, "ok": True}
    assert results["putBinaryOver"] == thrown("RangeError", "Values cannot be larger than 131072 bytes.")
    assert results["putSharedViewsOver"] == thrown("RangeError", "Values cannot be larger than 131072 bytes.")
    assert results["put128"] == {"sync": False, "ok": True}
    assert results["deleteUndefined"] == thrown(
        "TypeError", "Failed to execute 'delete' on 'DurableObjectStorage'" + undefined_key
    )
    assert results["deleteBig"] == thrown("RangeError", "Keys cannot be larger than 2048 bytes.")
    assert results["deleteBigMany"] == thrown("RangeError", f'Key "{big}" is larger than the limit of 2048 bytes.')
    assert results["deleteTooMany"] == thrown("RangeError", "Maximum number of keys is 128.")
    assert results["listLimitZero"] == rejected("TypeError", "List limit must be positive.")
    assert results["listLimitNegative"] == rejected("TypeError", "List limit must be positive.")
    assert results["listStartAndStartAfter"] == rejected(
        "TypeError", "list() cannot be called with both start and startAfter values."
    )


def test_alarm_get_set_delete(mf: Miniflare):
    assert call(mf, "alarm", "alarm") == [None, True, True, None]


def test_sync_waits_for_writes(mf: Miniflare):
    assert call(mf, "sync", "sync") == [True, 1]


def test_storage_hides_implementation_details(mf: Miniflare):
    assert call(mf, "hides", "hides") == {"storage": [], "txn": [], "state": ["id", "storage"]}
