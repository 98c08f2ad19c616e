// A counter worker: the README's examples, the pytest example suite and the Binder session use it.
//
//   GET /inc?name=a        adds one to the counter "a" (a get and a put: the input gate keeps
//                          concurrent requests from losing updates)
//   GET /txn?name=a        the same inside storage.transaction()
//   GET /get?name=a        {"count": n, "hits": n} (hits: requests this instance served)
//   GET /remind?name=a&in=1000   sets an alarm; alarm() counts the reminders it delivered
//
// RPC (from another worker, or `stub.call("increment", 2)` in Python): increment(by), count().
import { DurableObject } from "cloudflare:workers";

export class Counter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.hits = 0; // instance state: starts over when the object is re-constructed
  }

  async increment(by = 1) {
    const next = ((await this.ctx.storage.get("count")) ?? 0) + by;
    await this.ctx.storage.put("count", next);
    return next;
  }

  async count() {
    return (await this.ctx.storage.get("count")) ?? 0;
  }

  async fetch(request) {
    this.hits++;
    const url = new URL(request.url);
    const storage = this.ctx.storage;
    switch (url.pathname) {
      case "/inc":
        return new Response(String(await this.increment()));
      case "/txn": {
        const next = await storage.transaction(async (txn) => {
          const value = ((await txn.get("count")) ?? 0) + 1;
          await txn.put("count", value);
          return value;
        });
        return new Response(String(next));
      }
      case "/get":
        return Response.json({ count: await this.count(), hits: this.hits });
      case "/remind": {
        const delay = Number(url.searchParams.get("in") ?? "1000");
        await storage.setAlarm(Date.now() + delay);
        return new Response("alarm set");
      }
    }
    return new Response("not found", { status: 404 });
  }

  async alarm() {
    const delivered = ((await this.ctx.storage.get("reminders")) ?? 0) + 1;
    await this.ctx.storage.put("reminders", delivered);
  }
}

export default {
  async fetch(request, env) {
    const name = new URL(request.url).searchParams.get("name") ?? "default";
    return env.COUNTER.getByName(name).fetch(request);
  },
};
