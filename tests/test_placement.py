"""One object, one process, across processes sharing Redis (mfbook/placement, issue 20).

The other processes run ``tests/placement_worker.py``; each prints JSON lines and waits for
``<prefix>exit`` in Redis before it disposes, so an owner outlives those that forward to it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from mfbook import Miniflare, WorkerError
from mfbook.placement import LeaseTable

sys.path.insert(0, str(Path(__file__).parent))
from placement_worker import make  # noqa: E402
from redis_server import connect  # noqa: E402

WORKER = Path(__file__).parent / "placement_worker.py"


class Processes:
    """The worker processes of one test, all stopped at its end."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url, self.prefix = url, prefix
        self.client = connect(url)
        self.started: list[subprocess.Popen[str]] = []

    def start(self, role: str, *args: object) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, str(WORKER), self.url, self.prefix, role, *map(str, args)],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.started.append(process)
        return process

    @staticmethod
    def line(process: subprocess.Popen[str]) -> dict[str, Any]:
        stream: IO[str] | None = process.stdout
        assert stream is not None
        text = stream.readline()
        assert text, f"process {process.pid} ended early (exit code {process.poll()})"
        return dict(json.loads(text))

    def wait_counter(self, key: str, value: int, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while int(self.client.get(self.prefix + key) or 0) < value:
            assert time.monotonic() < deadline, f"{key} never reached {value}"
            time.sleep(0.02)

    def finish(self) -> None:
        self.client.set(self.prefix + "exit", 1)
        for process in self.started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        self.client.close()


@pytest.fixture
def processes(redis_url: str, redis_prefix: str) -> Iterator[Processes]:
    group = Processes(redis_url, redis_prefix)
    try:
        yield group
    finally:
        group.finish()


@pytest.fixture
def here(redis_url: str, redis_prefix: str) -> Iterator[Miniflare]:
    with make(redis_url, redis_prefix) as mf:
        yield mf


def counter(mf: Miniflare) -> Any:
    namespace = mf.get_durable_object_namespace("COUNTER")
    return namespace.get(namespace.id_from_name("x"))


def stored(mf: Miniflare, key: str) -> Any:
    namespace = mf.get_durable_object_namespace("COUNTER")
    return mf.get_durable_object_storage(namespace.id_from_name("x")).get(key)


@pytest.mark.parametrize("count", [2, 4])
def test_processes_hammering_one_object_share_one_instance(processes: Processes, here: Miniflare, count: int) -> None:
    per_process = 100
    for _ in range(count):
        processes.start("hammer", per_process, count)
    processes.wait_counter("done", count)
    # The in-memory field counts every request: they all ran in one instance (forwarded to it).
    assert counter(here).call("hitsNow") == count * per_process
    assert stored(here, "n") == count * per_process


def test_a_request_is_forwarded_to_the_owner_and_traced(processes: Processes, here: Miniflare) -> None:
    owner = processes.line(processes.start("owner"))
    assert owner["first"] == {"hits": 1, "n": 1}
    here.trace.clear()
    assert here.dispatch_fetch("http://x/").json() == {"hits": 2, "n": 2}  # the owner's instance
    forwards = [event for event in here.trace.events() if event.kind == "request.forward"]
    assert [event.data["owner"] for event in forwards] == [owner["owner"]]
    placement = here._runtime.placement
    assert placement is not None
    assert placement.owner("COUNTER", counter(here).id.hex) == owner["owner"]


def test_the_owner_killed_is_taken_over_after_its_lease(processes: Processes, here: Miniflare) -> None:
    owner = processes.start("owner")
    assert processes.line(owner)["first"] == {"hits": 1, "n": 1}
    assert here.dispatch_fetch("http://x/").json() == {"hits": 2, "n": 2}
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    # Served here from the committed storage once the lease expired: a new instance.
    assert here.dispatch_fetch("http://x/").json() == {"hits": 1, "n": 3}
    placement = here._runtime.placement
    assert placement is not None and placement.owner("COUNTER", counter(here).id.hex) == placement.owner_id


def test_a_request_in_flight_when_the_owner_dies_fails_clearly(processes: Processes, here: Miniflare) -> None:
    owner = processes.start("owner")
    processes.line(owner)

    def kill_soon() -> None:
        time.sleep(0.5)
        owner.send_signal(signal.SIGKILL)

    killer = threading.Thread(target=kill_soon)
    killer.start()
    response = here.dispatch_fetch("http://x/slow?who=B&ms=5000")
    killer.join()
    assert response.status == 500
    assert "stopped answering while it handled this forwarded request" in response.text()
    assert "not sent again" in response.text()
    with pytest.raises(WorkerError, match="stopped answering"):  # the same through a Python stub
        killed = processes.start("owner")
        processes.line(killed)
        killer = threading.Thread(target=lambda: (time.sleep(0.5), killed.send_signal(signal.SIGKILL)))
        killer.start()
        try:
            counter(here).fetch("http://x/slow?who=B&ms=5000")
        finally:
            killer.join()
    assert stored(here, "who") is None  # it did not run a second time, here


def test_a_paused_owner_that_comes_back_is_fenced(processes: Processes, here: Miniflare) -> None:
    paused = processes.start("slow", 1500)
    assert processes.line(paused)["first"] == {"hits": 1, "n": 1}
    assert processes.line(paused) == {"started": True}
    paused.send_signal(signal.SIGSTOP)
    try:
        time.sleep(1.3)  # its 1 s lease runs out while it is stopped
        assert here.dispatch_fetch("http://x/put?who=B").text() == "put"  # taken over here
    finally:
        paused.send_signal(signal.SIGCONT)
    outcome = processes.line(paused)["slow"]
    assert "no longer owns it" in outcome
    assert stored(here, "who") == "B"


def test_alarms_fire_once_across_processes(processes: Processes, here: Miniflare) -> None:
    count = 3
    started = [processes.start("alarm") for _ in range(count)]
    processes.wait_counter("ready", count)
    at = int(time.time() * 1000) + 3000
    processes.client.set(processes.prefix + "at", at)
    for process in started:  # every process sets the same alarm through the Python API
        assert processes.line(process) == {"alarm": at}
    assert time.time() * 1000 < at, "the machine was too slow for this test's timing"
    deadline = time.monotonic() + 15
    while stored(here, "fired") is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)  # a second firing, if any, would come now
    assert stored(here, "fired") == 1


