"""The README's demo: a worker and a Durable Object on the in-memory default.

Run with ``python -m mfbook.demo``.
"""

from __future__ import annotations

from .miniflare import Miniflare

WORKER = """
import { DurableObject } from "cloudflare:workers";

export class Counter extends DurableObject {
  async fetch(request) {
    const count = ((await this.ctx.storage.get("count")) ?? 0) + 1;
    await this.ctx.storage.put("count", count);
    return Response.json({ count, id: this.ctx.id.toString().slice(0, 12) });
  }
  async add(amount) {
    return await this.ctx.storage.transaction(async (txn) => {
      const next = ((await txn.get("count")) ?? 0) + amount;
      await txn.put("count", next);
      return next;
    });
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const name = url.searchParams.get("name") ?? "demo";
    console.log(`worker: ${request.method} ${url.pathname} for object ${JSON.stringify(name)}`);
    return env.COUNTER.getByName(name).fetch(request);
  },
};
"""


def main() -> None:
    with Miniflare(script=WORKER, modules=True, durable_objects={"COUNTER": "Counter"}) as mf:
        for _ in range(3):
            response = mf.dispatch_fetch("http://localhost/hit?name=alice")
            print("dispatch_fetch ->", response.status, response.json())
        counters = mf.get_durable_object_namespace("COUNTER")
        alice = counters.id_from_name("alice")
        print("RPC add(10) ->", counters.get(alice).call("add", 10))
        storage = mf.get_durable_object_storage(alice)
        print("storage from Python ->", storage.list())
        storage.put("count", 100)
        print("after a Python put ->", mf.dispatch_fetch("http://localhost/?name=alice").json())
        commits = [event for event in mf.trace if event.kind in ("storage.commit", "txn.commit")]
        print(f"trace: {len(mf.trace)} events, {len(commits)} commits")


if __name__ == "__main__":
    main()
