"""A stalled Redis stalls only the requests that need it (mfbook/backend_waits.py, issue 18 item 11).

Each test freezes its own ``redis-server`` with SIGSTOP. "Not delayed" is shown by order, not by
time: the request that touches no storage answers while the one that waits on Redis is still
waiting (with a 60 s socket timeout it cannot have failed yet).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from redis_server import RedisServer

from mfbook import Miniflare, WorkerError

SCRIPT = """
export class Counter {
  constructor(state) { this.state = state; this.hits = 0; }
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/memory") return new Response(String(++this.hits));
    const count = ((await this.state.storage.get("count")) ?? 0) + 1;
    await this.state.storage.put("count", count);
    return new Response(String(count));
  }
}
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/plain") return new Response("plain");
    const name = url.searchParams.get("object") ?? "a";
    return env.COUNTER.get(env.COUNTER.idFromName(name)).fetch(request);
  }
}
"""


@contextmanager
def frozen(server: RedisServer) -> Iterator[None]:
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


def in_thread(function: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:  # noqa: BLE001 - the test inspects it
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def make(server: RedisServer, timeout: float) -> Miniflare:
    return Miniflare(
        script=SCRIPT,
        modules=True,
        durable_objects={"COUNTER": "Counter"},
        durable_objects_persist=server.url,
        redis_options={"socket_timeout": timeout},
    )


def wait_until_waiting(mf: Miniflare) -> None:
    """Blocks until some thread waits on Redis without the engine lock."""
    event = threading.Event()
    for _ in range(500):
        if mf._runtime.waits.active:
            return
        event.wait(0.01)
    raise AssertionError("no request ever waited on Redis")


def test_requests_without_storage_answer_while_redis_is_frozen(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    server = redis_server_factory()
    with make(server, 60) as mf:
        assert mf.dispatch_fetch("http://x/count?object=a").text() == "1"
        assert mf.dispatch_fetch("http://x/memory?object=b").text() == "1"
        with frozen(server):
            stuck, outcome = in_thread(lambda: mf.dispatch_fetch("http://x/count?object=a").text())
            wait_until_waiting(mf)
            assert mf.dispatch_fetch("http://x/plain").text() == "plain"
            assert mf.dispatch_fetch("http://x/memory?object=b").text() == "2"
            assert stuck.is_alive() and outcome == {}
        stuck.join(30)
        assert outcome == {"value": "2"}


def test_a_request_for_the_waiting_object_queues_behind_it(redis_server_factory: Callable[..., RedisServer]) -> None:
    server = redis_server_factory()
    with make(server, 60) as mf:
        assert mf.dispatch_fetch("http://x/count?object=a").text() == "1"
        with frozen(server):
            first, first_outcome = in_thread(lambda: mf.dispatch_fetch("http://x/count?object=a").text())
            wait_until_waiting(mf)
            second, second_outcome = in_thread(lambda: mf.dispatch_fetch("http://x/memory?object=a").text())
            assert mf.dispatch_fetch("http://x/plain").text() == "plain"
            second.join(0.3)
            assert second.is_alive() and second_outcome == {}  # set aside: its object is busy
        first.join(30)
        second.join(30)
        assert first_outcome == {"value": "2"}
        assert second_outcome == {"value": "1"}
        assert mf.dispatch_fetch("http://x/count?object=a").text() == "3"


def test_storage_requests_fail_after_the_socket_timeout(redis_server_factory: Callable[..., RedisServer]) -> None:
    server = redis_server_factory()
    with make(server, 0.3) as mf:
        assert mf.dispatch_fetch("http://x/count?object=a").text() == "1"
        with frozen(server):
            response = mf.dispatch_fetch("http://x/count?object=a")
            assert response.status == 500
            assert "is unavailable: Timeout reading from" in response.text()
            storage = mf.get_durable_object_storage(mf.get_durable_object_namespace("COUNTER").id_from_name("a"))
            with pytest.raises(Exception, match="is unavailable: Timeout") as caught:
                storage.get("count")
            assert not isinstance(caught.value, WorkerError)
        assert mf.dispatch_fetch("http://x/count?object=a").text() == "2"