def test_leases_are_taken_renewed_released_and_taken_over(redis_url: str, redis_prefix: str) -> None:
    client = connect(redis_url)
    try:
        table = LeaseTable(client, redis_prefix, lease_ms=200)
        first = table.acquire("B", "ab" * 32, "one")
        assert first.ours and first.owner == "one"
        second = table.acquire("B", "ab" * 32, "two")
        assert not second.ours and second.owner == "one" and 0 < second.ttl_ms <= 200
        assert table.renew("B", "ab" * 32, first.value)
        time.sleep(0.3)
        assert not table.renew("B", "ab" * 32, first.value)  # expired
        taken = table.acquire("B", "ab" * 32, "two")
        assert taken.ours and taken.value != first.value
        assert not table.release("B", "ab" * 32, first.value)  # not ours any more
        assert table.release("B", "ab" * 32, taken.value)
        assert table.holder("B", "ab" * 32) is None
    finally:
        client.close()


def test_dispose_releases_the_leases(redis_url: str, redis_prefix: str) -> None:
    with make(redis_url, redis_prefix, lease_ms=60_000) as first:
        assert first.dispatch_fetch("http://x/").json() == {"hits": 1, "n": 1}
    with make(redis_url, redis_prefix, lease_ms=60_000) as second:
        # Not forwarded to the disposed process, not waiting a minute for its lease.
        assert second.dispatch_fetch("http://x/").json() == {"hits": 1, "n": 2}


def test_redis_lease_ms_is_validated(redis_url: str) -> None:
    from mfbook import ConfigError

    with pytest.raises(ConfigError, match="redis_lease_ms"):
        Miniflare(script="export default {}", modules=True, durable_objects_persist=redis_url, redis_lease_ms=5)


def test_two_emulators_in_one_process_share_the_owner_and_show_it(redis_url: str, redis_prefix: str) -> None:
    from mfbook.render import IdList
    from mfbook.widgets.timeline_model import TimelineModel

    with make(redis_url, redis_prefix) as owner, make(redis_url, redis_prefix) as other:
        assert owner.dispatch_fetch("http://x/").json() == {"hits": 1, "n": 1}
        assert other.dispatch_fetch("http://x/").json() == {"hits": 2, "n": 2}  # forwarded
        assert counter(other).call("hit") == {"hits": 3, "n": 3}
        served = [event for event in owner.trace.events(kind="request.start") if event.data.get("forwarded_from")]
        assert [event.data["forwarded_from"] for event in served] == [other.owner_id, other.owner_id]
        assert served[1].data["method"] == "hit"
        namespace = other.get_durable_object_namespace("COUNTER")
        hex_id = namespace.id_from_name("x").hex
        assert namespace.object_owners() == {hex_id: owner.owner_id}
        table = IdList([hex_id], owners={hex_id: str(owner.owner_id)}).table()
        assert table.columns == ("id", "name", "owner")
        model = TimelineModel()
        model.feed(owner.trace.events())
        labels = {label for _, label in model._requests.values()}
        assert f"rpc hit #{served[1].request_id} ⇐ {other.owner_id}" in labels


def test_without_ownership_objects_run_where_they_are_asked(redis_url: str, redis_prefix: str) -> None:
    options: dict[str, Any] = {"redis_lease_ms": None}
    with make(redis_url, redis_prefix, **options) as first, make(redis_url, redis_prefix, **options) as second:
        assert first.dispatch_fetch("http://x/").json() == {"hits": 1, "n": 1}
        assert second.dispatch_fetch("http://x/").json() == {"hits": 1, "n": 2}  # an instance of its own
        assert first.owner_id is None
        assert first.get_durable_object_namespace("COUNTER").object_owners() == {}
