"""Redis persistence through ``Miniflare``: two processes, lost connections, URL options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer, free_port

from mfbook import MfbookError, Miniflare, StorageError
from mfbook.backends import BackendUnavailable

ROOT = Path(__file__).resolve().parents[1]

INCREMENTER = r"""
import json, os, sys, time
from mfbook import Miniflare

source, url, prefix, count, barrier = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
mf = Miniflare(script=open(source).read(), modules=True, durable_objects={"COUNTER": "Counter"},
               durable_objects_persist=url, redis_prefix=prefix, console=None)
mf.dispatch_fetch("http://localhost/get")  # warm up before the race
open(f"{barrier}.{os.getpid()}", "w").close()
deadline = time.monotonic() + 30
while len([name for name in os.listdir(os.path.dirname(barrier)) if name.startswith(os.path.basename(barrier) + ".")]) < 2:
    assert time.monotonic() < deadline, "the other process never arrived"
    time.sleep(0.001)
statuses, values = [], []
for _ in range(count):
    response = mf.dispatch_fetch("http://localhost/txn")
    statuses.append(response.status)
    values.append(response.text() if response.status == 200 else response.text()[:300])
commits = [event["attempt"] for event in mf.trace.records() if event["kind"] == "txn.commit"]
print(json.dumps({"statuses": statuses, "values": values, "max_attempt": max(commits, default=0),
                  "attempts": mf.dispatch_fetch("http://localhost/get").json()["txnAttempts"]}))
