# ruff: noqa: E501 - long lines are JavaScript source inside strings
"""RPC stubs as workerd makes them (kernel/rpc_targets.js, kernel/rpc_stubs.js).

Ported in spirit from workerd's js-rpc-test: RpcTargets and functions cross as stubs, nested
in results and arguments; pipelining; properties; disposal; errors. Every behaviour runs twice:
with the object in the caller's own isolate (the direct-call path) and in another worker's
isolate (every call goes through Python).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mfbook import Miniflare, WorkerError

OBJECT = """
import { DurableObject, RpcTarget } from "cloudflare:workers";

export class Counter extends RpcTarget {
  constructor(owner, start) { super(); this.owner = owner; this.count = start; }
  increment(by = 1) { this.count += by; return this.count; }
  get value() { return this.count; }
  async stored() { return await this.owner.ctx.storage.get("made"); }
  nested() { return { inner: new Counter(this.owner, 100) }; }
  [Symbol.dispose]() { this.owner.disposals++; }
}

export class Obj extends DurableObject {
  constructor(ctx, env) { super(ctx, env); this.disposals = 0; this.secret = "own field"; }
  async makeCounter(start) { await this.ctx.storage.put("made", start); return new Counter(this, start); }
  getFunction() { return (x) => x * 2; }
  bundle() { return { plain: { list: [1, 2] }, counters: [new Counter(this, 5)], add: (a, b) => a + b }; }
  get tools() { return { double: (x) => x * 2, name: "tools" }; }
  get greeting() { return "hello"; }
  async callBack(fn, value) { return await fn(value); }
  async useTarget(target) { return await target.describe("from the object"); }
  disposalCount() { return this.disposals; }
  fail(kind) {
    if (kind === "range") throw new RangeError("out of range");
    if (kind === "busy") throw Object.assign(new Error("try later"), { retryable: true, overloaded: true });
    const error = new Error("custom failure");
    error.name = "CustomError";
    throw error;
  }
  reset() { this.ctx.abort(); }
}
"""

ENTRY = """
import { RpcTarget } from "cloudflare:workers";
class Describer extends RpcTarget { describe(where) { return "described " + where; } }
export default {
  async fetch(request, env) {
    const stub = env.OBJ.getByName("a");
    const out = await (async () => { %s })();
    return Response.json(out === undefined ? null : out);
  },
};
"""


@pytest.fixture(params=["same isolate", "other worker"])
def run(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Runs a JS body (with `stub`, `env`, `Describer`) in the entry worker; returns its JSON."""
    instances: list[Miniflare] = []

    def run_body(body: str, *, mf_out: list[Miniflare] | None = None) -> Any:
        main = ENTRY % body
        if request.param == "same isolate":
            mf = Miniflare(script=OBJECT + main.replace('import { RpcTarget } from "cloudflare:workers";', ""), modules=True, durable_objects={"OBJ": "Obj"})
        else:
            mf = Miniflare(
                workers=[
                    {"name": "main", "script": main, "modules": True, "durable_objects": {"OBJ": {"class_name": "Obj", "script_name": "objects"}}},
                    {"name": "objects", "script": OBJECT + "export default {};", "modules": True, "durable_objects": {"OBJ": "Obj"}},
                ]
            )
        instances.append(mf)
        if mf_out is not None:
            mf_out.append(mf)
        response = mf.dispatch_fetch("http://x/")
        assert response.status == 200, response.text()
        return response.json()

    yield run_body
    for mf in instances:
        mf.dispose()


# ---------------------------------------------------------------------------- targets and functions
def test_a_returned_rpc_target_is_a_stub_whose_calls_run_in_the_object(run: Any) -> None:
    assert run(
        "const counter = await stub.makeCounter(10);"
        "return [typeof counter, await counter.increment(2), await counter.increment(3), await counter.stored()];"
    ) == ["function", 12, 15, 10]


def test_a_returned_function_is_callable(run: Any) -> None:
    assert run("const double = await stub.getFunction(); return [await double(21), await double(2)];") == [42, 4]


