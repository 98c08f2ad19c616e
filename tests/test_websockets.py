# ruff: noqa: E501 - long lines are JavaScript source inside strings
"""WebSockets in the runtime (workerd's web-socket.c++ behaviour): pairs, accept, text and
binary frames, close codes, 101 responses, sockets passed through objects and bindings, and
the errors for misuse."""

from __future__ import annotations

import asyncio
import json

import pytest

from mfbook import Miniflare, WebSocketClient, WebSocketClosed

UPGRADE = {"Upgrade": "websocket"}

ECHO = """
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (request.headers.get("Upgrade") !== "websocket") return new Response("expected a websocket", { status: 426 });
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    server.addEventListener("message", (event) => {
      if (event.data === "close") return server.close(4000, "asked to");
      if (event.data === "state") return server.send(String(server.readyState));
      if (typeof event.data === "string") return server.send("echo:" + event.data);
      const bytes = new Uint8Array(event.data);
      server.send(bytes.subarray(1)); // a view: only its bytes go out
    });
    server.addEventListener("close", (event) => {
      globalThis.lastClose = [event.code, event.reason, event.wasClean, server.readyState];
      server.close(event.code, "server saw " + event.reason);
    });
    server.send("welcome");
    return new Response(null, { status: 101, webSocket: client });
  }
}
"""


def connect(mf: Miniflare, url: str = "http://localhost/") -> WebSocketClient:
    response = mf.dispatch_fetch(url, headers=UPGRADE)
    assert response.status == 101, response.text()
    assert response.websocket is not None
    return response.websocket


@pytest.fixture
def echo() -> Miniflare:
    with Miniflare(script=ECHO, modules=True) as mf:
        yield mf


def test_worker_echo_text_and_binary(echo: Miniflare) -> None:
    ws = connect(echo)
    assert ws.receive(timeout=5) == "welcome"
    ws.send("hi")
    assert ws.receive(timeout=5) == "echo:hi"
    ws.send(b"\x00\x01\x02\xff")
    assert ws.receive(timeout=5) == b"\x01\x02\xff"
    ws.send("state")
    assert ws.receive(timeout=5) == "1"  # OPEN


def test_a_plain_request_gets_no_websocket(echo: Miniflare) -> None:
    response = echo.dispatch_fetch("http://localhost/")
    assert response.status == 426 and response.websocket is None


def test_server_close_reaches_the_client_with_code_and_reason(echo: Miniflare) -> None:
    ws = connect(echo)
    ws.send("close")
    assert ws.receive(timeout=5) == "welcome"
    with pytest.raises(WebSocketClosed) as info:
        ws.receive(timeout=5)
    assert (info.value.code, info.value.reason) == (4000, "asked to")
    assert ws.closed and ws.close_code == 4000


def test_client_close_fires_the_close_event_and_the_server_answers(echo: Miniflare) -> None:
    ws = connect(echo)
    ws.close(4321, "bye")
    assert list(ws) == ["welcome"]
    assert (ws.close_code, ws.close_reason) == (4321, "server saw bye")


def test_messages_iterate_until_close(echo: Miniflare) -> None:
    ws = connect(echo)
    for text in ("a", "b", "close"):
        ws.send(text)
    assert list(ws) == ["welcome", "echo:a", "echo:b"]


def test_async_dispatch_and_async_iteration(echo: Miniflare) -> None:
    async def main() -> list[str | bytes]:
        response = await echo.dispatch_fetch_async("http://localhost/", headers=UPGRADE)
        ws = response.websocket
        assert ws is not None
        await ws.send_async("x")
        await ws.send_async("close")
        return [message async for message in ws]

    assert asyncio.run(main()) == ["welcome", "echo:x"]


PAIR_IN_ONE_WORKER = """
export default {
  async fetch(request) {
    const [a, b] = Object.values(new WebSocketPair());
    a.accept();
    b.accept();
    const log = [];
    b.addEventListener("message", (event) => log.push("b got " + event.data + (event.data instanceof ArrayBuffer ? " (binary)" : "")));
    a.addEventListener("close", (event) => log.push(`a closed ${event.code} ${event.reason} ${event.wasClean}`));
    a.send("one");
    log.push("sent one"); // delivered later, never inside send()
    a.send(new Uint8Array([1, 2]).buffer);
    await new Promise((resolve) => setTimeout(resolve, 5));
    b.close(1001, "gone");
    log.push("state " + a.readyState + " " + b.readyState);
    await new Promise((resolve) => setTimeout(resolve, 5));
    log.push("state " + a.readyState);
    return Response.json(log);
  }
}
"""


