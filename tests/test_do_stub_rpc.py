# ruff: noqa: E501 - long lines are JavaScript source inside strings
"""Stubs, fetch into objects, nested depth and RPC (JS and Python callers)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from mfbook import JSBigInt, JSMap, Miniflare, WorkerError

WORKER = """
import { DurableObject } from "cloudflare:workers";

export class Counter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.seenEnv = Object.keys(env).sort();
  }
  async increment(by = 1) {
    const value = ((await this.ctx.storage.get("count")) ?? 0) + by;
    await this.ctx.storage.put("count", value);
    return value;
  }
  echo(value) { return value; }
  async nothing() { await this.ctx.storage.put("touched", true); }
  describe(map, when, big) {
    return { size: map.size, first: map.get(1), year: when.getUTCFullYear(), doubled: big * 2n,
             isMap: map instanceof Map, isDate: when instanceof Date, type: typeof big };
  }
  info() { return { env: this.seenEnv, idIsState: this.ctx.id.toString(), hasName: "name" in this.ctx.id }; }
  fail(kind) {
    if (kind === "range") throw new RangeError("too far");
    const error = new Error("custom failure");
    error.name = "CustomError";
    throw error;
  }
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/url") return new Response(request.url);
    if (url.pathname === "/plain") return "not a response";
    if (url.pathname === "/recurse") {
      const depth = Number(url.searchParams.get("depth"));
      if (depth <= 1) return new Response("bottom");
      const stub = this.env.COUNTER.get(this.env.COUNTER.idFromName("r" + depth));
      const response = await stub.fetch("http://x/recurse?depth=" + (depth - 1));
      return new Response(await response.text(), { status: response.status });
    }
    return new Response(String(await this.increment(1)));
  }
}

export class NoFetch {
  constructor(state) { this.state = state; }
}

export class Legacy {
  fetch() { return new Response("legacy"); }
  ping() { return "pong"; }
}

