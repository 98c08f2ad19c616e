# ruff: noqa: E501 - long lines are JavaScript source inside strings
"""Durable Object namespaces and ids, from JS and Python (after Miniflare 2's namespace.spec.ts)."""

from __future__ import annotations

import json
import time

import pytest

from mfbook import ConfigError, DurableObjectId, Miniflare

VECTOR = "a856dbbd5109f5217920084de35ee0a24072ca790341ed4e94ee059335e587e5"

WORKER = """
export class Test {
  constructor(state, env) {
    globalThis.constructed = (globalThis.constructed ?? 0) + 1;
    this.state = state;
    this.env = env;
  }
  async fetch(request) {
    return new Response(JSON.stringify({
      id: this.state.id.toString(),
      hasName: "name" in this.state.id,
      envKeys: Object.keys(this.env).sort(),
      constructed: globalThis.constructed,
    }));
  }
}
export class Other {
  fetch() { return new Response("other"); }
}
const json = (value) => new Response(JSON.stringify(value));
const catching = (fn) => { try { return fn(); } catch (e) { return { name: e.name, message: e.message }; } };
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const ns = env.TEST;
    switch (url.pathname) {
      case "/vector": {
        const id = env.TEST.idFromName("test");
        return json({ hex: id.toString(), name: id.name, json: JSON.stringify(id) });
      }
      case "/named": {
        const a = ns.idFromName("a");
        return json({ hex: a.toString(), name: a.name, equalsSame: a.equals(ns.idFromName("a")),
                      equalsOther: a.equals(ns.idFromName("b")), equalsParsed: a.equals(ns.idFromString(a.toString())),
                      parsedName: ns.idFromString(a.toString()).name ?? null });
      }
      case "/unique": {
        const before = Date.now();
        const id = ns.newUniqueId();
        const eu = ns.newUniqueId({ jurisdiction: "eu" });
        return json({ hex: id.toString(), eu: eu.toString(), before, after: Date.now(), name: id.name ?? null,
                      distinct: id.toString() !== ns.newUniqueId().toString() });
      }
      case "/errors": return json({
        badJurisdiction: catching(() => ns.newUniqueId({ jurisdiction: "mars" })),
        badJurisdictionMethod: catching(() => ns.jurisdiction("mars")),
        jurisdictionOk: catching(() => ns.jurisdiction("eu") === ns),
        notHex: catching(() => ns.idFromString("not-hex")),
        short: catching(() => ns.idFromString("ab".repeat(31))),
        otherClass: catching(() => ns.idFromString(env.OTHER.idFromName("x").toString())),
        upper: catching(() => ns.idFromString(ns.idFromName("x").toString().toUpperCase()).toString() === ns.idFromName("x").toString()),
        otherNamespaceGet: catching(() => { ns.get(env.OTHER.idFromName("x")); return "no error"; }),
        notAnId: catching(() => { ns.get("x"); return "no error"; }),
      });
      case "/upper": {
        const hex = ns.idFromName("x").toString();
        return json(ns.idFromString(hex.slice(0, 40).toUpperCase() + hex.slice(40)).toString());
      }
      case "/fetch": {
        const stub = url.searchParams.has("unique") ? ns.get(ns.newUniqueId())
          : url.searchParams.has("byName") ? ns.getByName(url.searchParams.get("byName"))
          : ns.get(ns.idFromName(url.searchParams.get("name")), { locationHint: "weur" });
        const response = await stub.fetch("/x");
        return new Response(await response.text(), { headers: { "x-stub-id": stub.id.toString(), "x-stub-name": String(stub.name) } });
      }
    }
    return new Response("not found", { status: 404 });
  },
};
"""


@pytest.fixture
def mf():
    with Miniflare(
        script=WORKER, modules=True, durable_objects={"TEST": "Test", "OTHER": "Other", "VECTOR": "Other"}
    ) as instance:
        yield instance


def get(mf: Miniflare, path: str):
    return json.loads(mf.dispatch_fetch(f"http://localhost{path}").text())


def test_id_from_name_matches_miniflare_vector_in_js(mf):
    body = get(mf, "/vector")
    assert body == {"hex": VECTOR, "name": "test", "json": json.dumps(VECTOR)}


def test_id_from_name_matches_miniflare_vector_in_python(mf):
    # The vector's binding is TEST; the namespace bound as VECTOR hashes differently.
    object_id = mf.get_durable_object_namespace("TEST").id_from_name("test")
    assert str(object_id) == VECTOR
    assert object_id.name == "test"


def test_same_id_in_js_and_python(mf):
    body = get(mf, "/named")
    python_id = mf.get_durable_object_namespace("TEST").id_from_name("a")
    assert body["hex"] == python_id.hex == str(python_id)
    assert body["name"] == python_id.name == "a"


