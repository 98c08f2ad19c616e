"""Storage through the synchronous host entry keeps program order and the host's idea of who asks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mfbook import Miniflare

SCRIPT = """
import { DurableObject } from "cloudflare:workers";
export class Box extends DurableObject {
  async mixed() {
    const storage = this.ctx.storage;
    storage.put("k", 1);
    const early = storage.get("k", { allowConcurrency: true });  // through the outbox
    storage.put("k", 2);
    const late = await storage.get("k");  // must not overtake the queued put of 1
    return { early: await early, late, after: await storage.get("k") };
  }
  async stored() { return await this.ctx.storage.get("k"); }
  async sameTurn() {
    const order = [];
    const read = this.ctx.storage.get("missing").then(() => order.push("read"));
    await null; await null;
    order.push("two turns later");
    await read;
    return order;
  }
  async forge(key) {
    const storage = this.ctx.storage;
    Object.defineProperty(storage, "_actor", { value: { key, cache: null, direct: 0, ops: 0 } });
    return await storage.get("secret");
  }
}
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const stub = env.BOX.getByName(url.searchParams.get("name") ?? "a");
    const method = url.pathname.slice(1);
    return Response.json(await stub[method](url.searchParams.get("arg")));
  },
};
"""

OTHER = """
import { DurableObject } from "cloudflare:workers";
export class Vault extends DurableObject { async fetch() { return new Response("vault"); } }
export default { fetch: () => new Response("vault") };
"""


@pytest.fixture
def mf() -> Iterator[Miniflare]:
    with Miniflare(
        workers=[
            {"name": "main", "script": SCRIPT, "modules": True, "durable_objects": {"BOX": "Box"}},
            {"name": "vault", "script": OTHER, "modules": True, "durable_objects": {"VAULT": "Vault"}},
        ],
        console=None,
    ) as instance:
        yield instance


def test_a_synchronous_read_never_overtakes_storage_work_queued_before_it(mf: Miniflare) -> None:
    result = mf.dispatch_fetch("http://localhost/mixed").json()
    assert result == {"early": 1, "late": 2, "after": 2}
    assert mf.dispatch_fetch("http://localhost/stored").json() == 2


def test_a_read_is_settled_in_the_same_turn(mf: Miniflare) -> None:
    assert mf.dispatch_fetch("http://localhost/sameTurn").json() == ["read", "two turns later"]


def test_an_object_of_another_worker_cannot_be_named(mf: Miniflare) -> None:
    vault = mf.get_durable_object_namespace("VAULT", worker_name="vault")
    vault_id = vault.id_from_name("v")
    mf.get_durable_object_storage(vault_id).put("secret", "gold")
    vault.get(vault_id).fetch("/")  # the victim object is alive in its worker
    response = mf.dispatch_fetch(f"http://localhost/forge?arg=VAULT:{vault_id.hex}")
    assert response.status == 500
    assert "gold" not in response.text()
    assert mf.get_durable_object_storage(vault_id).get("secret") == "gold"
    assert mf.dispatch_fetch("http://localhost/mixed?name=b").json()["late"] == 2  # the attacker still answers
