# ruff: noqa: E501 - long lines are JavaScript source inside strings
"""Direct calls: stub calls into an idle object of the caller's own isolate, run without a
delivery through Python, must behave exactly like delivered ones (trace, depth, gates,
output gate, errors, cloning)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from mfbook import Miniflare

WORKER = """
import { DurableObject } from "cloudflare:workers";
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Box extends DurableObject {
  async fetch(request) {
    const url = new URL(request.url);
    const storage = this.ctx.storage;
    switch (url.pathname) {
      case "/inc": {
        const count = ((await storage.get("count")) ?? 0) + 1;
        await storage.put("count", count);
        return new Response(String(count));
      }
      case "/slow-inc": {
        // list() always asks the host; the answer comes in a later delivery.
        const found = await storage.list({ prefix: "count" });
        const count = (found.get("count") ?? 0) + 1;
        await storage.put("count", count);
        await sleep(5); // events may run meanwhile: the count is already written
        return new Response(String(count));
      }
      case "/chain": {
        // Awaits a host round trip before calling the next object: the depth must survive it.
        await storage.list();
        const depth = Number(url.searchParams.get("depth"));
        if (depth <= 1) return new Response("bottom");
        const next = this.env.BOX.getByName("chain-" + depth);
        return next.fetch("http://x/chain?depth=" + (depth - 1));
      }
      case "/echo":
        return new Response(request.method + " " + (await request.text()) + " " + request.headers.get("x-a"), {
          status: 201,
          headers: { "x-b": "2" },
        });
      case "/not-response":
        return "text";
      case "/throw":
        throw new RangeError("thrown inside");
    }
    return new Response("no route", { status: 404 });
  }
  read() {
    return this.state_;
  }
  keep(value) {
    this.state_ = value;
    value.mutated = "by callee";
    return value;
  }
  fail() {
    throw new TypeError("rpc failure");
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const stub = env.BOX.getByName(url.searchParams.get("name") ?? "one");
    switch (url.pathname) {
      case "/rpc-clone": {
        const sent = { n: 1 };
        const got = await stub.keep(sent);
        got.n = 99;
        const stored = await stub.read();
        return Response.json({ sent, got, stored });
      }
      case "/rpc-throw":
        try {
          await stub.fail();
          return new Response("no error");
        } catch (error) {
          return new Response(error.name + ": " + error.message);
        }
      case "/twice": {
        // Two calls in one turn: the second must not run beside the first.
        const [a, b] = await Promise.all([stub.fetch("http://x/slow-inc"), stub.fetch("http://x/slow-inc")]);
        return new Response((await a.text()) + "," + (await b.text()));
      }
      case "/echo-post":
        return stub.fetch("http://x/echo", { method: "POST", body: "payload", headers: { "x-a": "1" } });
    }
    return stub.fetch(request);
  },
};
"""


@pytest.fixture
def mf():
    instance = Miniflare(script=WORKER, modules=True, durable_objects={"BOX": "Box"})
    yield instance
    instance.dispose()


def fetch_text(mf: Miniflare, path: str) -> str:
    return mf.dispatch_fetch(f"http://localhost{path}").text()


def test_direct_fetch_is_traced_like_a_delivered_request(mf):
    assert fetch_text(mf, "/inc") == "1"
    mf.trace.clear()
    assert fetch_text(mf, "/inc") == "2"
    events = list(mf.trace)
    starts = [event for event in events if event.kind == "request.start"]
    assert len(starts) == 2
    outer, inner = starts
    assert inner.data["direct"] is True and inner.data["kind"] == "fetch"
    assert inner.binding == "BOX" and inner.object_name == "one"
    assert inner.request_id != outer.request_id
    # The object's storage work belongs to the object's request, not to the entry request.
    storage = [event for event in events if event.kind.startswith("storage.")]
    assert {event.request_id for event in storage if event.kind in ("storage.get", "storage.put")} == {inner.request_id}
    kinds = [(event.kind, event.request_id) for event in events]
    # Output gate: the commit comes before the object's response is released.
    commit = next(i for i, (kind, _) in enumerate(kinds) if kind == "storage.commit")
    assert commit < kinds.index(("request.end", inner.request_id))
    end = next(event for event in events if event.kind == "request.end" and event.request_id == inner.request_id)
    assert end.data["ok"] is True and end.data["status"] == 200


def test_depth_is_exact_across_awaits_in_direct_calls(mf):
    # entry worker (1) -> chain-top (2) -> ... 15 objects: depth 16 is allowed.
    assert mf.dispatch_fetch("http://localhost/chain?name=chain-top&depth=15").text() == "bottom"
    response = mf.dispatch_fetch("http://localhost/chain?name=chain-top2&depth=16")
    assert response.status == 500
    assert "Subrequest depth limit exceeded" in response.text()


def test_answer_from_a_later_delivery_reaches_the_caller(mf):
    assert fetch_text(mf, "/slow-inc") == "1"
    mf.trace.clear()
    assert fetch_text(mf, "/slow-inc") == "2"
    inner = [event for event in mf.trace if event.kind == "request.end" and event.data.get("direct")]
    assert len(inner) == 1 and inner[0].data["status"] == 200


def test_two_calls_in_one_turn_do_not_interleave(mf):
    values = sorted(int(value) for value in fetch_text(mf, "/twice").split(","))
    assert values == [1, 2]


def test_bursts_through_direct_and_delivered_calls_hand_out_unique_numbers(mf):
    async def run() -> list[str]:
        responses = await asyncio.gather(
            *[mf.dispatch_fetch_async("http://localhost/slow-inc?name=burst") for _ in range(40)]
        )
        return [response.text() for response in responses]

    assert sorted(int(value) for value in asyncio.run(run())) == list(range(1, 41))


def test_request_and_response_cross_as_copies(mf):
    response = mf.dispatch_fetch("http://localhost/echo-post")
    assert response.status == 201
    assert response.text() == "POST payload 1"
    assert response.headers["x-b"] == "2"


def test_handler_errors_and_bad_results_reach_the_caller(mf):
    response = mf.dispatch_fetch("http://localhost/not-response")
    assert response.status == 500
    assert "Durable Object fetch handler didn't respond with a Response object" in response.text()
    response = mf.dispatch_fetch("http://localhost/throw")
    assert response.status == 500
    assert "thrown inside" in response.text()


def test_rpc_arguments_and_results_are_structured_clones(mf):
    result: dict[str, Any] = json.loads(fetch_text(mf, "/rpc-clone"))
    assert result["sent"] == {"n": 1}  # the callee mutated its copy only
    assert result["got"] == {"n": 99, "mutated": "by callee"}
    assert result["stored"] == {"n": 1, "mutated": "by callee"}  # the caller mutated its copy only


def test_rpc_errors_are_rethrown_in_the_caller(mf):
    assert fetch_text(mf, "/rpc-throw") == "TypeError: rpc failure"


def test_failed_write_fails_the_response_that_carried_it(mf):
    assert fetch_text(mf, "/inc") == "1"
    storage = next(iter(mf._runtime.storages.values()))

    def broken(**_: Any) -> int:
        raise OSError("disk on fire")

    original = storage.store.commit
    storage.store.commit = broken  # type: ignore[method-assign]
    try:
        response = mf.dispatch_fetch("http://localhost/inc")
        assert response.status == 500
        assert "disk on fire" in response.text()
    finally:
        storage.store.commit = original  # type: ignore[method-assign]
    # Nothing was half-written, and the object works again (re-created after the broken gate).
    assert fetch_text(mf, "/inc") == "2"


def test_objects_of_other_workers_still_go_through_the_host():
    callee = """