def test_id_equals_and_name(mf):
    body = get(mf, "/named")
    assert body["equalsSame"] is True
    assert body["equalsOther"] is False
    assert body["equalsParsed"] is True
    assert body["parsedName"] is None
    ns = mf.get_durable_object_namespace("TEST")
    a = ns.id_from_name("a")
    assert a.equals(ns.id_from_string(a.hex)) and a == ns.id_from_string(a.hex)
    assert not a.equals(ns.id_from_name("b"))
    assert ns.id_from_string(a.hex).name is None


def test_new_unique_id_layout_in_js(mf):
    body = get(mf, "/unique")
    raw = bytes.fromhex(body["hex"])
    assert len(body["hex"]) == 64 and body["hex"] == body["hex"].lower()
    assert raw[0] == 0
    assert body["before"] <= int.from_bytes(raw[1:9], "big") <= body["after"]
    assert body["hex"][48:] == VECTOR[48:]  # namespace hash of TEST
    assert body["eu"][48:] == VECTOR[48:]
    assert body["name"] is None and body["distinct"] is True


def test_new_unique_id_layout_in_python(mf):
    ns = mf.get_durable_object_namespace("TEST")
    before = int(time.time() * 1000)
    object_id = ns.new_unique_id()
    after = int(time.time() * 1000)
    raw = bytes.fromhex(object_id.hex)
    assert raw[0] == 0 and before <= int.from_bytes(raw[1:9], "big") <= after
    assert object_id.hex[48:] == VECTOR[48:]
    assert object_id.name is None
    assert ns.new_unique_id(jurisdiction="fedramp").jurisdiction == "fedramp"
    assert ns.new_unique_id() != object_id


def test_namespace_validation_messages_in_js(mf):
    body = get(mf, "/errors")
    assert body["badJurisdiction"] == {
        "name": "TypeError",
        "message": 'newUniqueId called with an unsupported jurisdiction: "mars"',
    }
    assert body["badJurisdictionMethod"] == {
        "name": "TypeError",
        "message": 'jurisdiction called with an unsupported jurisdiction: "mars"',
    }
    assert body["jurisdictionOk"] is True
    not_hex = {"name": "TypeError", "message": "Invalid Durable Object ID. Durable Object IDs must be 64 hex digits."}
    assert body["notHex"] == not_hex and body["short"] == not_hex
    wrong = {
        "name": "TypeError",
        "message": "Invalid Durable Object ID. The ID does not match this Durable Object class.",
    }
    assert body["otherClass"] == wrong
    assert body["upper"] is True  # either case (Miniflare 2 compared the suffix before lowercasing)
    not_for_class = {"name": "TypeError", "message": "ID is not for this Durable Object class."}
    assert body["otherNamespaceGet"] == not_for_class
    assert body["notAnId"] == not_for_class


def test_id_from_string_lowercases_in_js(mf):
    hex_id = mf.get_durable_object_namespace("TEST").id_from_name("x").hex
    assert get(mf, "/upper") == hex_id


def test_namespace_validation_messages_in_python(mf):
    ns = mf.get_durable_object_namespace("TEST")
    with pytest.raises(TypeError, match='^newUniqueId called with an unsupported jurisdiction: "mars"$'):
        ns.new_unique_id(jurisdiction="mars")
    with pytest.raises(TypeError, match=r"^Invalid Durable Object ID\. Durable Object IDs must be 64 hex digits\.$"):
        ns.id_from_string("xyz")
    other = mf.get_durable_object_namespace("OTHER").id_from_name("x")
    with pytest.raises(
        TypeError, match=r"^Invalid Durable Object ID\. The ID does not match this Durable Object class\.$"
    ):
        ns.id_from_string(other.hex)
    with pytest.raises(TypeError, match=r"^ID is not for this Durable Object class\.$"):
        ns.get(other)
    upper = ns.id_from_name("x").hex
    assert ns.id_from_string(upper[:40].upper() + upper[40:]).hex == upper
    assert ns.id_from_string(upper.upper()).hex == upper


def test_stub_fetch_resolves_relative_url_and_exposes_id(mf):
    response = mf.dispatch_fetch("http://localhost/fetch?name=n1")
    hex_id = mf.get_durable_object_namespace("TEST").id_from_name("n1").hex
    assert json.loads(response.text())["id"] == hex_id
    assert response.headers["x-stub-id"] == hex_id
    assert response.headers["x-stub-name"] == "n1"