def test_stubs_nested_in_objects_and_arrays_while_plain_data_is_copied(run: Any) -> None:
    assert run(
        "const bundle = await stub.bundle();"
        "bundle.plain.list.push(3);"
        "const again = await stub.bundle();"
        "return [await bundle.counters[0].increment(1), await bundle.add(2, 3), bundle.plain.list.length, again.plain.list.length];"
    ) == [6, 5, 3, 2]


def test_a_function_passed_as_an_argument_is_called_back_in_the_caller(run: Any) -> None:
    assert run("let calls = 0; const r = await stub.callBack((x) => { calls++; return x + 1; }, 41); return [r, calls];") == [42, 1]


def test_an_rpc_target_passed_as_an_argument_is_a_stub_in_the_object(run: Any) -> None:
    assert run("return await stub.useTarget(new Describer());") == "described from the object"


# ---------------------------------------------------------------------------- pipelining and properties
def test_a_call_on_an_unawaited_result_is_pipelined(run: Any) -> None:
    assert run("return [await stub.makeCounter(20).increment(5), await stub.makeCounter(1).nested().inner.increment()];") == [25, 101]


def test_a_property_path_on_an_object_is_one_call(run: Any) -> None:
    mfs: list[Miniflare] = []
    assert run("return [await stub.tools.double(4), await stub.tools.name];", mf_out=mfs) == [8, "tools"]
    methods = [r["data"].get("method") for r in mfs[0].trace.records() if r["kind"] == "request.start" and r["data"].get("kind") == "rpc"]
    assert methods == ["tools.double", "tools.name (get)"]


def test_awaiting_a_property_reads_its_value(run: Any) -> None:
    assert run("const counter = await stub.makeCounter(7); return [await stub.greeting, await counter.value, await stub.bundle().plain.list];") == ["hello", 7, [1, 2]]


def test_missing_methods_and_properties_give_workerds_error(run: Any) -> None:
    message = 'TypeError: The RPC receiver does not implement the method "{}".'
    assert run(
        "const counter = await stub.makeCounter(1); const out = [];"
        "for (const attempt of [() => stub.nope(), () => stub.missing, () => counter.nope(), () => counter.count, () => stub.secret]) {"
        "  try { await attempt(); out.push('no error'); } catch (e) { out.push(`${e.name}: ${e.message}`); }"
        "}"
        "return out;"
    ) == [message.format(name) for name in ("nope", "missing", "nope", "count", "secret")]


def test_paths_through_values_that_are_not_objects_fail_as_workerd(run: Any) -> None:
    assert run(
        "const out = [];"
        "for (const attempt of [() => stub.greeting.length(), () => stub.disposalCount().toFixed(), () => stub.tools.name()]) {"
        "  try { await attempt(); out.push('no error'); } catch (e) { out.push(`${e.name}: ${e.message}`); }"
        "}"
        "return out;"
    ) == [
        'TypeError: The RPC receiver does not implement the method "greeting".',
        "TypeError: Can't pipeline on RPC that did not return an object.",
        'TypeError: "name" is not a function.',
    ]


# ---------------------------------------------------------------------------- lifetimes
def test_a_disposed_stub_rejects_and_its_target_is_disposed(run: Any) -> None:
    assert run(
        "const counter = await stub.makeCounter(1);"
        "counter[Symbol.dispose]();"
        "let error; try { await counter.increment(); } catch (e) { error = `${e.name}: ${e.message}`; }"
        "return [error, await stub.disposalCount()];"
    ) == ["Error: RPC stub used after being disposed.", 1]


def test_dup_keeps_the_target_until_every_copy_is_disposed(run: Any) -> None:
    assert run(
        "const counter = await stub.makeCounter(1); const copy = counter.dup();"
        "counter[Symbol.dispose]();"
        "const afterFirst = [await copy.increment(), await stub.disposalCount()];"
        "copy[Symbol.dispose]();"
        "return [...afterFirst, await stub.disposalCount()];"
    ) == [2, 0, 1]


