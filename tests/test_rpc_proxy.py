# ruff: noqa: E501 - long lines are JavaScript source inside strings
"""Stubs returned to Python (mfbook/rpc_proxy.py) and the stub node in the Python codec."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mfbook import Miniflare, RpcStub, WorkerError, codec
from mfbook.codec_types import JSStubRef
from mfbook.rpc_proxy import method_label

WORKER = """
import { DurableObject, RpcTarget } from "cloudflare:workers";

class Counter extends RpcTarget {
  constructor(owner, start) { super(); this.owner = owner; this.count = start; }
  increment(by = 1) { this.count += by; return this.count; }
  get value() { return this.count; }
  get stats() { return { twice: () => this.count * 2 }; }
  async stored() { return await this.owner.ctx.storage.get("made"); }
  fail() { throw new RangeError("counter overflow"); }
  [Symbol.dispose]() { this.owner.disposals++; }
}

export class Obj extends DurableObject {
  constructor(ctx, env) { super(ctx, env); this.disposals = 0; }
  async getCounter(start = 0) { await this.ctx.storage.put("made", start); return new Counter(this, start); }
  getFunction() { return (a, b) => a * b; }
  bundle() { return { counters: [new Counter(this, 1)], label: "plain" }; }
  disposalCount() { return this.disposals; }
}
export default {};
"""


@pytest.fixture
def mf() -> Iterator[Miniflare]:
    with Miniflare(script=WORKER, modules=True, durable_objects={"OBJ": "Obj"}) as instance:
        yield instance


def stub_of(mf: Miniflare) -> object:
    return mf.get_durable_object_namespace("OBJ").get_by_name("a")


def test_call_returns_a_proxy_whose_calls_run_in_the_object(mf: Miniflare) -> None:
    counter = stub_of(mf).call("getCounter", 10)  # type: ignore[attr-defined]
    assert isinstance(counter, RpcStub)
    assert [counter.increment(2), counter.call("increment", 3), counter.stored()] == [12, 15, 10]


def test_attribute_paths_are_pipelined_into_one_call(mf: Miniflare) -> None:
    counter = stub_of(mf).call("getCounter", 4)  # type: ignore[attr-defined]
    before = len(mf.trace.records())
    assert counter.stats.twice() == 8
    methods = [r["data"]["method"] for r in mf.trace.records()[before:] if r["kind"] == "request.start"]
    assert methods == ["[stub 1].stats.twice"]


def test_get_reads_a_property(mf: Miniflare) -> None:
    counter = stub_of(mf).call("getCounter", 7)  # type: ignore[attr-defined]
    assert counter.get("value") == 7
    assert counter.value.get() == 7


def test_functions_returned_to_python_are_callable(mf: Miniflare) -> None:
    multiply = stub_of(mf).call("getFunction")  # type: ignore[attr-defined]
    assert multiply(6, 7) == 42


def test_stubs_nested_in_results_become_proxies(mf: Miniflare) -> None:
    bundle = stub_of(mf).call("bundle")  # type: ignore[attr-defined]
    assert bundle["label"] == "plain"
    assert bundle["counters"][0].increment() == 2


def test_with_disposes_the_stub_and_runs_the_targets_dispose(mf: Miniflare) -> None:
    stub = stub_of(mf)
    with stub.call("getCounter") as counter:  # type: ignore[attr-defined]
        counter.increment()
    assert counter.disposed
    with pytest.raises(WorkerError, match="RPC stub used after being disposed."):
        counter.increment()
    assert stub.call("disposalCount") == 1  # type: ignore[attr-defined]


def test_dup_keeps_the_target_until_every_copy_is_disposed(mf: Miniflare) -> None:
    stub = stub_of(mf)
    counter = stub.call("getCounter")  # type: ignore[attr-defined]
    copy = counter.dup()
    counter.dispose()
    assert copy.increment() == 1
    assert stub.call("disposalCount") == 0  # type: ignore[attr-defined]
    copy.dispose()
    assert stub.call("disposalCount") == 1  # type: ignore[attr-defined]


def test_errors_from_stub_calls_are_remote_worker_errors_with_the_objects_stack(mf: Miniflare) -> None:
    counter = stub_of(mf).call("getCounter")  # type: ignore[attr-defined]
    with pytest.raises(WorkerError) as raised:
        counter.fail()
    line = WORKER.splitlines().index('  fail() { throw new RangeError("counter overflow"); }') + 1
    assert (raised.value.name, raised.value.js_message, raised.value.remote) == ("RangeError", "counter overflow", True)
    assert f"at fail (worker.js:{line}:" in raised.value.stack


def test_a_stub_reads_readably(mf: Miniflare) -> None:
    counter = stub_of(mf).call("getCounter")  # type: ignore[attr-defined]
    hex_id = mf.get_durable_object_namespace("OBJ").id_from_name("a").hex
    assert repr(counter) == f"<RpcStub RpcTarget in OBJ {hex_id[:8]}…>"
    assert repr(counter.stats.twice) == f"<RpcStub RpcTarget in OBJ {hex_id[:8]}….stats.twice>"
    assert repr(stub_of(mf).call("getFunction")).startswith("<RpcStub function in OBJ")  # type: ignore[attr-defined]


def test_a_stub_passed_back_to_javascript_is_the_same_target(mf: Miniflare) -> None:
    stub = stub_of(mf)
    counter = stub.call("getCounter", 3)  # type: ignore[attr-defined]
    text = codec.encode([counter._ref])
    assert codec.decode(text) == [counter._ref]
    assert '"$":"stub"' in text


def test_the_codec_stub_node_takes_no_object_id() -> None:
    node = {"w": "ab", "x": 1, "k": "t"}
    shared: list[int] = [1]
    value = codec.decode(codec.encode([JSStubRef(node), shared, shared]))
    assert value[0] == JSStubRef({**node, "$": "stub"})
    assert value[1] is value[2]


def test_method_labels_for_the_trace() -> None:
    assert method_label("increment") == "increment"
    assert method_label('\u0000{"p":["a","b"],"w":"ab","x":2}') == "[stub 2].a.b"
    assert method_label('\u0000{"p":["tools","name"],"g":1}') == "tools.name (get)"
    assert method_label('\u0000{"p":[],"r":1,"w":"ab","x":2}') == "[stub 2] (dispose)"
