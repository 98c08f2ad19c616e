"""``request.cf`` on requests from Python and ``scheduler.wait`` (issue 15 item 5)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfbook import ConfigError, Miniflare
from mfbook.cf import DEFAULT_CF, load_cf_file

CF_ECHO = """
export default {
  async fetch(request, env) {
    if (new URL(request.url).pathname === "/object") {
      const stub = env.ECHO.get(env.ECHO.idFromName("a"));
      return stub.fetch(request);
    }
    return Response.json({ cf: request.cf ?? null });
  },
};
export class Echo {
  fetch(request) { return Response.json({ cf: request.cf ?? null }); }
}
"""


@pytest.fixture
def mf() -> Iterator[Miniflare]:
    with Miniflare(script=CF_ECHO, modules=True, durable_objects={"ECHO": "Echo"}, console=None) as instance:
        yield instance


def test_a_request_from_python_carries_the_documented_default_cf(mf: Miniflare) -> None:
    cf = mf.dispatch_fetch("http://localhost/").json()["cf"]
    assert cf == DEFAULT_CF
    assert (cf["colo"], cf["country"], cf["httpProtocol"]) == ("DFW", "US", "HTTP/1.1")


def test_cf_given_to_dispatch_fetch_replaces_the_default(mf: Miniflare) -> None:
    assert mf.dispatch_fetch("http://localhost/", cf={"country": "DE", "asn": 3320}).json()["cf"] == {
        "country": "DE",
        "asn": 3320,
    }


def test_the_async_twin_takes_cf_too(mf: Miniflare) -> None:
    response = asyncio.run(mf.dispatch_fetch_async("http://localhost/", cf={"colo": "LHR"}))
    assert response.json()["cf"] == {"colo": "LHR"}


def test_a_request_forwarded_to_an_object_keeps_its_cf(mf: Miniflare) -> None:
    assert mf.dispatch_fetch("http://localhost/object", cf={"city": "Lisbon"}).json()["cf"] == {"city": "Lisbon"}


def test_cf_that_is_not_a_json_object_is_a_type_error(mf: Miniflare) -> None:
    with pytest.raises(TypeError, match="cf must be a mapping"):
        mf.dispatch_fetch("http://localhost/", cf=["country", "DE"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cf must hold JSON values only"):
        mf.dispatch_fetch("http://localhost/", cf={"when": object()})


def test_a_cf_file_is_read_as_a_json_object(tmp_path: Path) -> None:
    path = tmp_path / "cf.json"
    path.write_text(json.dumps({"country": "JP"}))
    assert load_cf_file(path) == {"country": "JP"}
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must hold a JSON object"):
        load_cf_file(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_cf_file(tmp_path / "missing.json")


WAITS = """
export default {
  async fetch(request) {
    const order = [];
    const mode = new URL(request.url).pathname;
    if (mode === "/order") {
      setTimeout(() => order.push("timer 10"), 10);
      setTimeout(() => order.push("timer 80"), 80);
      const result = await scheduler.wait(40);
      order.push("wait 40");
      await scheduler.wait(60);
      return Response.json({ order, result: result === undefined ? "undefined" : result });
    }
    if (mode === "/abort") {
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error("stop waiting")), 5);
      try {
        await scheduler.wait(60_000, { signal: controller.signal });
        return new Response("waited");
      } catch (error) {
        return new Response(`rejected: ${error.message}`);
      }
    }
    if (mode === "/aborted") {
      try {
        await scheduler.wait(10, { signal: AbortSignal.abort("already") });
      } catch (reason) {
        return new Response(`rejected: ${reason}`);
      }
    }
    try {
      await scheduler.wait(10, { signal: "nope" });
    } catch (error) {
      return new Response(`${error.name}: ${error.message}`);
    }
    return new Response("no error");
  },
};
"""


@pytest.fixture
def waits() -> Iterator[Miniflare]:
    with Miniflare(script=WAITS, modules=True, console=None) as instance:
        yield instance


def test_scheduler_wait_resolves_with_undefined_after_its_delay_among_timers(waits: Miniflare) -> None:
    assert waits.dispatch_fetch("http://localhost/order").json() == {
        "order": ["timer 10", "wait 40", "timer 80"],
        "result": "undefined",
    }


def test_scheduler_wait_rejects_with_the_reason_when_its_signal_aborts(waits: Miniflare) -> None:
    assert waits.dispatch_fetch("http://localhost/abort").text() == "rejected: stop waiting"
    assert waits.dispatch_fetch("http://localhost/aborted").text() == "rejected: already"


def test_scheduler_wait_refuses_a_signal_that_is_not_an_abort_signal(waits: Miniflare) -> None:
    assert waits.dispatch_fetch("http://localhost/bad").text() == (
        "TypeError: Failed to execute 'wait' on 'Scheduler': member signal is not of type 'AbortSignal'."
    )