mf.dispose()
"""


def child_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


def test_two_processes_of_transactional_increments_end_exact(
    redis_url: str, redis_prefix: str, counter_worker: dict[str, Any], tmp_path: Path
) -> None:
    source = tmp_path / "worker.js"
    source.write_text(counter_worker["script"])
    barrier = str(tmp_path / "ready")
    arguments = [sys.executable, "-c", INCREMENTER, str(source), redis_url, redis_prefix, "100", barrier]
    children = [
        subprocess.Popen(arguments, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
        for _ in range(2)
    ]
    reports = []
    for child in children:
        with child:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err
            reports.append(json.loads(out))
    for report in reports:
        assert report["statuses"] == [200] * 100, [v for v in report["values"] if not v.isdigit()]
    values = sorted(int(value) for report in reports for value in report["values"])
    assert values == list(range(1, 201))  # every increment saw a distinct, serial count
    with Miniflare(**counter_worker, durable_objects_persist=redis_url, redis_prefix=redis_prefix) as mf:
        assert mf.dispatch_fetch("http://localhost/get").json()["count"] == 200


def test_redis_restart_fails_requests_clearly_then_recovers(
    redis_server_factory: Callable[..., RedisServer], counter_worker: dict[str, Any]
) -> None:
    server = redis_server_factory(persistent=True)
    with Miniflare(**counter_worker, durable_objects_persist=server.url) as mf:
        for _ in range(3):
            assert mf.dispatch_fetch("http://localhost/inc").status == 200
        server.stop()
        response = mf.dispatch_fetch("http://localhost/put?n=50")
        assert response.status == 500
        assert (
            f"Redis at 127.0.0.1:{server.port}" in response.text()
            or f"redis://127.0.0.1:{server.port}" in response.text()
        )
        assert "unavailable" in response.text()
        assert mf.dispatch_fetch("http://localhost/inc").status == 500
        storage = mf.get_durable_object_storage(mf.get_durable_object_namespace("COUNTER").id_from_name("default"))
        with pytest.raises(BackendUnavailable) as caught:
            storage.put("x", 1)
        assert isinstance(caught.value, StorageError) and isinstance(caught.value, MfbookError)
        server.start()  # same port, data kept by the append-only file
        assert mf.dispatch_fetch("http://localhost/list").text() == "1"  # nothing half-written
        assert mf.dispatch_fetch("http://localhost/inc").text() == "4"
        assert mf.dispatch_fetch("http://localhost/put?n=50").status == 200
        assert storage.get("x") is None
        storage.put("x", 1)
        assert storage.get("x") == 1


def test_unreachable_redis_at_start_is_an_mfbook_error_naming_it(counter_worker: dict[str, Any]) -> None:
    url = f"redis://:secret@127.0.0.1:{free_port()}/0"
    with pytest.raises(MfbookError) as caught:
        Miniflare(**counter_worker, durable_objects_persist=url)
    assert "127.0.0.1" in str(caught.value)
    assert "secret" not in str(caught.value)


@pytest.mark.redis_single_node  # a Redis Cluster has database 0 only
def test_redis_prefix_and_db_number_are_used(redis_url: str, redis_prefix: str, counter_worker: dict[str, Any]) -> None:
    import redis

    base = redis_url.rsplit("/", 1)[0]
    with Miniflare(
        **counter_worker,
        durable_objects_persist=f"{base}/3",
        redis_prefix=redis_prefix,
        redis_options={"socket_timeout": 5},
    ) as mf:
        assert mf.dispatch_fetch("http://localhost/inc").text() == "1"
    client = redis.Redis.from_url(f"{base}/3")
    try:
        keys = [key.decode() for key in client.scan_iter(match=f"{redis_prefix}*")]
        assert keys and all(key.startswith(redis_prefix) for key in keys)
        client.delete(*keys)
    finally:
        client.close()
    other = redis.Redis.from_url(f"{base}/0")
    try:
        assert list(other.scan_iter(match=f"{redis_prefix}*")) == []
    finally:
        other.close()


def test_two_instances_in_one_process_see_each_others_commits(
    redis_url: str, redis_prefix: str, counter_worker: dict[str, Any]
) -> None:
    options = dict(counter_worker, durable_objects_persist=redis_url, redis_prefix=redis_prefix)
    with Miniflare(**options) as first, Miniflare(**options) as second:
        for expected in range(1, 21):
            mf = first if expected % 2 else second
            assert mf.dispatch_fetch("http://localhost/txn").text() == str(expected)


def test_a_transaction_that_cannot_begin_leaves_the_object_usable(
    redis_server_factory: Callable[..., RedisServer], counter_worker: dict[str, Any]
) -> None:
    server = redis_server_factory(persistent=True)
    with Miniflare(**counter_worker, durable_objects_persist=server.url) as mf:
        assert mf.dispatch_fetch("http://localhost/txn").text() == "1"
        server.stop()
        response = mf.dispatch_fetch("http://localhost/txn")  # begin fails: Redis is down
        assert response.status == 500 and "unavailable" in response.text()
        server.start()
        stub = mf.get_durable_object_namespace("COUNTER").get_by_name("default")
        # The failed begin used to leave the object's input gate section open: this hung.
        assert run_with_deadline(lambda: stub.fetch("/txn").text()) == "2"
        assert mf.dispatch_fetch("http://localhost/inc").text() == "3"


def run_with_deadline(function: Callable[[], Any], seconds: float = 30) -> Any:
    """Runs ``function`` on a thread; fails the test instead of hanging it."""
    import concurrent.futures

    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        return pool.submit(function).result(seconds)
    except concurrent.futures.TimeoutError:
        pytest.fail(f"still waiting after {seconds} s")
    finally:
        pool.shutdown(wait=False)


FROZEN = """
export class C {
  constructor(state) { this.state = state; }
  async fetch(request) {
    if (new URL(request.url).pathname === "/store") { await this.state.storage.put("k", 1); return new Response("stored"); }
    return new Response("no storage");
  }
}
export default { fetch: (request, env) => env.C.get(env.C.idFromName(new URL(request.url).searchParams.get("o"))).fetch(request) };
"""


def test_a_stalled_redis_fails_storage_after_the_timeout_and_spares_requests_without_storage(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    import signal

    server = redis_server_factory()
    with Miniflare(
        script=FROZEN,
        modules=True,
        durable_objects={"C": "C"},
        durable_objects_persist=server.url,
        redis_options={"socket_timeout": 3},
        redis_lease_ms=None,  # with ownership, a new object needs Redis to find its owner
        console=None,
    ) as mf:
        assert mf.dispatch_fetch("http://x/store?o=a").text() == "stored"
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            # A new object that never touches storage asks nothing of Redis (else: 2 x 3 s).
            assert run_with_deadline(lambda: mf.dispatch_fetch("http://x/?o=fresh").text(), 2.5) == "no storage"
            response = run_with_deadline(lambda: mf.dispatch_fetch("http://x/store?o=a"), 30)
            assert response.status == 500 and "is unavailable: Timeout reading" in response.text()
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        assert mf.dispatch_fetch("http://x/store?o=a").text() == "stored"