def test_a_pair_in_one_worker_delivers_in_order_and_never_reentrantly() -> None:
    with Miniflare(script=PAIR_IN_ONE_WORKER, modules=True) as mf:
        log = mf.dispatch_fetch("http://localhost/").json()
    assert log == [
        "sent one",
        "b got one",
        "b got [object ArrayBuffer] (binary)",
        "state 1 2",  # b sent its close: CLOSING; a has not received it yet
        "a closed 1001 gone true",
        "state 2",  # a received the close but has not answered it
    ]


MISUSE = """
const attempt = (fn) => { try { fn(); return "ok"; } catch (error) { return `${error.name}: ${error.message}`; } };
export default {
  async fetch(request) {
    const results = {};
    const [a, b] = Object.values(new WebSocketPair());
    results.sendBeforeAccept = attempt(() => a.send("x"));
    results.closeBeforeAccept = attempt(() => a.close());
    results.readyStateBeforeAccept = a.readyState;
    a.accept();
    results.acceptTwice = attempt(() => a.accept());
    results.badCode = attempt(() => a.close(1005));
    results.codeTooLow = attempt(() => a.close(999));
    results.reasonWithoutCode = attempt(() => a.close(undefined, "why"));
    results.noSocket101 = attempt(() => new Response(null, { status: 101 }));
    results.socketWith200 = attempt(() => new Response(null, { status: 200, webSocket: b }));
    results.close = attempt(() => a.close(1000, "done"));
    results.sendAfterClose = attempt(() => a.send("late"));
    results.closeTwice = attempt(() => a.close(1000));
    results.constants = [WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED, WebSocket.READY_STATE_OPEN, a.OPEN];
    results.badScheme = attempt(() => new WebSocket("http://example.com/"));
    results.badUrl = attempt(() => new WebSocket("not a url"));
    results.fragment = attempt(() => new WebSocket("ws://example.com/#x"));
    results.badProtocol = attempt(() => new WebSocket("ws://example.com/", "a b"));
    results.pairIterates = [...new WebSocketPair()].every((ws) => ws instanceof WebSocket);
    return Response.json(results);
  }
}
"""


def test_misuse_errors_match_workerd() -> None:
    with Miniflare(script=MISUSE, modules=True) as mf:
        results = mf.dispatch_fetch("http://localhost/").json()
    not_accepted = (
        "TypeError: You must call one of accept() or state.acceptWebSocket() on this WebSocket before sending messages."
    )
    assert results["sendBeforeAccept"] == not_accepted
    assert results["closeBeforeAccept"] == not_accepted
    assert results["readyStateBeforeAccept"] == 1
    assert results["acceptTwice"] == "ok"
    assert results["badCode"] == "TypeError: Invalid WebSocket close code: 1005."
    assert results["codeTooLow"] == "TypeError: Invalid WebSocket close code: 999."
    assert (
        results["reasonWithoutCode"]
        == "TypeError: If you specify a WebSocket close reason, you must also specify a code."
    )
    assert (
        results["noSocket101"]
        == "RangeError: Responses may only be constructed with status codes in the range 200 to 599, inclusive."
    )
    assert results["socketWith200"] == "RangeError: Responses with a WebSocket must have status code 101."
    assert results["close"] == "ok"
    assert results["sendAfterClose"] == "TypeError: Can't call WebSocket send() after close()."
    assert results["closeTwice"] == "ok"
    assert results["constants"] == [0, 1, 2, 3, 1, 1]
    assert results["badScheme"] == "SyntaxError: WebSocket Constructor: The url scheme must be ws or wss."
    assert results["badUrl"] == "SyntaxError: WebSocket Constructor: The url is invalid."
    assert results["fragment"] == "SyntaxError: WebSocket Constructor: The url fragment must be empty."
    assert results["badProtocol"] == "SyntaxError: WebSocket Constructor: The protocol header token is invalid."
    assert results["pairIterates"] is True


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "server.accept(); return new Response(null, { status: 101, webSocket: server });",
            "Can't return WebSocket in a Response after calling accept().",
        ),
        (
            "const first = new Response(null, { status: 101, webSocket: client }); await new Promise((r) => setTimeout(r, 1)); return new Response(null, { status: 101, webSocket: client });",
            None,
        ),
    ],
)
def test_returning_a_socket_twice_or_after_accept_fails(body: str, message: str | None) -> None:
    script = f"""
    export default {{
      async fetch(request) {{
        const [client, server] = Object.values(new WebSocketPair());
        {body}
      }}
    }}
    """
    with Miniflare(script=script, modules=True) as mf:
        response = mf.dispatch_fetch("http://localhost/", headers=UPGRADE)
    if message is not None:
        assert response.status == 500
        assert f"TypeError: {message}" in response.text()
    else:
        assert response.status == 101  # only the response that is returned uses the socket