const json = (value) => new Response(JSON.stringify(value));
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const stub = env.COUNTER.getByName(url.searchParams.get("name") ?? "rpc");
    try {
      switch (url.pathname) {
        case "/rpc": return json([await stub.increment(2), await stub.increment(3)]);
        case "/clone": {
          const result = await stub.describe(new Map([[1, "one"], [2, "two"]]), new Date(Date.UTC(2024, 1, 2)), 21n);
          return json({ ...result, doubled: String(result.doubled) });
        }
        case "/echo": {
          const value = await stub.echo({ map: new Map([["a", new Set([1])]]), date: new Date(0), big: 10n ** 20n,
                                          bytes: new Uint8Array([1, 2, 3]), nested: [undefined, null, NaN] });
          return json({ map: value.map instanceof Map && value.map.get("a") instanceof Set && value.map.get("a").has(1),
                        date: value.date instanceof Date && value.date.getTime() === 0,
                        big: value.big === 10n ** 20n, bytes: value.bytes instanceof Uint8Array && value.bytes[2] === 3,
                        undef: value.nested.length === 3 && value.nested[0] === undefined && Number.isNaN(value.nested[2]) });
        }
        case "/error": {
          try { await stub.fail(url.searchParams.get("kind")); return json("no error"); }
          catch (error) { return json({ name: error.name, message: error.message, isRange: error instanceof RangeError }); }
        }
        case "/missing": {
          try { await stub.nope(); return json("no error"); }
          catch (error) { return json({ name: error.name, message: error.message }); }
        }
        case "/legacy-rpc": {
          try { await env.LEGACY.getByName("x").ping(); return json("no error"); }
          catch (error) { return json({ name: error.name, message: error.message }); }
        }
        case "/relative": return new Response(await (await stub.fetch("/url?q=1")).text());
        case "/relative-request": return new Response(await (await stub.fetch(new Request("https://example.com/url"))).text());
        case "/plain": return await stub.fetch("/plain");
        case "/nofetch": return await env.NOFETCH.getByName("x").fetch("/");
        case "/recurse": {
          const depth = url.searchParams.get("depth");
          return await env.COUNTER.getByName("r-top").fetch("http://x/recurse?depth=" + depth);
        }
      }
    } catch (error) {
      return new Response(JSON.stringify({ caught: { name: error.name, message: error.message } }), { status: 599 });
    }
    return new Response("not found", { status: 404 });
  },
};
"""


@pytest.fixture(scope="module")
def mf():
    with Miniflare(
        script=WORKER, modules=True, durable_objects={"COUNTER": "Counter", "NOFETCH": "NoFetch", "LEGACY": "Legacy"}
    ) as instance:
        yield instance


def get(mf: Miniflare, path: str):
    return json.loads(mf.dispatch_fetch(f"http://localhost{path}").text())


def test_rpc_from_js(mf):
    assert get(mf, "/rpc?name=js-rpc") == [2, 5]


def test_rpc_from_python_call_and_attribute(mf):
    stub = mf.get_durable_object_namespace("COUNTER").get_by_name("py-rpc")
    assert stub.call("increment", 2) == 2
    assert stub.increment(2) == 4
    assert stub.increment() == 5
    assert mf.get_durable_object_storage(stub.id).get("count") == 5


def test_a_void_rpc_method_returns_none_to_python(mf):
    import asyncio

    from mfbook import UNDEFINED

    stub = mf.get_durable_object_namespace("COUNTER").get_by_name("void")
    assert stub.call("nothing") is None
    assert asyncio.run(stub.call_async("nothing")) is None
    assert stub.echo([UNDEFINED]) == [UNDEFINED]  # only the top level becomes None


def test_rpc_sees_ctx_and_env(mf):
    stub = mf.get_durable_object_namespace("COUNTER").get_by_name("info")
    info = stub.info()
    assert info == {"env": ["COUNTER", "LEGACY", "NOFETCH"], "idIsState": stub.id.hex, "hasName": False}


def test_rpc_structured_clone_from_js(mf):
    assert get(mf, "/clone") == {
        "size": 2,
        "first": "one",
        "year": 2024,
        "doubled": "42",
        "isMap": True,
        "isDate": True,
        "type": "bigint",
    }
    assert get(mf, "/echo") == {"map": True, "date": True, "big": True, "bytes": True, "undef": True}


def test_rpc_structured_clone_from_python(mf):
    stub = mf.get_durable_object_namespace("COUNTER").get_by_name("clone")
    when = dt.datetime(2024, 2, 2, tzinfo=dt.timezone.utc)
    result = stub.describe(JSMap([(1, "one"), (2, "two")]), when, JSBigInt(21))
    assert result["size"] == 2 and result["first"] == "one" and result["year"] == 2024
    assert result["doubled"] == 42 and isinstance(result["doubled"], JSBigInt) and result["type"] == "bigint"
    assert result["isMap"] and result["isDate"]
    echoed = stub.echo({"when": when, "big": 2**70, "raw": b"\x00\xff", "set": {1, 2}, "f": 1.5})
    assert echoed == {"when": when, "big": 2**70, "raw": b"\x00\xff", "set": {1, 2}, "f": 1.5}


def test_rpc_error_rethrown_in_js_with_name_and_message(mf):
    assert get(mf, "/error?kind=range") == {"name": "RangeError", "message": "too far", "isRange": True}
    assert get(mf, "/error?kind=custom") == {"name": "CustomError", "message": "custom failure", "isRange": False}


def test_rpc_error_raised_in_python_with_name_and_message(mf):
    stub = mf.get_durable_object_namespace("COUNTER").get_by_name("errors")
    with pytest.raises(WorkerError) as info:
        stub.fail("range")
    assert info.value.name == "RangeError" and info.value.js_message == "too far"
    with pytest.raises(WorkerError) as info:
        stub.call("fail", "custom")
    assert info.value.name == "CustomError" and info.value.js_message == "custom failure"


def test_rpc_unknown_method_and_non_rpc_class(mf):
    missing = get(mf, "/missing")
    assert missing["name"] == "TypeError" and '"nope"' in missing["message"]
    legacy = get(mf, "/legacy-rpc")
    assert legacy["name"] == "TypeError" and "extends DurableObject" in legacy["message"]


def test_relative_stub_fetch_uses_fake_host(mf):
    assert mf.dispatch_fetch("http://localhost/relative").text() == "https://fake-host/url?q=1"
    assert mf.dispatch_fetch("http://localhost/relative-request").text() == "https://example.com/url"
    stub = mf.get_durable_object_namespace("COUNTER").get_by_name("py-relative")
    assert stub.fetch("/url").text() == "https://fake-host/url"


def test_fetch_handler_must_return_a_response(mf):
    body = json.loads(mf.dispatch_fetch("http://localhost/plain").text())
    assert body == {
        "caught": {"name": "TypeError", "message": "Durable Object fetch handler didn't respond with a Response object"}
    }
    with pytest.raises(WorkerError, match="Durable Object fetch handler didn't respond with a Response object"):
        mf.get_durable_object_namespace("COUNTER").get_by_name("x").fetch("/plain")


def test_missing_fetch_handler(mf):
    body = json.loads(mf.dispatch_fetch("http://localhost/nofetch").text())
    assert body["caught"]["message"] == "No fetch handler defined in Durable Object"
    with pytest.raises(WorkerError, match="^Error: No fetch handler defined in Durable Object$"):
        mf.get_durable_object_namespace("NOFETCH").get_by_name("y").fetch("/")


def test_nested_stub_fetch_up_to_depth_16(mf):
    # entry worker (1) -> r-top (2) -> 14 more objects = depth 16
    assert mf.dispatch_fetch("http://localhost/recurse?depth=15").text() == "bottom"


def test_nested_stub_fetch_depth_17_fails_with_miniflare_message(mf):
    body = json.loads(mf.dispatch_fetch("http://localhost/recurse?depth=16").text())
    assert body["caught"]["name"] == "Error"
    assert body["caught"]["message"].startswith(
        "Subrequest depth limit exceeded. This request recursed through Workers too many times. "
        "This can happen e.g. if you have a Worker or Durable Object that calls other Workers or objects recursively."
    )


def test_fetch_from_python_stub_and_async_twin(mf):
    import asyncio

    stub = mf.get_durable_object_namespace("COUNTER").get_by_name("py-fetch")
    assert stub.fetch("http://x/").text() == "1"

    async def twice():
        return await asyncio.gather(stub.fetch_async("/"), stub.fetch_async("/"))

    assert sorted(r.text() for r in asyncio.run(twice())) == ["2", "3"]
