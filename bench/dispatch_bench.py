"""Micro-benchmark of the request path: ``dispatch_fetch`` requests/s for a trivial handler (not asserted).

Prints, each measured in this run on this machine:

- ``quickjs call``: a bare QuickJS round trip from Python (``ctx.eval`` of a tiny function call,
  no emulator) — the floor for anything that crosses into JS;
- ``lock ping-pong``: two plain Python threads handing a lock back and forth — the floor for
  any call that crosses to another thread and back on this machine (on a 2-vCPU VM, waking
  the other vCPU dominates), and the same with both threads held on one CPU (for reference);
- ``engine lock``: ``EmulatorLoop.holding`` entered and left — what a blocking API call pays
  now that its JavaScript runs on the caller's thread;
- ``thread hop``: ``EmulatorLoop.post_and_wait`` of a function that answers at once — what a
  call from a thread with a too-small stack pays to hand its work to the engine thread — and
  ``EmulatorLoop.run`` of an empty coroutine (the path of the less frequent blocking calls);
- ``dispatch_fetch`` for a module worker and a service-worker script, and
  ``dispatch_fetch_async`` with 32 concurrent requests from a foreign ``asyncio.run`` loop;

and how many times longer each takes than the bare QuickJS call.

Usage: ``python bench/dispatch_bench.py [--seconds 1.0]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from collections.abc import Callable

import quickjs

from mfbook import Miniflare
from mfbook.loop import EmulatorLoop

MODULE_WORKER = 'export default { fetch: () => new Response("ok") }'
SERVICE_WORKER = 'addEventListener("fetch", (event) => event.respondWith(new Response("ok")))'


def rate(operation: Callable[[], object], seconds: float, batch: int = 20) -> float:
    """Returns how many times per second ``operation()`` runs (after a short warm-up)."""
    for _ in range(batch):
        operation()
    count = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(batch):
            operation()
        count += batch
    return count / elapsed


def bare_quickjs(seconds: float) -> float:
    context = quickjs.Context()
    function = context.eval("(function (x) { return x + 1; })")
    return rate(lambda: function(1), seconds, batch=200)


def lock_ping_pong(seconds: float, *, one_cpu: bool = False) -> float:
    ping, pong = threading.Lock(), threading.Lock()
    ping.acquire()
    pong.acquire()
    stop = False

    def partner() -> None:
        while True:
            ping.acquire()
            if stop:
                return
            pong.release()

    thread = threading.Thread(target=partner, daemon=True)
    thread.start()
    mask = os.sched_getaffinity(0) if one_cpu else None
    if mask is not None and thread.native_id is not None:
        cpu = {min(mask)}
        os.sched_setaffinity(0, cpu)
        os.sched_setaffinity(thread.native_id, cpu)

    def round_trip() -> None:
        ping.release()
        pong.acquire()

    try:
        return rate(round_trip, seconds)
    finally:
        stop = True
        ping.release()
        thread.join()
        if mask is not None:
            os.sched_setaffinity(0, mask)


def engine_lock(seconds: float) -> float:
    loop = EmulatorLoop(name="bench-lock")

    def hold() -> None:
        with loop.holding():
            pass

    try:
        return rate(hold, seconds)
    finally:
        loop.close()


def thread_hop(seconds: float, *, coroutine: bool = False) -> float:
    loop = EmulatorLoop(name="bench-hop")

    async def nothing() -> None:
        return None

    def answer_at_once(answer: Callable[[None], None]) -> None:
        answer(None)

    try:
        if coroutine:
            return rate(lambda: loop.run(nothing()), seconds)
        return rate(lambda: loop.post_and_wait(answer_at_once), seconds)
    finally:
        loop.close()


def dispatch(script: str, modules: bool, seconds: float) -> float:
    with Miniflare(script=script, modules=modules, console=None) as mf:
        assert mf.dispatch_fetch("http://localhost/").text() == "ok"
        return rate(lambda: mf.dispatch_fetch("http://localhost/"), seconds)


def dispatch_concurrent(seconds: float, concurrency: int = 32) -> float:
    with Miniflare(script=MODULE_WORKER, modules=True, console=None) as mf:

        async def main() -> float:
            async def burst() -> None:
                await asyncio.gather(*(mf.dispatch_fetch_async("http://localhost/") for _ in range(concurrency)))

            await burst()
            count = 0
            start = time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds:
                await burst()
                count += concurrency
            return count / elapsed

        return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args()
    baseline = bare_quickjs(args.seconds)
    results = [
        ("quickjs call (baseline)", baseline),
        ("lock ping-pong between two threads", lock_ping_pong(args.seconds)),
        *(
            [("lock ping-pong, both threads on one CPU", lock_ping_pong(args.seconds, one_cpu=True))]
            if hasattr(os, "sched_setaffinity")
            else []
        ),
        ("engine lock (EmulatorLoop.holding)", engine_lock(args.seconds)),
        ("thread hop (EmulatorLoop.post_and_wait)", thread_hop(args.seconds)),
        ("thread hop (EmulatorLoop.run)", thread_hop(args.seconds, coroutine=True)),
        ("dispatch_fetch, module worker", dispatch(MODULE_WORKER, True, args.seconds)),
        ("dispatch_fetch, service worker", dispatch(SERVICE_WORKER, False, args.seconds)),
        ("dispatch_fetch_async x32 concurrent", dispatch_concurrent(args.seconds)),
    ]
    width = max(len(name) for name, _ in results)
    print(f"{'measurement':<{width}}  {'per second':>12}  {'µs each':>9}  {'time vs baseline':>16}")
    for name, per_second in results:
        print(f"{name:<{width}}  {per_second:>12,.0f}  {1e6 / per_second:>9.1f}  {baseline / per_second:>15.1f}x")


if __name__ == "__main__":
    main()
