"""Alarms: scheduling, firing, retries with backoff, flush_alarms, disabling (after Miniflare 2's alarms.spec.ts)."""

from __future__ import annotations

import time

import pytest
from do_support import call, start

from mfbook import Miniflare

PRELUDE = "const runs = [];\nlet failures = 0;"
ROUTES = {
    "set": """
      const delay = Number(new URL(request.url).searchParams.get("delay") ?? "0");
      failures = Number(new URL(request.url).searchParams.get("failures") ?? "0");
      await storage.setAlarm(Date.now() + delay);
      return await storage.getAlarm() !== null;
    """,
    "runs": "return runs;",
    "get": "return await storage.getAlarm();",
}
ALARM = """
  runs.push(info);
  await this.ctx.storage.put("fired", ((await this.ctx.storage.get("fired")) ?? 0) + 1);
  if (failures > 0) { failures--; throw new Error("alarm failed"); }
"""


@pytest.fixture
def mf():
    with start(ROUTES, prelude=PRELUDE, alarm=ALARM) as instance:
        yield instance


def wait_for(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def storage_of(mf: Miniflare, name: str = "test"):
    return mf.get_durable_object_storage(mf.get_durable_object_namespace("TEST").id_from_name(name))


def test_set_alarm_without_handler_fails_with_miniflare_message():
    with start(
        {"set": "await storage.setAlarm(Date.now() + 1000); return 'set';", "get": "return await storage.getAlarm();"}
    ) as mf:
        assert call(mf, "set") == {
            "error": {
                "name": "Error",
                "message": "Your Durable Object class must have an alarm() handler in order to call setAlarm()",
            }
        }
        assert call(mf, "get") is None


def test_alarm_fires_on_time_and_is_cleared(mf):
    started = time.monotonic()
    assert call(mf, "set?delay=150") is True
    storage = storage_of(mf)
    assert wait_for(lambda: storage.get("fired") == 1)
    assert time.monotonic() - started >= 0.14
    assert call(mf, "runs") == [{"retryCount": 0, "isRetry": False}]
    assert call(mf, "get") is None
    kinds = [event.kind for event in mf.trace if event.kind.startswith("alarm.")]
    assert kinds == ["alarm.set", "alarm.fire"]


def test_alarm_in_the_past_fires_at_once(mf):
    call(mf, "set?delay=-1000")
    assert wait_for(lambda: storage_of(mf).get("fired") == 1, timeout=1.0)


def test_alarm_set_from_python_fires(mf):
    storage = storage_of(mf, "py")
    storage.set_alarm(int(time.time() * 1000) + 50)
    assert wait_for(lambda: storage.get("fired") == 1)
    assert storage.get_alarm() is None


def test_flush_alarms_runs_scheduled_alarms_now(mf):
    call(mf, "set?delay=3600000")
    call(mf, "set?delay=3600000", "other")
    mf.flush_alarms()
    assert storage_of(mf).get("fired") == 1
    assert storage_of(mf, "other").get("fired") == 1
    assert call(mf, "get") is None
    mf.flush_alarms()  # nothing left: no second run
    assert storage_of(mf).get("fired") == 1


def test_flush_alarms_for_some_ids(mf):
    call(mf, "set?delay=3600000", "a")
    call(mf, "set?delay=3600000", "b")
    mf.flush_alarms([mf.get_durable_object_namespace("TEST").id_from_name("a")])
    assert storage_of(mf, "a").get("fired") == 1
    assert storage_of(mf, "b").get("fired") is None
    assert call(mf, "get", "b") is not None


def test_throwing_alarm_is_retried_with_retry_count(mf):
    call(mf, "set?delay=3600000&failures=2")
    mf.flush_alarms()
    retries = mf.trace.events(kind="alarm.retry")
    assert [event.data["delay_s"] for event in retries] == [2.0]
    mf.flush_alarms()
    mf.flush_alarms()
    mf.flush_alarms()  # succeeded on the third run: nothing left
    assert call(mf, "runs") == [
        {"retryCount": 0, "isRetry": False},
        {"retryCount": 1, "isRetry": True},
        {"retryCount": 2, "isRetry": True},
    ]
    assert [event.data["delay_s"] for event in mf.trace.events(kind="alarm.retry")] == [2.0, 4.0]


def test_alarm_gives_up_after_six_retries(mf):
    call(mf, "set?delay=3600000&failures=100")
    for _ in range(10):
        mf.flush_alarms()
    runs = call(mf, "runs")
    assert [run["retryCount"] for run in runs] == [0, 1, 2, 3, 4, 5, 6]
    delays = [event.data["delay_s"] for event in mf.trace.events(kind="alarm.retry")]
    assert delays == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
    assert len(mf.trace.events(kind="alarm.giveup")) == 1


def test_retry_succeeds_after_one_failure(mf):
    call(mf, "set?delay=3600000&failures=1")
    mf.flush_alarms()
    assert len(call(mf, "runs")) == 1
    mf.flush_alarms()
    assert [run["retryCount"] for run in call(mf, "runs")] == [0, 1]


def test_alarms_disabled():
    with start(ROUTES, prelude=PRELUDE, alarm=ALARM, durable_objects_alarms=False) as mf:
        assert call(mf, "set?delay=0") is True
        time.sleep(0.2)
        assert storage_of(mf).get("fired") is None
        assert call(mf, "runs") == []
        assert call(mf, "get") is not None  # still stored, just not scheduled


def test_unrelated_write_does_not_cancel_a_pending_retry(mf):
    call(mf, "set?delay=3600000&failures=1")
    mf.flush_alarms()
    storage_of(mf).put("unrelated", 1)
    call(mf, "runs")  # and a request in between
    mf.flush_alarms()
    assert call(mf, "runs") == [{"retryCount": 0, "isRetry": False}, {"retryCount": 1, "isRetry": True}]


def test_new_alarm_replaces_a_pending_retry(mf):
    call(mf, "set?delay=3600000&failures=1")
    mf.flush_alarms()
    storage_of(mf).set_alarm(int(time.time() * 1000) + 3_600_000)
    mf.flush_alarms()
    mf.flush_alarms()
    assert call(mf, "runs") == [{"retryCount": 0, "isRetry": False}, {"retryCount": 0, "isRetry": False}]
    assert storage_of(mf).get_alarm() is None