OBJECT_SOCKETS = """
import { DurableObject } from "cloudflare:workers";
export class Echo extends DurableObject {
  async fetch(request) {
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    let count = (await this.ctx.storage.get("count")) ?? 0;
    server.addEventListener("message", async (event) => {
      count++;
      await this.ctx.storage.put("count", count);
      server.send(`object ${count}: ${event.data}`);
    });
    return new Response(null, { status: 101, webSocket: client });
  }
}
export default {
  async fetch(request, env) {
    const stub = env.ECHO.get(env.ECHO.idFromName("one"));
    const url = new URL(request.url);
    if (url.pathname === "/relay") {
      // The worker itself is the object's client: fetch with Upgrade to a binding.
      const response = await stub.fetch("http://object/", { headers: { Upgrade: "websocket" } });
      const ws = response.webSocket;
      ws.accept();
      const [client, server] = Object.values(new WebSocketPair());
      server.accept();
      server.addEventListener("message", (event) => ws.send("relayed " + event.data));
      ws.addEventListener("message", (event) => server.send(event.data));
      return new Response(null, { status: 101, webSocket: client });
    }
    if (url.pathname === "/outbound") {
      const ws = new WebSocket("wss://example.com/socket");
      const events = [];
      await new Promise((resolve) => {
        ws.addEventListener("error", (event) => events.push("error " + event.message.slice(0, 40)));
        ws.addEventListener("close", (event) => { events.push(`close ${event.code} ${event.reason} ${event.wasClean}`); resolve(); });
      });
      return Response.json(events);
    }
    return stub.fetch(request); // the object's 101 goes through the worker unchanged
  }
}
"""


@pytest.fixture
def objects() -> Miniflare:
    with Miniflare(script=OBJECT_SOCKETS, modules=True, durable_objects={"ECHO": "Echo"}) as mf:
        yield mf


def test_an_objects_socket_passes_through_the_worker_to_python(objects: Miniflare) -> None:
    ws = connect(objects)
    ws.send("a")
    ws.send("b")
    assert [ws.receive(timeout=5), ws.receive(timeout=5)] == ["object 1: a", "object 2: b"]
    storage = objects.get_durable_object_storage(objects.get_durable_object_namespace("ECHO").id_from_name("one"))
    assert storage.get("count") == 2


def test_a_stub_fetch_from_python_returns_the_socket(objects: Miniflare) -> None:
    stub = objects.get_durable_object_namespace("ECHO").get_by_name("one")
    response = stub.fetch("/", headers=UPGRADE)
    assert response.status == 101 and response.websocket is not None
    response.websocket.send("direct")
    assert response.websocket.receive(timeout=5) == "object 1: direct"


def test_a_worker_can_be_the_client_of_an_objects_socket(objects: Miniflare) -> None:
    ws = connect(objects, "http://localhost/relay")
    ws.send("x")
    assert ws.receive(timeout=5) == "object 1: relayed x"


def test_outbound_websocket_to_the_network_fails_with_close_1006(objects: Miniflare) -> None:
    events = objects.dispatch_fetch("http://localhost/outbound").json()
    assert events[0].startswith("error Network access is disabled in mfbo")
    assert events[1] == "close 1006 Failed to establish websocket connection false"


def test_messages_to_an_object_are_traced_with_the_object(objects: Miniflare) -> None:
    ws = connect(objects)
    ws.send("traced")
    ws.receive(timeout=5)
    kinds = [
        (record["kind"], record["data"].get("direction"), record.get("binding"))
        for record in objects.trace.records()
        if record["kind"].startswith("ws.")
    ]
    assert ("ws.accept", None, "ECHO") in kinds
    assert ("ws.message", "in", "ECHO") in kinds
    assert ("ws.message", "out", "ECHO") in kinds
    assert json.dumps(kinds)  # plain data


