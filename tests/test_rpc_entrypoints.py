# ruff: noqa: E501 - long lines are JavaScript source inside strings
"""RPC stubs through service bindings: `WorkerEntrypoint` classes and named entrypoints."""

from __future__ import annotations

from typing import Any

from mfbook import Miniflare

API = """
import { WorkerEntrypoint, RpcTarget } from "cloudflare:workers";

class Session extends RpcTarget {
  constructor(user) { super(); this.user = user; this.calls = 0; }
  whoami() { this.calls++; return this.user + "#" + this.calls; }
  get tools() { return { shout: (text) => text.toUpperCase() + "!" }; }
}

export class Admin extends WorkerEntrypoint {
  login(user) { return new Session(user); }
  adder(base) { return (x) => base + x; }
  get version() { return "v2"; }
  fail() { throw new TypeError("admin says no"); }
}

export default class extends WorkerEntrypoint {
  login(user) { return new Session("default:" + user); }
  async fetch() { return new Response("default"); }
}
"""


def _run(body: str, bindings: dict[str, Any]) -> Any:
    main = "export default { async fetch(request, env) { const out = await (async () => { " + body + " })(); return Response.json(out); } };"
    with Miniflare(
        workers=[
            {"name": "main", "script": main, "modules": True, "service_bindings": bindings},
            {"name": "api", "script": API, "modules": True},
        ]
    ) as mf:
        response = mf.dispatch_fetch("http://x/")
        assert response.status == 200, response.text()
        return response.json()


ADMIN = {"ADMIN": {"name": "api", "entrypoint": "Admin"}}


def test_a_named_entrypoint_returns_rpc_target_stubs() -> None:
    assert _run("const session = await env.ADMIN.login('ada'); return [await session.whoami(), await session.whoami()];", ADMIN) == ["ada#1", "ada#2"]


def test_the_default_entrypoint_returns_rpc_target_stubs() -> None:
    assert _run("const session = await env.API.login('bob'); return await session.whoami();", {"API": "api"}) == "default:bob#1"


def test_calls_on_entrypoint_results_are_pipelined() -> None:
    assert _run("return [await env.ADMIN.login('ada').whoami(), await env.ADMIN.login('eve').tools.shout('hi')];", ADMIN) == ["ada#1", "HI!"]


def test_a_function_returned_by_an_entrypoint_is_callable() -> None:
    assert _run("const add = await env.ADMIN.adder(40); return await add(2);", ADMIN) == 42


def test_entrypoint_properties_read_through_the_binding() -> None:
    assert _run("return await env.ADMIN.version;", ADMIN) == "v2"


def test_entrypoint_errors_are_remote_with_their_class() -> None:
    assert _run("try { await env.ADMIN.fail(); } catch (e) { return [e.name, e.message, e.remote, e instanceof TypeError]; }", ADMIN) == [
        "TypeError",
        "admin says no",
        True,
        True,
    ]


def test_a_disposed_entrypoint_stub_rejects() -> None:
    assert _run(
        "const session = await env.ADMIN.login('ada'); session[Symbol.dispose]();"
        "try { await session.whoami(); } catch (e) { return e.message; }",
        ADMIN,
    ) == "RPC stub used after being disposed."
