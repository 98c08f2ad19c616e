"""Ownership benchmark (mfbook/placement): a forwarded request against a local one, and takeover.

Three measurements on one Redis server (``--redis URL``, else ``MFBOOK_TEST_REDIS_URL``, else a
``redis-server`` started on a free port), with the counter object of
``tests/placement_worker.py`` (a field and a stored count bumped per request):

1. ``local``: this process owns the object; N sequential ``dispatch_fetch`` calls.
2. ``forwarded``: another process owns it; N sequential calls from here (each one a pub/sub
   round trip to the owner and back), then the same with 8 threads at once (throughput).
3. ``takeover``: the owner is killed with SIGKILL; the time until a request here succeeds
   (the lease runs out, this process takes the object), for the lease times given.

Prints one JSON line per measurement.

    PYTHONPATH=.:tests python bench/placement_bench.py [--redis URL] [-n 500] [--lease 1000,3000]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from placement_worker import make  # noqa: E402
from redis_server import RedisServer, delete_prefix  # noqa: E402


def latency(mf: object, count: int) -> dict[str, float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        response = mf.dispatch_fetch("http://x/")  # type: ignore[attr-defined]
        times.append((time.perf_counter() - start) * 1000)
        assert response.status == 200, response.text()
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 3),
        "p90_ms": round(times[int(len(times) * 0.9)], 3),
        "rps": round(count / (sum(times) / 1000), 1),
    }


def throughput(mf: object, count: int, threads: int) -> float:
    def work() -> None:
        for _ in range(count // threads):
            assert mf.dispatch_fetch("http://x/").status == 200  # type: ignore[attr-defined]

    started = time.perf_counter()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return round((count // threads) * threads / (time.perf_counter() - started), 1)


def start_owner(url: str, prefix: str, lease_ms: int) -> subprocess.Popen[str]:
    code = (
        "import sys, time; sys.path[:0] = sys.argv[4:6]\n"
        "from placement_worker import make\n"
        "mf = make(sys.argv[1], sys.argv[2], int(sys.argv[3]))\n"
        "mf.dispatch_fetch('http://x/'); print('owner', flush=True)\n"
        "time.sleep(600)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, url, prefix, str(lease_ms), str(ROOT), str(ROOT / "tests")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "owner"
    return process


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis")
    parser.add_argument("-n", type=int, default=500)
    parser.add_argument("--lease", default="1000,3000")
    args = parser.parse_args()
    server = None
    url = args.redis or os.environ.get("MFBOOK_TEST_REDIS_URL")
    if not url:
        server = RedisServer(Path(tempfile.mkdtemp()))
        server.start()
        url = server.url
    try:
        prefix = f"bench-{uuid.uuid4().hex[:8]}:"
        with make(url, prefix, 3000) as mf:
            latency(mf, 50)
            print(json.dumps({"scenario": "local", "n": args.n, **latency(mf, args.n)}))
            print(json.dumps({"scenario": "local", "threads": 8, "rps": throughput(mf, args.n, 8)}))
        delete_prefix(url, prefix)

        prefix = f"bench-{uuid.uuid4().hex[:8]}:"
        owner = start_owner(url, prefix, 3000)
        try:
            with make(url, prefix, 3000) as mf:
                latency(mf, 50)
                print(json.dumps({"scenario": "forwarded", "n": args.n, **latency(mf, args.n)}))
                print(json.dumps({"scenario": "forwarded", "threads": 8, "rps": throughput(mf, args.n, 8)}))
        finally:
            owner.kill()
            owner.wait()
        delete_prefix(url, prefix)

        for lease_ms in (int(value) for value in args.lease.split(",")):
            prefix = f"bench-{uuid.uuid4().hex[:8]}:"
            owner = start_owner(url, prefix, lease_ms)
            with make(url, prefix, lease_ms) as mf:
                assert mf.dispatch_fetch("http://x/").status == 200  # forwarded: the owner runs it
                owner.send_signal(signal.SIGKILL)
                killed = time.perf_counter()
                owner.wait()
                response = mf.dispatch_fetch("http://x/")
                took = time.perf_counter() - killed
                assert response.status == 200 and mf.owner_id is not None
                hits = response.json()["hits"]
            print(json.dumps({"scenario": "takeover", "lease_ms": lease_ms, "seconds": round(took, 3), "hits": hits}))
            delete_prefix(url, prefix)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