ACCEPT_IN_A_DIRECT_CALL = """
import { DurableObject } from "cloudflare:workers";
export class Store extends DurableObject {
  async fetch() {
    const [client, server] = Object.values(new WebSocketPair());
    setTimeout(() => {}, 1); // host work queued in the same turn as accept()
    const listed = this.ctx.storage.list();
    server.accept();
    server.addEventListener("message", async (event) => {
      await this.ctx.storage.put("last", event.data);
      server.send("stored " + (await this.ctx.storage.get("last")));
    });
    await listed;
    return new Response(null, { status: 101, webSocket: client });
  }
}
export default { fetch: (request, env) => env.STORE.get(env.STORE.idFromName("s")).fetch(request) };
"""


def test_a_socket_accepted_by_an_object_in_a_direct_call_uses_the_objects_storage() -> None:
    with Miniflare(script=ACCEPT_IN_A_DIRECT_CALL, modules=True, durable_objects={"STORE": "Store"}) as mf:
        ws = connect(mf)
        ws.send("x")
        assert ws.receive(timeout=5) == "stored x"
        storage = mf.get_durable_object_storage(mf.get_durable_object_namespace("STORE").id_from_name("s"))
        assert storage.get("last") == "x"
        assert any(r["kind"] == "request.start" and r["data"].get("direct") for r in mf.trace.records())


def test_dispose_ends_the_python_clients_connection() -> None:
    mf = Miniflare(script=ECHO, modules=True)
    ws = connect(mf)
    assert ws.receive(timeout=5) == "welcome"
    mf.dispose()
    with pytest.raises(WebSocketClosed) as info:
        ws.receive(timeout=5)
    assert info.value.code == 1006


def test_a_reload_disconnects_open_websockets(echo: Miniflare) -> None:
    ws = connect(echo)
    echo.set_options(script=ECHO, modules=True)
    assert list(ws) == ["welcome"]
    assert (ws.close_code, ws.close_reason) == (1012, "The worker was reloaded.")
    fresh = connect(echo)
    fresh.send("still works")
    assert [fresh.receive(timeout=5), fresh.receive(timeout=5)] == ["welcome", "echo:still works"]


AWAITS_REPLY = """
import { DurableObject } from "cloudflare:workers";
export class Answer extends DurableObject {
  fetch() {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }
  async webSocketMessage(ws, message) {
    await this.ctx.storage.put("last", message);
    ws.send("got " + message);
  }
}
export default {
  async fetch(request, env) {
    const response = await env.ANSWER.get(env.ANSWER.idFromName("a")).fetch("http://x/", { headers: { Upgrade: "websocket" } });
    const ws = response.webSocket;
    ws.accept();
    const reply = new Promise((resolve) => ws.addEventListener("message", (event) => resolve(event.data), { once: true }));
    ws.send("hello");
    const text = await reply; // the request waits for the object's frame: not a hung request
    ws.close(1000, "done");
    return new Response(text);
  }
}
"""


def test_a_request_may_wait_for_a_frame_from_an_objects_socket() -> None:
    with Miniflare(script=AWAITS_REPLY, modules=True, durable_objects={"ANSWER": "Answer"}) as mf:
        assert mf.dispatch_fetch("http://localhost/").text() == "got hello"
        assert mf.dispatch_fetch("http://localhost/").text() == "got hello"


LONG_POLL = """
import { DurableObject } from "cloudflare:workers";
export class Poll extends DurableObject {
  waiters = [];
  async fetch(request) {
    if (request.headers.get("Upgrade") === "websocket") {
      const [client, server] = Object.values(new WebSocketPair());
      server.accept();
      server.addEventListener("message", (event) => { for (const wake of this.waiters.splice(0)) wake(event.data); });
      return new Response(null, { status: 101, webSocket: client });
    }
    return new Response(await new Promise((resolve) => this.waiters.push(resolve)));
  }
}
export default { fetch: (request, env) => env.POLL.get(env.POLL.idFromName("p")).fetch(request) };
"""


def test_a_request_waiting_for_a_python_clients_frame_is_not_hung() -> None:
    with Miniflare(script=LONG_POLL, modules=True, durable_objects={"POLL": "Poll"}) as mf:
        ws = connect(mf)

        async def main() -> str:
            waiting = asyncio.ensure_future(mf.dispatch_fetch_async("http://localhost/next"))
            await asyncio.sleep(0.3)  # the request waits; nothing else is going on in the engine
            assert not waiting.done()
            await ws.send_async("news")
            return (await waiting).text()

        assert asyncio.run(main()) == "news"
