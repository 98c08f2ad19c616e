"""Worker code is untrusted: it cannot reach other objects' storage or break its own bridge."""

from __future__ import annotations

import json

import pytest

from mfbook import Miniflare, WorkerError
from mfbook.outbox import parse_outbox

VICTIM = """
import { DurableObject } from "cloudflare:workers";
export class Vault extends DurableObject {
  async fetch(request) { return new Response(String(await this.ctx.storage.get("secret"))); }
}
export default { async fetch(request, env) { return env.VAULT.getByName("v").fetch(request); } };
"""

# Rewrites its storage operator's target to the victim's object key (computable from a name).
ATTACKER = """
import { DurableObject } from "cloudflare:workers";
export class Evil extends DurableObject {
  async fetch(request) {
    const url = new URL(request.url);
    const target = url.searchParams.get("t");
    const storage = this.ctx.storage;
    if (url.pathname === "/replace") storage._actor = { ...storage._actor, key: target, cache: null };
    if (url.pathname === "/mutate") storage._actor.key = target;
    if (url.searchParams.get("op") === "read") {
      try { return new Response("read:" + (await storage.get("secret"))); }
      catch (e) { return new Response("read failed: " + e.message); }
    }
    storage.put("secret", "pwned"); // resolves at once: the host refuses it and fails the request
    storage.delete("secret");
    return new Response("wrote");
  }
}
export default {
  async fetch(request, env) {
    if (new URL(request.url).pathname === "/ping") return new Response("pong");
    return env.EVIL.getByName("e").fetch(request);
  },
};
"""


@pytest.fixture
def two_tenants():
    mf = Miniflare(
        workers=[
            {"name": "victim", "script": VICTIM, "modules": True, "durable_objects": {"VAULT": "Vault"}},
            {"name": "attacker", "script": ATTACKER, "modules": True, "durable_objects": {"EVIL": "Evil"}},
        ],
        console=None,
    )
    yield mf
    mf.dispose()


@pytest.mark.parametrize("how", ["/replace", "/mutate"])
def test_a_forged_storage_target_is_refused_and_the_victim_is_untouched(two_tenants, how):
    victim = two_tenants.get_durable_object_namespace("VAULT", worker_name="victim")
    oid = victim.id_from_name("v")
    two_tenants.get_durable_object_storage(oid).put("secret", "s3cr3t")
    target = f"VAULT:{oid}"
    refused = f"Storage operation refused: it targets Durable Object '{target}'"

    read = two_tenants.dispatch_fetch(f"http://x{how}?t={target}&op=read", worker_name="attacker").text()
    assert read.startswith(f"read failed: {refused}") and read.endswith("An object can only use its own storage.")
    written = two_tenants.dispatch_fetch(f"http://x{how}?t={target}&op=write", worker_name="attacker")
    assert written.status == 500 and written.text().startswith(f"Error: {refused}")

    assert two_tenants.get_durable_object_storage(oid).list() == {"secret": "s3cr3t"}
    assert victim.get(oid).fetch("/").text() == "s3cr3t"
    assert two_tenants.dispatch_fetch("http://x/ping", worker_name="attacker").text() == "pong"


def test_a_direct_call_into_another_workers_class_is_refused():
    from mfbook.ownership import ForeignObjectError, check_direct_target
    from mfbook.scheduling import NamespaceSpec

    class FakeWorker:
        name = "attacker"

    with pytest.raises(ForeignObjectError, match="lives in worker 'victim', not in 'attacker'"):
        check_direct_target(FakeWorker(), NamespaceSpec("VAULT", "Vault", "victim"))  # type: ignore[arg-type]
    check_direct_target(FakeWorker(), NamespaceSpec("EVIL", "Evil", "attacker"))  # type: ignore[arg-type]


PATCHES = {
    "Array.prototype.toJSON": "Array.prototype.toJSON = function () { return 'x'; };",
    "JSON.stringify": "JSON.stringify = () => '{';",
    "JSON.parse": "JSON.parse = () => 5;",
    "Object.prototype.toJSON": "Object.prototype.toJSON = function () { return 1; };",
    "Array.prototype.push": "Array.prototype.push = function () { return 0; };",
    "Promise.prototype.then": "Promise.prototype.then = function () { return this; };",
    "Map.prototype.get": "Map.prototype.get = function () { return undefined; };",
    "Map.prototype.set": "Map.prototype.set = function () { return this; };",
    "Set.prototype.has": "Set.prototype.has = function () { return true; };",
}

COUNTER = """
import { DurableObject } from "cloudflare:workers";
export class C extends DurableObject {
  async fetch(request) {
    const n = ((await this.ctx.storage.get("n")) ?? 0) + 1;
    await this.ctx.storage.put("n", n);
    await this.ctx.storage.put("m", { k: [1, { n }], big: 10n, at: new Date(0), same: [n, n] });
    return new Response(String(n));
  }
  async add(k) {
    const n = ((await this.ctx.storage.get("n")) ?? 0) + k;
    await this.ctx.storage.put("n", n);
    return { n, list: [n, "x"] };
  }
}
let patched = false;
export default {
  async fetch(request, env) {
    if (new URL(request.url).pathname === "/patch" && !patched) {
      patched = true;
      PATCH
      return new Response("patched");
    }
    return await env.C.getByName("a").fetch(request);
  },
};
"""


@pytest.mark.parametrize("patch", sorted(PATCHES))
def test_patched_builtins_do_not_break_the_bridge(patch):
    script = COUNTER.replace("PATCH", PATCHES[patch])
    with Miniflare(script=script, modules=True, durable_objects={"C": "C"}, console=None) as mf:
        assert mf.dispatch_fetch("http://x/").text() == "1"
        assert mf.dispatch_fetch("http://x/patch").text() == "patched"
        assert mf.dispatch_fetch("http://x/").text() == "2"
        assert mf.dispatch_fetch("http://x/").text() == "3"
        stub = mf.get_durable_object_namespace("C").get_by_name("a")
        assert stub.call("add", 10) == {"n": 13, "list": [13, "x"]}
        storage = mf.get_durable_object_storage(stub.id)
        assert storage.get("n") == 13
        value = storage.get("m")
        assert value["k"] == [1, {"n": 3}] and value["big"] == 10 and value["same"] == [3, 3]


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ('"x"', "a str, not a list"),
        ("{", "not JSON"),
        ("[1]", "entry 0 is a int, not an object"),
        ('[{"op": 5}]', "has no operation name"),
        ('[{"op": "done", "ev": "1", "ok": true}]', "(done) lacks a valid 'ev'"),
        ('[{"op": "done", "ev": 1, "ok": false, "error": "boom"}]', "(done) has no error object"),
        ('[{"op": "st", "a": "X:1", "m": "get", "id": true}]', "(st) has a non-integer id"),
        ('[{"op": "dend", "d": 1, "ok": true}]', "(dend) has no id"),
    ],
)
def test_a_malformed_outbox_is_a_clear_error(text, detail):
    with pytest.raises(WorkerError, match="malformed outbox") as caught:
        parse_outbox(text)
    assert detail in str(caught.value)


def test_a_well_formed_outbox_parses():
    entries = [{"op": "done", "ev": 1, "ok": True, "value": None}, {"op": "console", "level": "log", "text": "hi"}]
    assert parse_outbox(json.dumps(entries)) == entries
    assert parse_outbox("") == []
