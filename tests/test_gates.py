"""Input and output gates, coalescing and blockConcurrencyWhile (after Miniflare 2's gate.spec.ts)."""

from __future__ import annotations

import asyncio

import pytest
from do_support import call, start

from mfbook import Miniflare

PRELUDE = "const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));\nconst log = [];"
ROUTES = {
    "inc": """
      const value = ((await storage.get("count")) ?? 0) + 1;
      await storage.put("count", value);
      return value;
    """,
    "inc-concurrent": """
      // list() always asks the host (get() may be answered by the read cache in the same turn).
      const found = await storage.list({ prefix: "count", allowConcurrency: true });
      const value = (found.get("count") ?? 0) + 1;
      await storage.put("count", value, { allowConcurrency: true });
      return value;
    """,
    "bcw-slow": """
      await state.blockConcurrencyWhile(async () => { log.push("bcw-start"); await sleep(50); log.push("bcw-end"); });
      return log;
    """,
    "log": "log.push('event'); return log;",
    "stuck-txn": "await storage.transaction(async () => { await new Promise(() => {}); }); return 'never';",
    "bcw-timer": """
      setTimeout(() => log.push("outside timer"), 0);
      await state.blockConcurrencyWhile(async () => { await sleep(30); log.push("bcw-end"); });
      await sleep(10);
      return log;
    """,
    "bcw-result": """
      const value = await state.blockConcurrencyWhile(async () => 42);
      let error = null;
      try { await state.blockConcurrencyWhile(async () => { throw new RangeError("inside"); }); }
      catch (e) { error = e.name + ": " + e.message; }
      return [value, error];
    """,
    "unawaited": """
      storage.put("a", 1);
      storage.put("b", 2);
      storage.delete("c");
      return "done";
    """,
    "unconfirmed": """
      storage.put("u", 1, { allowUnconfirmed: true });
      return "done";
    """,
    "coalesce-delete": """
      await storage.put("key6", 6);
      storage.put("key1", 1);
      storage.put("key2", 2);
      storage.put("key3", 3);
      const many = storage.delete(["key1", "key2", "key4", "key6"]);
      const single = storage.delete("key5");
      storage.put("key4", 4);
      storage.put("key5", 5);
      storage.put("key1", 10);
      return { many: await many, single: await single,
               values: Object.fromEntries(await storage.get(["key1", "key2", "key3", "key4", "key5", "key6"])) };
    """,
    "delete-vs-later-put": """
      await storage.put("existing", 1);
      const present = storage.delete("existing");
      storage.put("existing", 2);
      const absent = storage.delete("absent");
      storage.put("absent", 2);
      return [await present, await absent];
    """,
    "delete-shadow": """
      storage.put("s", 1);
      const fromShadow = await storage.delete("s");
      await storage.put("t", 1);
      storage.delete("t");
      const alreadyDeleted = await storage.delete("t");
      return [fromShadow, alreadyDeleted];
    """,
    "delete-all-staged": """
      await storage.put({ a: 1, b: 2 });
      storage.put({ c: 3 });
      await storage.deleteAll();
      return [...(await storage.list()).keys()];
    """,
    "read-own-staged": """
      storage.put("x", 1);
      return [await storage.get("x"), (await storage.list()).size];
    """,
}
MEMBERS = """
  constructor(ctx, env) {
    super(ctx, env);
    if (globalThis.blockInConstructor) {
      ctx.blockConcurrencyWhile(async () => { await sleep(40); this.ready = "ready"; });
    }
  }
"""


@pytest.fixture
def mf():
    with start(ROUTES, prelude=PRELUDE, members=MEMBERS) as instance:
        yield instance


def burst(mf: Miniflare, route: str, count: int, name: str = "test") -> list[str]:
    async def run():
        responses = await asyncio.gather(
            *[mf.dispatch_fetch_async(f"http://localhost/{route}?name={name}") for _ in range(count)]
        )
        return [response.text() for response in responses]

    return asyncio.run(run())


def test_concurrent_get_put_counters_hand_out_unique_numbers(mf):
    values = burst(mf, "inc", 100)
    assert sorted(int(value) for value in values) == list(range(1, 101))
    assert call(mf, "inc") == 101


def test_allow_concurrency_lets_events_interleave(mf):
    values = [int(value) for value in burst(mf, "inc-concurrent", 20, "loose")]
    assert len(set(values)) < 20  # lost updates: the gate was not closed


def test_block_concurrency_while_holds_back_events(mf):
    async def run():
        slow = asyncio.ensure_future(mf.dispatch_fetch_async("http://localhost/bcw-slow"))
        await asyncio.sleep(0.01)
        fast = await mf.dispatch_fetch_async("http://localhost/log")
        return (await slow).text(), fast.text()

    _, fast = asyncio.run(run())
    assert fast == '["bcw-start","bcw-end","event"]'


