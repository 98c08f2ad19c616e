"""mfbook.testing: instance state, object storage, alarms on demand, trace windows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mfbook import JSMap, LimitExceeded, Miniflare
from mfbook.testing import OpaqueValue, instance_state, object_storage, recorded, run_alarm

SCRIPT = """
import { DurableObject } from "cloudflare:workers";
export class Thing extends DurableObject {
  #secret = 1;
  constructor(ctx, env) {
    super(ctx, env);
    this.seen = new Map([["a", 1]]);
    this.callback = () => 1;
    Object.defineProperty(this, "broken", { enumerable: true, get() { throw new Error("no"); } });
  }
  async touch() { return true; }
  async fill(n) {
    const entries = {};
    for (let i = 0; i < n; i++) entries["k" + String(i).padStart(4, "0")] = i;
    for (let start = 0; start < n; start += 128) {
      const page = Object.fromEntries(Object.entries(entries).slice(start, start + 128));
      await this.ctx.storage.put(page);
    }
  }
  async coalesced() {
    this.ctx.storage.put("a", 1);
    this.ctx.storage.put("b", 2);
    await this.ctx.storage.put("c", 3);
  }
  async schedule(ms) { await this.ctx.storage.setAlarm(Date.now() + ms); }
  async alarm() {
    const runs = ((await this.ctx.storage.get("runs")) ?? 0) + 1;
    await this.ctx.storage.put("runs", runs);
    if (runs === 1) throw new Error("first run fails");
  }
}
export default { fetch: () => new Response("ok") };
"""


@pytest.fixture
def mf() -> Iterator[Miniflare]:
    with Miniflare(script=SCRIPT, modules=True, durable_objects={"THING": "Thing"}) as emulator:
        yield emulator


def test_instance_state_is_none_before_the_object_exists(mf: Miniflare) -> None:
    stub = mf.get_durable_object_namespace("THING").get_by_name("x")
    assert instance_state(mf, stub) is None
    assert instance_state(mf, stub.id) is None


def test_instance_state_shows_fields_and_names_what_cannot_be_cloned(mf: Miniflare) -> None:
    stub = mf.get_durable_object_namespace("THING").get_by_name("x")
    stub.call("touch")
    state = instance_state(mf, stub)
    assert state is not None
    assert state["seen"] == JSMap([("a", 1)])
    assert state["ctx"] == OpaqueValue("DurableObjectState")
    assert state["env"] == OpaqueValue("Object")
    assert state["callback"] == OpaqueValue("Function")
    assert state["broken"] == OpaqueValue("undefined")  # the getter threw
    assert "#secret" not in state and "secret" not in state


def test_instance_state_rejects_other_targets(mf: Miniflare) -> None:
    with pytest.raises(TypeError, match="expected a DurableObjectStub or DurableObjectId, got str"):
        instance_state(mf, "x")  # type: ignore[arg-type]


def test_object_storage_reads_every_key_past_one_page(mf: Miniflare) -> None:
    stub = mf.get_durable_object_namespace("THING").get_by_name("x")
    stub.call("fill", 300)
    stored = object_storage(mf, stub)
    assert len(stored) == 300
    assert list(stored)[:2] == ["k0000", "k0001"] and stored["k0299"] == 299


def test_run_alarm_runs_it_now_and_then_its_retry(mf: Miniflare) -> None:
    stub = mf.get_durable_object_namespace("THING").get_by_name("x")
    assert run_alarm(mf, stub) is False
    stub.call("schedule", 3_600_000)
    with recorded(mf) as trace:
        assert run_alarm(mf, stub) is True  # throws on its first run: a retry is scheduled
    assert [event.kind for event in trace.events("alarm.")] == ["alarm.fire", "alarm.retry"]
    assert run_alarm(mf, stub) is True  # the retry, without waiting for its backoff
    assert object_storage(mf, stub) == {"runs": 2}
    assert run_alarm(mf, stub) is False


def test_recorded_counts_commits_and_transactions(mf: Miniflare) -> None:
    stub = mf.get_durable_object_namespace("THING").get_by_name("x")
    storage = mf.get_durable_object_namespace("THING").storage("x")
    with recorded(mf) as trace:
        stub.call("coalesced")
    trace.assert_commits(1)  # three puts without an await between them: one batch
    trace.assert_transactions(committed=0)
    with recorded(mf) as trace:
        storage.transaction(lambda txn: txn.put("a", txn.get("a") + 1))
    trace.assert_transactions(committed=1, conflicts=0)
    [summary] = trace.transactions()
    assert (summary.outcome, summary.attempt, summary.keys, summary.object_name) == ("committed", 1, ("a",), "x")


def test_a_conflict_and_its_retry_are_two_attempts(mf: Miniflare) -> None:
    storage = mf.get_durable_object_namespace("THING").storage("x")
    storage.put("a", 1)
    runs = []

    def bump(txn):  # type: ignore[no-untyped-def]
        runs.append(1)
        value = txn.get("a")
        if len(runs) == 1:
            storage.put("a", 100)  # a commit between this attempt's read and its commit
        txn.put("a", value + 1)

    with recorded(mf) as trace:
        storage.transaction(bump)
    trace.assert_transactions(committed=1, conflicts=1)
    assert [(s.attempt, s.outcome) for s in trace.transactions()] == [(1, "conflicted"), (2, "committed")]


def test_a_failed_assertion_lists_what_happened(mf: Miniflare) -> None:
    storage = mf.get_durable_object_namespace("THING").storage("x")
    with recorded(mf) as trace:
        storage.transaction(lambda txn: txn.put("a", 1))
    with pytest.raises(AssertionError) as caught:
        trace.assert_transactions(committed=2)
    message = str(caught.value)
    assert message.startswith("committed: expected 2, got 1\n")
    assert "txn 1 (attempt 1) on THING:x: committed keys=['a']" in message
    with pytest.raises(AssertionError, match=r"expected 3 commit\(s\), got 1:\n  txn.commit THING keys=\['a'\]"):
        trace.assert_commits(3)


def test_a_window_ends_with_its_block(mf: Miniflare) -> None:
    storage = mf.get_durable_object_namespace("THING").storage("x")
    with recorded(mf) as trace:
        storage.put("a", 1)
    storage.put("b", 2)
    assert [event.keys for event in trace.commits()] == [("a",)]


def test_the_helpers_module_exports_a_sorted_public_api() -> None:
    import mfbook.testing

    assert mfbook.testing.__all__ == sorted(mfbook.testing.__all__)
    assert all(hasattr(mfbook.testing, name) for name in mfbook.testing.__all__)


def test_a_runaway_getter_ends_with_the_cpu_limit_and_the_emulator_keeps_serving() -> None:
    script = """
    import { DurableObject } from "cloudflare:workers";
    export class Spinner extends DurableObject {
      constructor(ctx, env) {
        super(ctx, env);
        Object.defineProperty(this, "spin", { enumerable: true, get() { for (;;) {} } });
      }
      async hello() { return "hello"; }
    }
    export default { fetch: () => new Response("still here") };
    """
    with Miniflare(script=script, modules=True, durable_objects={"SPIN": "Spinner"}, cpu_limit_ms=100) as mf:
        stub = mf.get_durable_object_namespace("SPIN").get_by_name("x")
        stub.call("hello")
        with pytest.raises(LimitExceeded, match=r"Worker exceeded CPU time limit \(100 ms\)"):
            instance_state(mf, stub)
        assert mf.dispatch_fetch("http://localhost/").text() == "still here"
        assert stub.call("hello") == "hello"