def test_get_by_name_in_js_and_python(mf):
    response = mf.dispatch_fetch("http://localhost/fetch?byName=n2")
    ns = mf.get_durable_object_namespace("TEST")
    assert response.headers["x-stub-name"] == "n2"
    assert json.loads(response.text())["id"] == ns.id_from_name("n2").hex
    stub = ns.get_by_name("n2")
    assert stub.name == "n2" and stub.id == ns.id_from_name("n2")
    assert json.loads(stub.fetch("/anything").text())["id"] == ns.id_from_name("n2").hex


def test_unique_id_objects_are_reachable(mf):
    response = mf.dispatch_fetch("http://localhost/fetch?unique=1")
    assert json.loads(response.text())["id"] == response.headers["x-stub-id"]
    assert response.headers["x-stub-name"] == "undefined"


def test_state_id_has_no_name_and_object_gets_env(mf):
    body = json.loads(mf.get_durable_object_namespace("TEST").get_by_name("n3").fetch("/").text())
    assert body["hasName"] is False
    assert body["envKeys"] == ["OTHER", "TEST", "VECTOR"]


def test_one_live_instance_per_id_constructed_lazily(mf):
    ns = mf.get_durable_object_namespace("TEST")
    stub = ns.get(ns.id_from_name("lazy"))
    storage = mf.get_durable_object_storage(ns.id_from_name("lazy"))
    storage.put("k", 1)
    assert storage.get("k") == 1
    first = json.loads(stub.fetch("/").text())["constructed"]
    assert first == 1  # neither ns.get nor the storage handle constructed it
    for _ in range(3):
        assert json.loads(stub.fetch("/").text())["constructed"] == 1
        mf.dispatch_fetch("http://localhost/fetch?name=lazy")
    assert json.loads(ns.get_by_name("lazy").fetch("/").text())["constructed"] == 1
    assert json.loads(ns.get_by_name("other").fetch("/").text())["constructed"] == 2


def test_missing_class_is_a_config_error():
    with pytest.raises(ConfigError, match='^Class "Nope" for Durable Object "B" not found$') as info:
        Miniflare(
            script="export default { fetch() { return new Response('') } }", modules=True, durable_objects={"B": "Nope"}
        )
    assert info.value.option == "durable_objects"


def test_object_spec_with_class_name_mapping():
    script = "export class C { fetch() { return new Response('c') } }\nexport default { fetch() { return new Response('') } }"  # noqa: E501
    with Miniflare(script=script, modules=True, durable_objects={"B": {"class_name": "C"}}) as mf:
        assert mf.get_durable_object_namespace("B").get_by_name("x").fetch("/").text() == "c"


def test_python_ids_are_tied_to_their_binding(mf):
    object_id = mf.get_durable_object_namespace("TEST").id_from_name("a")
    assert isinstance(object_id, DurableObjectId) and object_id.binding == "TEST"
    with pytest.raises(ConfigError):
        mf.get_durable_object_namespace("MISSING")


def test_memory_storage_survives_set_options_but_not_a_new_instance():
    options = dict(script=WORKER, modules=True, durable_objects={"TEST": "Test", "OTHER": "Other", "VECTOR": "Other"})
    with Miniflare(**options) as mf:
        ns = mf.get_durable_object_namespace("TEST")
        object_id = ns.id_from_name("kept")
        mf.get_durable_object_storage(object_id).put("k", "v")
        assert json.loads(ns.get(object_id).fetch("/").text())["constructed"] == 1
        mf.set_options(**options)
        assert mf.get_durable_object_storage(object_id).get("k") == "v"
        # re-constructed after the reload (fresh isolate: the counter starts again)
        assert json.loads(mf.get_durable_object_namespace("TEST").get(object_id).fetch("/").text())["constructed"] == 1
    with Miniflare(**options) as fresh:
        assert fresh.get_durable_object_storage(object_id).get("k") is None


def test_id_from_name_of_a_megabyte_name_is_hashed_by_the_host():
    from mfbook.ids import id_from_name

    script = r"""export class C {}
export default { fetch(request, env) {
  const long = "x".repeat(1 << 20) + "\u00e9\ud83d\ude00\ud800";
  return new Response(JSON.stringify([env.C.idFromName(long).toString(), env.C.idFromName("y".repeat(2048)).toString()]));
} };"""
    # Hashing a megabyte in interpreted JS took seconds: more than this CPU limit.
    with Miniflare(script=script, modules=True, durable_objects={"C": "C"}, cpu_limit_ms=1000, console=None) as mf:
        response = mf.dispatch_fetch("http://x/")
        assert response.status == 200, response.text()
        long_id, short_id = json.loads(response.text())
    assert long_id == id_from_name("C", "x" * (1 << 20) + "\u00e9\U0001f600\ud800").hex  # lone surrogate: U+FFFD
    assert short_id == id_from_name("C", "y" * 2048).hex
