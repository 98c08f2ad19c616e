"""RPC from a worker into an object of its own isolate (the direct-call path), per call.

    PYTHONPATH=. python bench/rpc_bench.py [--calls 2000] [--runs 3]

Prints CPU µs per call (process time: the machine may be shared) for a method call on a
Durable Object stub (`stub.inc()`) and, where the runtime has RPC stubs, for a call on an
`RpcTarget` stub the object returned (`counter.inc()`).
"""

from __future__ import annotations

import argparse
import time

from mfbook import Miniflare

WORKER = """
import { DurableObject, RpcTarget } from "cloudflare:workers";
class Counter extends RpcTarget {
  constructor() { super(); this.n = 0; }
  inc() { return ++this.n; }
}
export class Obj extends DurableObject {
  constructor(ctx, env) { super(ctx, env); this.n = 0; this.counter = new Counter(); }
  inc() { return ++this.n; }
  getCounter() { return this.counter; }
}
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const calls = Number(url.searchParams.get("calls"));
    const stub = env.OBJ.getByName("bench");
    let target = stub;
    if (url.pathname === "/target") {
      target = await stub.getCounter();
      if (typeof target === "object") return new Response("no stubs");
    }
    for (let i = 0; i < calls; i++) await target.inc();
    return new Response("ok");
  },
};
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with Miniflare(script=WORKER, modules=True, durable_objects={"OBJ": "Obj"}, cpu_limit_ms=60_000) as mf:
        for path in ("/object", "/target"):
            mf.dispatch_fetch(f"http://x{path}?calls=200")  # warm up
            for _ in range(args.runs):
                started = time.process_time()
                text = mf.dispatch_fetch(f"http://x{path}?calls={args.calls}").text()
                elapsed = time.process_time() - started
                print(f"{path}: {elapsed / args.calls * 1e6:.1f} µs/call ({text})")


if __name__ == "__main__":
    main()
