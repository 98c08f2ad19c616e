"""OCC transactions from JS and Python (after Miniflare 2's storage.spec.ts transaction tests)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from do_support import call, start

from mfbook import ConflictError, DurableObjectStorage, Miniflare

PRELUDE = """
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let attempts = 0;
"""
ROUTES = {
    "txn-inc": """
      return await storage.transaction(async (txn) => {
        attempts++;
        const next = ((await txn.get("count")) ?? 0) + 1;
        await txn.put("count", next);
        return next;
      });
    """,
    "attempts": "return attempts;",
    "reset": "attempts = 0; return true;",
    "own-writes": """
      await storage.put("committed", 1);
      const seen = await storage.transaction(async (txn) => {
        await txn.put("uncommitted", 2);
        const many = Object.fromEntries(await txn.get(["committed", "uncommitted"]));
        const listed = [...(await txn.list()).keys()];
        const deletedNew = await txn.delete("uncommitted");
        await txn.put("again", 3);
        const outside = (await storage.get("again", { allowConcurrency: true })) ?? null;
        return { many, listed, deletedNew, outside };
      });
      return { ...seen, after: Object.fromEntries(await storage.list()) };
    """,
    "rollback": """
      await storage.put("k", "before");
      const result = await storage.transaction(async (txn) => {
        await txn.put("k", "inside");
        await txn.put("other", 1);
        txn.rollback();
        txn.rollback(); // allowed twice
        return "closure value";
      });
      return { result, k: await storage.get("k"), other: (await storage.get("other")) ?? null };
    """,
    "throwing": """
      await storage.put("k", "before");
      let caught = null;
      try {
        await storage.transaction(async (txn) => {
          await txn.put("k", "inside");
          throw new TypeError("closure failed");
        });
      } catch (error) {
        caught = error.name + ": " + error.message;
      }
      return { caught, k: await storage.get("k") };
    """,
    "errors": """
      const result = {};
      const capture = async (label, fn) => {
        try { await fn(); result[label] = "no error"; }
        catch (e) { result[label] = { name: e.name, message: e.message }; }
      };
      let saved;
      await storage.transaction(async (txn) => { saved = txn; });
      await capture("afterCommitGet", () => saved.get("k"));
      await capture("afterCommitPut", () => saved.put("k", 1));
      await capture("afterCommitList", () => saved.list());
      await storage.transaction(async (txn) => {
        txn.rollback();
        await capture("rolledBackGet", () => txn.get("k"));
        await capture("rolledBackPut", () => txn.put("k", 1));
        await capture("rolledBackDelete", () => txn.delete("k"));
        await capture("rolledBackRollback", () => txn.rollback());
      });
      await capture("deleteAll", () => storage.transaction(async (txn) => { txn.deleteAll(); }));
      await capture("tooMany", () => storage.transaction(async (txn) => {
        for (let i = 0; i < 129; i++) await txn.put("key" + i, i);
      }));
      await capture("exactly128", () => storage.transaction(async (txn) => {
        for (let i = 0; i < 128; i++) txn.put("many" + i, i);
        await txn.delete("many0");
      }));
      await capture("undefinedKey", () => storage.transaction((txn) => txn.get(undefined)));
      result.many = (await storage.list({ prefix: "many" })).size;
      result.tooManyWrote = (await storage.get("key0")) ?? null;
      return result;
    """,
    "program-order": """
      await storage.put("k", 0);
      return await storage.transaction(async (txn) => {
        txn.put("k", 1);
        const a = txn.get("k");
        txn.delete("k");
        const b = txn.get("k");
        txn.put("k", 3);
        const c = txn.get("k");
        return [await a, (await b) ?? null, await c];
      });
    """,
    "outer-write": """
      await storage.put("k", 1);
      attempts = 0;
      const value = await storage.transaction(async (txn) => {
        attempts++;
        const seen = await txn.get("k");
        if (attempts === 1) await storage.put("k", 10);
        await txn.put("seen", seen);
        return seen;
      });
      return { value, attempts, seen: await storage.get("seen") };
    """,
    "read-k": "return (await storage.get('k')) ?? null;",
    "paused": """
      attempts = 0;
      const value = await storage.transaction(async (txn) => {
        attempts++;
        const seen = (await txn.get("k")) ?? 0;
        await sleep(Number(new URL(request.url).searchParams.get("ms") ?? "150"));
        await txn.put("k", seen + 1);
        return seen;
      });
      return { value, attempts };
    """,
    "disjoint": """
      const keyed = new URL(request.url).searchParams.get("key");
      return await storage.transaction(async (txn) => {
        attempts++;
        await txn.get(keyed);
        await sleep(5);
        await txn.put(keyed, 1);
        return attempts;
      });
    """,
    "caught-rejection": """
      try {
        await storage.transaction(async () => { throw new Error("nope"); });
      } catch (_) {}
      return new Response("fine", { status: 201 });
    """,
    "unawaited-before": """
      storage.put("pre", 1);
      return await storage.transaction(async (txn) => (await txn.get("pre")) ?? null);
    """,
    "alarm-in-txn": """
      const time = Date.now() + 3_600_000;
      const inside = await storage.transaction(async (txn) => {
        const before = await txn.getAlarm();
        await txn.setAlarm(time);
        const during = await txn.getAlarm();
        return [before, during === time];
      });
      const after = await storage.getAlarm();
      await storage.transaction(async (txn) => { await txn.deleteAlarm(); });
      return [...inside, after === time, await storage.getAlarm()];
    """,
}


@pytest.fixture
def mf():
    with start(ROUTES, prelude=PRELUDE, alarm="return;") as instance:
        yield instance


def storage_of(mf: Miniflare, name: str = "test"):
    return mf.get_durable_object_storage(mf.get_durable_object_namespace("TEST").id_from_name(name))


def gather(mf: Miniflare, paths: list[str]) -> list[str]:
    async def run():
        responses = await asyncio.gather(*[mf.dispatch_fetch_async(f"http://localhost/{path}") for path in paths])
        return [response.text() for response in responses]

    return asyncio.run(run())


def test_ten_concurrent_transactions_add_exactly_ten(mf):
    storage_of(mf).put("count", 5)
    values = gather(mf, ["txn-inc"] * 10)
    assert sorted(int(value) for value in values) == list(range(6, 16))
    assert storage_of(mf).get("count") == 15


def test_transaction_sees_its_own_writes_and_nobody_else_does(mf):
    assert call(mf, "own-writes") == {
        "many": {"committed": 1, "uncommitted": 2},
        "listed": ["committed", "uncommitted"],
        "deletedNew": True,
        "outside": None,
        "after": {"again": 3, "committed": 1},
    }


def test_rollback_returns_closure_value_and_writes_nothing(mf):
    mf.trace.clear()
    assert call(mf, "rollback") == {"result": "closure value", "k": "before", "other": None}
    assert [event.kind for event in mf.trace.events(kind="txn.rollback")] == ["txn.rollback"]
    assert mf.trace.events(kind="txn.commit") == []


def test_throwing_closure_rejects_and_writes_nothing(mf):
    assert call(mf, "throwing") == {"caught": "TypeError: closure failed", "k": "before"}


def test_caller_that_catches_a_failed_transaction_gets_a_normal_response(mf):
    response = mf.dispatch_fetch("http://localhost/caught-rejection")
    assert (response.status, response.text()) == (201, "fine")


def test_transaction_error_messages(mf):
    result = call(mf, "errors")
    committed = "Cannot call {}() on transaction that has already committed: did you move `txn` outside of the closure?"
    assert result["afterCommitGet"] == {"name": "Error", "message": committed.format("get")}
    assert result["afterCommitPut"] == {"name": "Error", "message": committed.format("put")}
    assert result["afterCommitList"] == {"name": "Error", "message": committed.format("list")}
    assert result["rolledBackGet"] == {"name": "Error", "message": "Cannot get() on rolled back transaction"}
    assert result["rolledBackPut"] == {"name": "Error", "message": "Cannot put() on rolled back transaction"}
    assert result["rolledBackDelete"] == {"name": "Error", "message": "Cannot delete() on rolled back transaction"}
    assert result["rolledBackRollback"] == "no error"
    assert result["deleteAll"] == {"name": "Error", "message": "Cannot call deleteAll() within a transaction"}
    assert result["tooMany"]["message"] == "Maximum number of keys modified in a transaction is 128."
    assert result["exactly128"] == "no error"
    assert result["many"] == 127
    assert result["tooManyWrote"] is None
    assert result["undefinedKey"] == {
        "name": "TypeError",
        "message": "Failed to execute 'get' on 'DurableObjectTransaction': parameter 1 is not of type 'variant'. (key is undefined)",  # noqa: E501
    }


def test_operations_run_in_program_order_even_if_not_awaited(mf):
    assert call(mf, "program-order") == [1, None, 3]


def test_write_through_outer_storage_during_transaction_makes_it_run_twice(mf):
    assert call(mf, "outer-write") == {"value": 10, "attempts": 2, "seen": 10}


def write_from_python_while_paused(mf: Miniflare, storage: DurableObjectStorage) -> str:
    """Runs ``/paused`` and writes ``k = 100`` from Python once its first read happened."""
    read = threading.Event()
    unsubscribe = mf.trace.subscribe(lambda event: event.kind == "txn.read" and read.set())

    async def run() -> str:
        request = asyncio.ensure_future(mf.dispatch_fetch_async("http://localhost/paused?ms=150"))
        while not read.is_set():
            await asyncio.sleep(0.005)
        await storage.put_async("k", 100)
        return (await request).text()

    try:
        return asyncio.run(run())
    finally:
        unsubscribe()


def test_python_write_during_paused_js_transaction_makes_it_run_twice(mf):
    storage = storage_of(mf)
    storage.put("k", 1)
    assert write_from_python_while_paused(mf, storage) == '{"value":100,"attempts":2}'
    assert storage.get("k") == 101


def test_python_write_during_paused_transaction_that_read_the_cache_makes_it_run_twice(mf):
    storage = storage_of(mf)
    storage.put("k", 1)
    assert call(mf, "read-k") == 1  # now the object's read cache holds k
    mf.trace.clear()
    assert write_from_python_while_paused(mf, storage) == '{"value":100,"attempts":2}'
    assert storage.get("k") == 101
    reads = mf.trace.events(kind="txn.read")
    # The first attempt was answered by the cache, yet its read was validated (and lost).
    assert reads[0].data.get("cached") is True and reads[0].keys == ("k",)
    conflicts = mf.trace.events(kind="txn.conflict")
    assert len(conflicts) == 1 and conflicts[0].keys == ("k",)
    assert call(mf, "read-k") == 101  # the commit reached the cache


def test_transactions_on_disjoint_keys_do_not_retry(mf):
    values = gather(mf, [f"disjoint?key=k{i}" for i in range(5)])
    assert len(values) == 5
    assert call(mf, "attempts") == 5


def test_unawaited_writes_before_a_transaction_are_visible_to_it(mf):
    assert call(mf, "unawaited-before") == 1


def test_alarm_in_transaction(mf):
    assert call(mf, "alarm-in-txn") == [None, True, True, None]


def test_retry_gives_up_after_max_attempts_with_clear_error():
    with start(ROUTES, prelude=PRELUDE, txn_max_attempts=3) as mf:
        storage = storage_of(mf)
        stop = threading.Event()

        def hammer():
            n = 0
            while not stop.is_set():
                n += 1
                storage.put("k", n)
                stop.wait(0.002)

        thread = threading.Thread(target=hammer)
        thread.start()
        try:
            body = call(mf, "paused?ms=30")
        finally:
            stop.set()
            thread.join()
        response_text = body
        giveups = mf.trace.events(kind="txn.giveup")
        assert len(giveups) == 1 and giveups[0].attempt == 3
        assert call(mf, "attempts") == 3
        assert isinstance(response_text, dict) and response_text["error"]["name"] == "Error"
        assert response_text["error"]["message"].startswith(
            "Transaction gave up after 3 attempts: keys 'k' kept changing"
        )


def test_python_transaction(mf):
    storage = storage_of(mf)
    storage.put("count", 1)

    def increment(txn):
        value = txn.get("count")
        txn.put("count", value + 1)
        txn.put("list", [value])
        return value

    assert storage.transaction(increment) == 1
    assert storage.get(["count", "list"]) == {"count": 2, "list": [1]}

    def rolled_back(txn):
        txn.put("count", 99)
        txn.rollback()
        return "rolled back"

    assert storage.transaction(rolled_back) == "rolled back"
    assert storage.get("count") == 2

    def failing(txn):
        txn.put("count", 99)
        raise KeyError("boom")

    with pytest.raises(KeyError):
        storage.transaction(failing)
    assert storage.get("count") == 2


def test_python_transaction_error_messages(mf):
    storage = storage_of(mf)
    saved = []
    storage.transaction(saved.append)
    with pytest.raises(Exception, match="^Cannot call get\\(\\) on transaction that has already committed"):
        saved[0].get("k")

    def after_rollback(txn):
        txn.rollback()
        txn.put("k", 1)

    with pytest.raises(Exception, match="^Cannot put\\(\\) on rolled back transaction$"):
        storage.transaction(after_rollback)
    with pytest.raises(Exception, match="^Cannot call deleteAll\\(\\) within a transaction$"):
        storage.transaction(lambda txn: txn.delete_all())

    def too_many(txn):
        for i in range(129):
            txn.put(f"k{i}", i)

    with pytest.raises(ValueError, match="^Maximum number of keys modified in a transaction is 128\\.$"):
        storage.transaction(too_many)
    assert storage.list() == {}


def test_python_transaction_retries_when_js_writes_in_between(mf):
    storage = storage_of(mf)
    storage.put("count", 0)
    runs = []

    def increment(txn):
        runs.append(1)
        value = txn.get("count")
        if len(runs) == 1:
            call(mf, "txn-inc")  # a JS transaction commits count=1 meanwhile
        txn.put("count", value + 10)
        return value

    assert storage.transaction(increment) == 1
    assert len(runs) == 2
    assert storage.get("count") == 11


def test_python_transaction_gives_up_with_conflict_error(mf):
    storage = storage_of(mf)
    storage.put("k", 0)

    def always_conflicting(txn):
        txn.get("k")
        storage.put("k", 1)
        txn.put("other", 1)

    with pytest.raises(ConflictError) as info:
        storage.transaction(always_conflicting, max_attempts=2)
    assert info.value.attempts == 2 and info.value.keys == ("k",)
    assert storage.get("other") is None