export class Remote {
  async fetch() { return new Response("remote " + (await this.state.storage.get("x") ?? "none")); }
  constructor(state) { this.state = state; }
}
export default { fetch() { return new Response("callee"); } };
"""
    caller = """
export default { fetch(request, env) { return env.REMOTE.getByName("r").fetch(request); } };
"""
    mf = Miniflare(
        workers=[
            {
                "name": "caller",
                "script": caller,
                "modules": True,
                "durable_objects": {"REMOTE": {"class_name": "Remote", "script_name": "callee"}},
            },
            {"name": "callee", "script": callee, "modules": True, "durable_objects": {"LOCAL": "Remote"}},
        ]
    )
    try:
        mf.trace.clear()
        assert mf.dispatch_fetch("http://localhost/").text() == "remote none"
        inner = [event for event in mf.trace if event.kind == "request.start" and event.binding is not None]
        assert len(inner) == 1 and "direct" not in inner[0].data
    finally:
        mf.dispose()


EDGES = """
import { DurableObject } from "cloudflare:workers";
let constructions = 0;

export class Edgy extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    constructions++;
    if (constructions === 1) throw new Error("first construction fails");
    this.ready = false;
    ctx.blockConcurrencyWhile(async () => {
      await ctx.storage.list();
      this.ready = true;
    });
  }
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/spin") for (;;) {}
    if (path === "/bomb") { const parts = []; for (;;) parts.push("x".repeat(1 << 20)); }
    if (path === "/hang") await new Promise(() => {});
    const count = ((await this.ctx.storage.get("count")) ?? 0) + 1;
    await this.ctx.storage.put("count", count);
    return new Response(JSON.stringify({ ready: this.ready, count, constructions }));
  }
}

