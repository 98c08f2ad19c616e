"""A process of the ownership tests (tests/test_placement.py): one Miniflare sharing Redis.

Usage: python placement_worker.py URL PREFIX ROLE [ARGS...]

Prints one JSON line per milestone; waits for ``PREFIX + "exit"`` in Redis before disposing
(so that the object's owner outlives every process that forwards to it).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from mfbook import Miniflare, WorkerError

sys.path.insert(0, str(Path(__file__).parent))
from redis_server import connect  # noqa: E402

SCRIPT = """
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  constructor(ctx, env) { super(ctx, env); this.hits = 0; }
  async bump() {
    this.hits++;
    const n = ((await this.ctx.storage.get("n")) ?? 0) + 1;
    await this.ctx.storage.put("n", n);
    return { hits: this.hits, n };
  }
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/slow") {
      await new Promise((resolve) => setTimeout(resolve, Number(url.searchParams.get("ms"))));
      await this.ctx.storage.put("who", url.searchParams.get("who"));
      return new Response("slow done");
    }
    if (url.pathname === "/put") {
      await this.ctx.storage.put("who", url.searchParams.get("who"));
      return new Response("put");
    }
    return Response.json(await this.bump());
  }
  hit() { return this.bump(); }
  hitsNow() { return this.hits; }
  async alarm() {
    await this.ctx.storage.transaction(async (txn) => {
      await txn.put("fired", ((await txn.get("fired")) ?? 0) + 1);
    });
  }
}
export default {
  fetch(request, env) { return env.COUNTER.getByName("x").fetch(request); }
}
"""


def make(url: str, prefix: str, lease_ms: int = 1000, **options: Any) -> Miniflare:
    options.setdefault("redis_lease_ms", lease_ms)
    return Miniflare(
        script=SCRIPT,
        modules=True,
        durable_objects={"COUNTER": "Counter"},
        durable_objects_persist=url,
        redis_prefix=prefix,
        console=None,
        **options,
    )


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def wait_for(client: Any, key: str, value: int) -> None:
    while int(client.get(key) or 0) < value:
        time.sleep(0.01)


def main() -> None:
    url, prefix, role = sys.argv[1], sys.argv[2], sys.argv[3]
    client = connect(url)
    mf = make(url, prefix)
    namespace = mf.get_durable_object_namespace("COUNTER")
    object_id = namespace.id_from_name("x")
    stub = namespace.get(object_id)
    if role == "hammer":
        count, processes = int(sys.argv[4]), int(sys.argv[5])
        client.incr(prefix + "ready")
        wait_for(client, prefix + "ready", processes)
        for index in range(count):
            if index % 2:
                stub.call("hit")
            else:
                mf.dispatch_fetch("http://x/").json()
        client.incr(prefix + "done")
        say(done=count)
    elif role == "owner":
        say(first=mf.dispatch_fetch("http://x/").json(), owner=mf._runtime.placement.owner_id)
    elif role == "slow":  # owns the object, then writes after a delay (SIGSTOP it meanwhile)
        say(first=mf.dispatch_fetch("http://x/").json())
        outcome: dict[str, str] = {}

        def slow() -> None:
            try:
                outcome["text"] = mf.dispatch_fetch(f"http://x/slow?who=A&ms={sys.argv[4]}").text()
            except WorkerError as error:
                outcome["text"] = str(error)

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.2)
        say(started=True)
        thread.join()
        say(slow=outcome["text"])
    elif role == "alarm":
        mf.dispatch_fetch("http://x/")
        client.incr(prefix + "ready")
        wait_for(client, prefix + "at", 1)
        at = int(client.get(prefix + "at") or 0)
        mf.get_durable_object_storage(object_id).set_alarm(at)
        say(alarm=at)
    while not client.get(prefix + "exit"):
        time.sleep(0.02)
    mf.dispose()
    say(disposed=True)


if __name__ == "__main__":
    main()
