"""``mf.serve()``: real HTTP clients reach the worker (issue 15 item 4)."""

from __future__ import annotations

import http.client
import socket
import urllib.request
from collections.abc import Iterator

import httpx
import pytest

from mfbook import Miniflare
from mfbook.serving import ServeHandle

ECHO = """
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/throw") throw new RangeError("nope");
    if (url.pathname === "/cookies") {
      const headers = new Headers();
      headers.append("set-cookie", "a=1");
      headers.append("set-cookie", "b=2");
      return new Response(null, { status: 204, statusText: "Nothing Here", headers });
    }
    if (url.pathname === "/count") {
      const stub = env.COUNTER.get(env.COUNTER.idFromName("a"));
      return stub.fetch(request);
    }
    return Response.json({
      method: request.method,
      url: request.url,
      headers: [...request.headers],
      body: await request.text(),
      colo: request.cf.colo,
    }, { headers: { "x-served": "yes" } });
  },
};
export class Counter {
  constructor(state) { this.state = state; }
  async fetch() {
    const count = ((await this.state.storage.get("n")) ?? 0) + 1;
    await this.state.storage.put("n", count);
    return new Response(String(count));
  }
}
"""


@pytest.fixture
def mf() -> Iterator[Miniflare]:
    with Miniflare(script=ECHO, modules=True, durable_objects={"COUNTER": "Counter"}, console=None) as instance:
        yield instance


@pytest.fixture
def served(mf: Miniflare) -> ServeHandle:
    return mf.serve(port=0)


def test_the_handle_names_a_local_url_on_the_port_it_bound(served: ServeHandle) -> None:
    assert served.url == f"http://127.0.0.1:{served.port}"
    assert served.port != 0
    assert repr(served) == f"<ServeHandle {served.url} serving>"


def test_a_get_reaches_the_worker_with_its_url_headers_and_the_default_cf(served: ServeHandle) -> None:
    response = httpx.get(f"{served.url}/path?q=1", headers={"X-Custom": "v"})
    assert response.status_code == 200
    assert response.headers["x-served"] == "yes"
    echoed = response.json()
    assert echoed["method"] == "GET"
    assert echoed["url"] == f"{served.url}/path?q=1"
    assert ["x-custom", "v"] in echoed["headers"]
    assert echoed["colo"] == "DFW"


def test_a_post_body_reaches_the_worker(served: ServeHandle) -> None:
    request = urllib.request.Request(f"{served.url}/upload", data="héllo".encode(), method="POST")
    with urllib.request.urlopen(request) as response:
        echoed = response.read()
    assert b'"body":"h\\u00e9llo"' in echoed or '"body":"héllo"'.encode() in echoed


def test_status_reason_and_repeated_headers_come_back_as_the_worker_set_them(served: ServeHandle) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", served.port)
    connection.request("GET", "/cookies")
    response = connection.getresponse()
    assert (response.status, response.reason) == (204, "Nothing Here")
    assert response.headers.get_all("set-cookie") == ["a=1", "b=2"]
    connection.close()


def test_an_uncaught_exception_is_a_500_with_the_error(served: ServeHandle) -> None:
    response = httpx.get(f"{served.url}/throw")
    assert response.status_code == 500
    assert response.text.startswith("RangeError: nope")


def test_keep_alive_requests_share_one_connection_and_durable_objects_count(served: ServeHandle) -> None:
    with httpx.Client(base_url=served.url) as client:
        counts = [client.get("/count").text for _ in range(5)]
    assert counts == ["1", "2", "3", "4", "5"]


def test_stop_closes_the_port_and_is_idempotent(mf: Miniflare) -> None:
    handle = mf.serve(port=0)
    assert httpx.get(handle.url).status_code == 200
    handle.stop()
    handle.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(handle.url)
    assert repr(handle).endswith("stopped>")


def test_dispose_stops_every_server() -> None:
    mf = Miniflare(script=ECHO, modules=True, durable_objects={"COUNTER": "Counter"}, console=None)
    first, second = mf.serve(port=0), mf.serve(port=0)
    mf.dispose()
    assert first.stopped and second.stopped
    for handle in (first, second):
        with pytest.raises(httpx.ConnectError):
            httpx.get(handle.url)


def test_a_port_in_use_is_an_os_error(mf: Miniflare) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            mf.serve(port=taken.getsockname()[1])


def test_cf_given_to_serve_is_request_cf(mf: Miniflare) -> None:
    handle = mf.serve(port=0, cf={"colo": "LHR"})
    assert httpx.get(handle.url).json()["colo"] == "LHR"