def test_block_concurrency_while_in_constructor_delays_first_event():
    routes = {"ready": "return self.ready ?? 'not ready';"}
    with start(routes, prelude=PRELUDE + "\nglobalThis.blockInConstructor = true;", members=MEMBERS) as mf:
        assert call(mf, "ready") == "ready"
        values = burst(mf, "ready", 5, "other")
        assert values == ['"ready"'] * 5


def test_timers_wait_for_block_concurrency_while(mf):
    assert call(mf, "bcw-timer") == ["bcw-end", "outside timer"]


def test_block_concurrency_while_returns_and_rethrows(mf):
    assert call(mf, "bcw-result") == [42, "RangeError: inside"]


def test_output_gate_response_waits_for_unawaited_writes(mf):
    mf.trace.clear()
    assert call(mf, "unawaited") == "done"
    storage = mf.get_durable_object_storage(mf.get_durable_object_namespace("TEST").id_from_name("test"))
    assert storage.get(["a", "b"]) == {"a": 1, "b": 2}
    kinds = [event.kind for event in mf.trace if event.kind in ("storage.commit", "request.end")]
    assert kinds.index("storage.commit") < kinds.index("request.end")


def test_unawaited_writes_coalesce_into_one_commit(mf):
    mf.trace.clear()
    call(mf, "unawaited")
    commits = mf.trace.events(kind="storage.commit")
    assert len(commits) == 1
    assert commits[0].keys == ("a", "b", "c")
    assert commits[0].data["puts"] == 2 and commits[0].data["deletes"] == 1


def test_allow_unconfirmed_write_still_lands(mf):
    assert call(mf, "unconfirmed") == "done"
    storage = mf.get_durable_object_storage(mf.get_durable_object_namespace("TEST").id_from_name("test"))
    assert storage.get("u") == 1


def test_delete_results_mixed_with_unawaited_puts(mf):
    # As in Miniflare's "delete: coalesces deletes": 2 from staged puts (key1, key2) + key6 existing.
    assert call(mf, "coalesce-delete") == {
        "many": 3,
        "single": False,
        "values": {"key1": 10, "key3": 3, "key4": 4, "key5": 5},
    }


def test_delete_result_ignores_later_puts(mf):
    assert call(mf, "delete-vs-later-put") == [True, False]


def test_delete_result_from_staged_copies(mf):
    assert call(mf, "delete-shadow") == [True, False]


def test_delete_all_includes_staged_puts(mf):
    mf.trace.clear()
    assert call(mf, "delete-all-staged") == []
    last = mf.trace.events(kind="storage.commit")[-1]
    assert last.data["delete_all"] is True


def test_reads_see_staged_writes(mf):
    assert call(mf, "read-own-staged") == [1, 1]


BCW_COUNTER = """
export class Counter {
  constructor(state) { this.state = state; }
  async fetch(request) {
    return this.state.blockConcurrencyWhile(async () => {
      const count = ((await this.state.storage.get("n")) ?? 0) + 1;
      await new Promise((resolve) => setTimeout(resolve, 5));
      await this.state.storage.put("n", count);
      return new Response(String(count));
    });
  }
}
export default { fetch: (request, env) => env.COUNTER.get(env.COUNTER.idFromName("c")).fetch(request) };
"""


def test_concurrent_block_concurrency_while_callbacks_run_one_at_a_time():
    # Waiting events are released together when a callback ends; only one may start the next.
    with Miniflare(script=BCW_COUNTER, modules=True, durable_objects={"COUNTER": "Counter"}, console=None) as mf:

        async def through_worker() -> list[str]:
            return [r.text() for r in await asyncio.gather(*(mf.dispatch_fetch_async("http://x/") for _ in range(6)))]

        async def through_stub() -> list[str]:
            stub = mf.get_durable_object_namespace("COUNTER").get_by_name("d")
            return [r.text() for r in await asyncio.gather(*(stub.fetch_async("/") for _ in range(6)))]

        assert sorted(asyncio.run(through_worker()), key=int) == ["1", "2", "3", "4", "5", "6"]
        assert sorted(asyncio.run(through_stub()), key=int) == ["1", "2", "3", "4", "5", "6"]


def test_work_waiting_at_a_gate_nobody_can_open_fails_instead_of_hanging(mf):
    async def run() -> list[str]:
        stuck = asyncio.ensure_future(mf.dispatch_fetch_async("http://localhost/stuck-txn?name=g"))
        await asyncio.sleep(0.05)
        parked = asyncio.ensure_future(mf.dispatch_fetch_async("http://localhost/log?name=g"))  # waits at the gate
        done = await asyncio.wait_for(asyncio.gather(stuck, parked), 30)
        return [response.text() for response in done]

    stuck, later = asyncio.run(run())
    assert "The script will never generate a response." in stuck
    # The object whose transaction can never finish starts over: its gate is open again.
    assert later == '["event"]'
    assert call(mf, "log?name=g") == ["event", "event"]