def test_a_using_declaration_disposes_the_stub_at_the_end_of_its_block(run: Any) -> None:
    assert run("{ using counter = await stub.makeCounter(1); await counter.increment(); } return await stub.disposalCount();") == 1


def test_disposing_a_result_disposes_every_stub_in_it(run: Any) -> None:
    assert run(
        "const bundle = await stub.bundle(); bundle[Symbol.dispose]();"
        "let error; try { await bundle.add(1, 2); } catch (e) { error = e.message; }"
        "return [error, await stub.disposalCount()];"
    ) == ["RPC stub used after being disposed.", 1]


def test_disposing_an_rpc_promise_disposes_its_result(run: Any) -> None:
    assert run("const pending = stub.makeCounter(1); pending[Symbol.dispose](); await pending; await stub.greeting; return await stub.disposalCount();") == 1


def test_stubs_a_request_received_are_released_when_it_ends(run: Any) -> None:
    mfs: list[Miniflare] = []
    assert run("globalThis.kept = await stub.makeCounter(1); return await kept.increment();", mf_out=mfs) == 2
    mf = mfs[0]
    assert mf.get_durable_object_namespace("OBJ", worker_name=None if len(mf._runtime.workers) == 1 else "main").get_by_name("a").call("disposalCount") == 1


def test_a_stub_kept_past_its_request_fails_with_workerds_error() -> None:
    main = ENTRY % "if (globalThis.kept === undefined) { globalThis.kept = await stub.makeCounter(1); return 'kept'; } try { return await kept.increment(); } catch (e) { return e.message; }"
    with Miniflare(script=OBJECT + main.replace('import { RpcTarget } from "cloudflare:workers";', ""), modules=True, durable_objects={"OBJ": "Obj"}) as mf:
        assert mf.dispatch_fetch("http://x/").json() == "kept"
        assert mf.dispatch_fetch("http://x/").json() == "RPC stub used after being disposed."


def test_a_stub_of_a_reset_object_fails_clearly(run: Any) -> None:
    result = run(
        "const counter = await stub.makeCounter(1);"
        "try { await stub.reset(); } catch (e) {}"
        "try { await counter.increment(); return 'still works'; } catch (e) { return e.message; }"
    )
    assert result == "The RPC stub's target is gone: the object instance that exported it was reset or reloaded."


# ---------------------------------------------------------------------------- errors
def test_an_error_keeps_its_class_message_remote_flag_and_the_objects_stack(run: Any) -> None:
    out = run(
        "const out = [];"
        "for (const kind of ['range', 'custom']) {"
        "  try { await stub.fail(kind); } catch (e) { out.push([e.name, e.message, e.remote, e instanceof RangeError, e.stack]); }"
        "}"
        "return out;"
    )
    assert [row[:4] for row in out] == [["RangeError", "out of range", True, True], ["CustomError", "custom failure", True, False]]
    line = OBJECT.splitlines().index('    if (kind === "range") throw new RangeError("out of range");') + 1
    assert out[0][4].splitlines()[:2] == ["RangeError: out of range", f"    at fail (worker.js:{line}:37)"]


def test_errors_on_stubs_are_remote_too(run: Any) -> None:
    assert run("const counter = await stub.makeCounter(1); try { await counter.nope(); } catch (e) { return [e.name, e.remote]; }") == ["TypeError", True]


def test_retryable_and_overloaded_flags_reach_the_caller(run: Any) -> None:
    assert run("try { await stub.fail('busy'); } catch (e) { return [e.message, e.retryable, e.overloaded, e.remote]; }") == ["try later", True, True, True]


def test_a_stub_kept_across_a_reload_fails_clearly() -> None:
    script = OBJECT + "export default {};"
    with Miniflare(script=script, modules=True, durable_objects={"OBJ": "Obj"}) as mf:
        counter = mf.get_durable_object_namespace("OBJ").get_by_name("a").call("makeCounter", 1)
        mf.set_options(script=script, modules=True, durable_objects={"OBJ": "Obj"})
        with pytest.raises(WorkerError, match="The RPC stub's target is gone"):
            counter.increment()