export default {
  fetch(request, env) {
    return env.EDGY.getByName("e").fetch(request);
  },
};
"""


@pytest.fixture
def edgy():
    instance = Miniflare(
        script=EDGES, modules=True, durable_objects={"EDGY": "Edgy"}, console=None, cpu_limit_ms=200, memory_limit_mb=32
    )
    yield instance
    instance.dispose()


def test_constructor_errors_reach_the_caller_and_the_next_call_constructs_again(edgy):
    response = edgy.dispatch_fetch("http://localhost/")
    assert response.status == 500 and "first construction fails" in response.text()
    # blockConcurrencyWhile() in the constructor holds back the (direct) call until it settles.
    assert json.loads(edgy.dispatch_fetch("http://localhost/").text()) == {
        "ready": True,
        "count": 1,
        "constructions": 2,
    }


def test_cpu_limit_inside_a_direct_call_fails_that_request_only(edgy):
    edgy.dispatch_fetch("http://localhost/")  # the failed construction
    assert json.loads(edgy.dispatch_fetch("http://localhost/").text())["count"] == 1
    response = edgy.dispatch_fetch("http://localhost/spin")
    assert response.status == 500 and "CPU time limit" in response.text()
    # The object keeps working (through the host from now on: its interrupted call never ended).
    assert [json.loads(edgy.dispatch_fetch("http://localhost/").text())["count"] for _ in range(3)] == [2, 3, 4]
    # ...and the interrupted call left no bookkeeping behind.
    assert all(not worker.direct for worker in edgy._runtime.workers.values())


def test_memory_bomb_inside_a_direct_call_resets_the_isolate(edgy):
    edgy.dispatch_fetch("http://localhost/")
    assert json.loads(edgy.dispatch_fetch("http://localhost/").text())["count"] == 1
    response = edgy.dispatch_fetch("http://localhost/bomb")
    assert response.status == 500 and "memory" in response.text().lower()
    body = json.loads(edgy.dispatch_fetch("http://localhost/").text())
    assert body["count"] == 2  # storage survived; the object was constructed anew
    assert body["ready"] is True


def test_a_direct_call_that_can_never_answer_fails_instead_of_hanging(edgy):
    edgy.dispatch_fetch("http://localhost/")
    response = edgy.dispatch_fetch("http://localhost/hang")
    assert response.status == 500
    assert "The script will never generate a response." in response.text()


def test_reload_during_a_direct_call_fails_it_and_the_new_code_serves_the_next_request():
    slow = WORKER.replace(
        'case "/echo":',
        'case "/sleep": await new Promise((r) => setTimeout(r, 300)); return new Response("slept");\n      case "/echo":',
    )
    mf = Miniflare(script=slow, modules=True, durable_objects={"BOX": "Box"}, console=None)
    try:
        assert fetch_text(mf, "/inc") == "1"

        async def run() -> Any:
            pending = asyncio.ensure_future(mf.dispatch_fetch_async("http://localhost/sleep"))
            await asyncio.sleep(0.05)
            mf.set_options(
                script=slow.replace("new Response(String(count))", 'new Response("v2:" + count)'),
                modules=True,
                durable_objects={"BOX": "Box"},
                console=None,
            )
            return await pending

        response = asyncio.run(run())
        assert response.status == 500 and "reloaded" in response.text()
        assert fetch_text(mf, "/inc") == "v2:2"  # storage kept, object re-created from the new code
    finally:
        mf.dispose()
