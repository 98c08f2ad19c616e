# ruff: noqa: E501 - long lines are JavaScript source inside strings
"""The WebSocket hibernation API (workerd's actor-state.c++ and hibernation manager): tags,
auto-responses answered without waking the object, attachments that survive eviction, an
evicted object constructed again for the next message, and the errors for misuse."""

from __future__ import annotations

import time
from typing import Any

import pytest

from mfbook import ConfigError, Miniflare, WebSocketClient, WebSocketClosed
from mfbook.hibernation import HibernationRefused

UPGRADE = {"Upgrade": "websocket"}

ROOM = """
import { DurableObject } from "cloudflare:workers";
export class Room extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.ready = false;
    ctx.blockConcurrencyWhile(async () => {
      const constructions = ((await ctx.storage.get("constructions")) ?? 0) + 1;
      await ctx.storage.put("constructions", constructions);
      await new Promise((resolve) => setTimeout(resolve, 5));
      this.constructions = constructions;
      this.ready = true;
    });
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/plain") {
      const [client, server] = Object.values(new WebSocketPair());
      server.accept();
      return new Response(null, { status: 101, webSocket: client });
    }
    const name = url.searchParams.get("name");
    const tags = url.searchParams.getAll("tag");
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server, tags.length ? tags : [name]);
    server.serializeAttachment({ name, joined: new Date(0), ids: new Map([[name, 1]]) });
    return new Response(null, { status: 101, webSocket: client });
  }
  async webSocketMessage(ws, message) {
    const [command, arg] = typeof message === "string" ? message.split(" ") : ["binary", String(message.byteLength)];
    const attachment = ws.deserializeAttachment();
    let reply;
    switch (command) {
      case "who": reply = { name: attachment.name, map: attachment.ids.get(attachment.name), date: attachment.joined instanceof Date, ready: this.ready, constructions: this.constructions }; break;
      case "tags": reply = this.ctx.getTags(ws); break;
      case "list": reply = this.ctx.getWebSockets(arg).map((other) => other.deserializeAttachment().name); break;
      case "broadcast": for (const other of this.ctx.getWebSockets()) other.send("from " + attachment.name); return;
      case "autotime": { const at = this.ctx.getWebSocketAutoResponseTimestamp(ws); reply = at === null ? null : at instanceof Date && at.getTime() > 0; break; }
      case "auto": { const pair = this.ctx.getWebSocketAutoResponse(); reply = [pair.request, pair.response]; break; }
      case "attach": try { ws.serializeAttachment("x".repeat(Number(arg))); reply = "ok"; } catch (error) { reply = `${error.name}: ${error.message}`; } break;
      case "length": reply = ws.deserializeAttachment().length; break;
      case "binary": reply = "binary " + arg; break;
      case "close": ws.close(4000, "server closes"); return;
      default: reply = "?";
    }
    ws.send(JSON.stringify(reply));
  }
  async webSocketClose(ws, code, reason, wasClean) {
    await this.ctx.storage.put("closed", [code, reason, wasClean]);
    ws.close(code, "bye");
  }
}
export default {
  fetch(request, env) {
    return env.ROOM.get(env.ROOM.idFromName("lobby")).fetch(request);
  }
}
"""


@pytest.fixture
def room() -> Miniflare:
    with Miniflare(
        script=ROOM, modules=True, durable_objects={"ROOM": "Room"}, websocket_hibernation_idle_ms=60_000
    ) as mf:
        yield mf


def join(mf: Miniflare, query: str) -> WebSocketClient:
    response = mf.dispatch_fetch(f"http://localhost/?{query}", headers=UPGRADE)
    assert response.status == 101, response.text()
    assert response.websocket is not None
    return response.websocket


def ask(ws: WebSocketClient, text: str | bytes) -> Any:
    import json

    ws.send(text)
    return json.loads(ws.receive(timeout=5))


def lobby(mf: Miniflare) -> Any:
    return mf.get_durable_object_namespace("ROOM").id_from_name("lobby")


def kinds(mf: Miniflare) -> list[str]:
    return [record["kind"] for record in mf.trace.records() if record["kind"].startswith("ws.")]


def test_handlers_receive_text_and_binary_with_the_attachment(room: Miniflare) -> None:
    ws = join(room, "name=alice")
    assert ask(ws, "who") == {"name": "alice", "map": 1, "date": True, "ready": True, "constructions": 1}
    assert ask(ws, b"\x00\x01\x02") == "binary 3"


def test_tags_filter_get_websockets_and_duplicates_collapse(room: Miniflare) -> None:
    alice = join(room, "name=alice&tag=red&tag=all&tag=red")
    join(room, "name=bob&tag=blue&tag=all")
    assert ask(alice, "tags") == ["red", "all"]
    assert ask(alice, "list all") == ["alice", "bob"]
    assert ask(alice, "list blue") == ["bob"]
    assert ask(alice, "list none") == []


def test_auto_response_answers_without_waking_the_object(room: Miniflare) -> None:
    ws = join(room, "name=alice")
    assert ask(ws, "autotime") is None
    room.hibernate(lobby(room))
    ws.send("ping")
    assert ws.receive(timeout=5) == "pong"
    assert kinds(room)[-2:] == ["ws.hibernate", "ws.autoresponse"]  # no wake, no delivery
    assert ask(ws, "autotime") is True
    assert ask(ws, "auto") == ["ping", "pong"]
    assert kinds(room).count("ws.wake") == 1


def test_an_evicted_object_is_constructed_again_and_keeps_its_sockets(room: Miniflare) -> None:
    alice = join(room, "name=alice")
    bob = join(room, "name=bob")
    room.hibernate(lobby(room))
    assert ask(alice, "who") == {"name": "alice", "map": 1, "date": True, "ready": True, "constructions": 2}
    bob.send("broadcast")
    assert alice.receive(timeout=5) == "from bob"
    assert bob.receive(timeout=5) == "from bob"
    assert kinds(room).count("ws.hibernate") == 1 and kinds(room).count("ws.wake") == 1


def test_an_object_rebuilt_by_a_fetch_does_not_trace_a_later_wake(room: Miniflare) -> None:
    alice = join(room, "name=alice")
    room.hibernate(lobby(room))
    join(room, "name=bob")  # an ordinary fetch constructs the object again
    assert ask(alice, "who")["constructions"] == 2
    assert kinds(room).count("ws.hibernate") == 1
    assert kinds(room).count("ws.wake") == 0  # the frame found the object awake


def test_an_idle_object_hibernates_after_the_idle_time() -> None:
    with Miniflare(script=ROOM, modules=True, durable_objects={"ROOM": "Room"}, websocket_hibernation_idle_ms=50) as mf:
        ws = join(mf, "name=alice")
        deadline = time.monotonic() + 10
        while "ws.hibernate" not in kinds(mf) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "ws.hibernate" in kinds(mf)
        assert ask(ws, "who")["constructions"] == 2
        assert "ws.wake" in kinds(mf)


def test_webSocketClose_gets_code_reason_and_wasClean(room: Miniflare) -> None:
    ws = join(room, "name=alice")
    room.hibernate(lobby(room))
    ws.close(4001, "leaving")
    with pytest.raises(WebSocketClosed):
        ws.receive(timeout=5)
    assert (ws.close_code, ws.close_reason) == (4001, "bye")
    assert room.get_durable_object_storage(lobby(room)).get("closed") == [4001, "leaving", True]


def test_a_closed_socket_leaves_get_websockets(room: Miniflare) -> None:
    alice = join(room, "name=alice")
    bob = join(room, "name=bob")
    bob.close(1000, "")
    assert list(bob) == []
    assert ask(alice, "list") == ["alice"]


def test_server_close_of_a_hibernatable_socket(room: Miniflare) -> None:
    ws = join(room, "name=alice")
    ws.send("close")
    with pytest.raises(WebSocketClosed) as info:
        ws.receive(timeout=5)
    assert (info.value.code, info.value.reason) == (4000, "server closes")


def test_attachment_size_limit_matches_workerd(room: Miniflare) -> None:
    ws = join(room, "name=alice")
    assert ask(ws, "attach 2000") == "ok"
    assert (
        ask(ws, "attach 3000")
        == "Error: A WebSocket 'attachment' cannot be larger than 2048 bytes.'attachment' was 3005 bytes."
    )
    room.hibernate(lobby(room))
    assert ask(ws, "length") == 2000  # the failed call kept the attachment before it


def test_an_object_with_an_accepted_plain_socket_cannot_hibernate(room: Miniflare) -> None:
    response = room.dispatch_fetch("http://localhost/plain", headers=UPGRADE)
    assert response.status == 101
    join(room, "name=alice")
    with pytest.raises(HibernationRefused, match="accept\\(\\)"):
        room.hibernate(lobby(room))


MISUSE = """
import { DurableObject } from "cloudflare:workers";
const attempt = (fn) => { try { const value = fn(); return value === undefined ? "ok" : value; } catch (error) { return `${error.name}: ${error.message}`; } };
export class Misuse extends DurableObject {
  async fetch() {
    const ctx = this.ctx;
    const results = {};
    const [a, b] = Object.values(new WebSocketPair());
    results.tooManyTags = attempt(() => ctx.acceptWebSocket(a, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"]));
    results.longTag = attempt(() => ctx.acceptWebSocket(a, ["x".repeat(257)]));
    results.tagsBeforeAccept = attempt(() => ctx.getTags(a));
    b.accept();
    results.peerAccepted = attempt(() => ctx.acceptWebSocket(a));
    const [c, d] = Object.values(new WebSocketPair());
    c.accept();
    results.alreadyAccepted = attempt(() => ctx.acceptWebSocket(c));
    results.plainTags = attempt(() => ctx.getTags(c));
    const [e, f] = Object.values(new WebSocketPair());
    results.tenTags = attempt(() => ctx.acceptWebSocket(e, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "9", "10"]));
    results.acceptAfterHibernatable = attempt(() => e.accept());
    results.notASocket = attempt(() => ctx.acceptWebSocket({}));
    results.bigAutoRequest = attempt(() => ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("x".repeat(2049), "y")));
    results.bigAutoResponse = attempt(() => ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("x", "y".repeat(2049))));
    results.notAPair = attempt(() => ctx.setWebSocketAutoResponse({ request: "a", response: "b" }));
    results.noAuto = ctx.getWebSocketAutoResponse();
    results.cleared = attempt(() => { ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("a", "b")); ctx.setWebSocketAutoResponse(); return ctx.getWebSocketAutoResponse(); });
    results.pairArgs = attempt(() => new WebSocketRequestResponsePair("only"));
    results.noAttachment = e.deserializeAttachment();
    return Response.json(results);
  }
}
export default { fetch: (request, env) => env.M.get(env.M.idFromName("m")).fetch(request) };
"""


def test_hibernation_misuse_errors_match_workerd() -> None:
    with Miniflare(script=MISUSE, modules=True, durable_objects={"M": "Misuse"}) as mf:
        results = mf.dispatch_fetch("http://localhost/").json()
    assert results["tooManyTags"] == "Error: a Hibernatable WebSocket cannot have more than 10 tags"
    assert results["longTag"] == f'Error: "{"x" * 257}" is longer than the max tag length (256 characters).'
    assert (
        results["tagsBeforeAccept"]
        == "Error: you must call 'acceptWebSocket()' before attempting to access the tags of a WebSocket."
    )
    assert (
        results["peerAccepted"]
        == "Error: Cannot call `acceptWebSocket()` on this WebSocket because its pair has already been accepted or used in a Response."
    )
    assert (
        results["alreadyAccepted"]
        == "Error: Cannot call `acceptWebSocket()` if the WebSocket was already accepted via `accept()`"
    )
    assert results["plainTags"] == "Error: only hibernatable websockets can have tags."
    assert results["tenTags"] == "ok"  # the duplicate does not count (as in workerd, once 10 are seen any 11th fails)
    assert results["acceptAfterHibernatable"] == "TypeError: Can't accept() WebSocket after enabling hibernation."
    assert results["notASocket"].startswith("TypeError: Failed to execute 'acceptWebSocket'")
    assert (
        results["bigAutoRequest"]
        == "RangeError: Request cannot be larger than 2048 bytes. A request of size 2049 was provided."
    )
    assert (
        results["bigAutoResponse"]
        == "RangeError: Response cannot be larger than 2048 bytes. A response of size 2049 was provided."
    )
    assert results["notAPair"].startswith("TypeError: Failed to execute 'setWebSocketAutoResponse'")
    assert results["noAuto"] is None
    assert results["cleared"] is None
    assert results["pairArgs"].startswith("TypeError: Failed to construct 'WebSocketRequestResponsePair'")
    assert results["noAttachment"] is None


@pytest.mark.parametrize("value", [-1, "10", True, float("inf")])
def test_idle_option_is_validated(value: Any) -> None:
    with pytest.raises(ConfigError, match="websocket_hibernation_idle_ms"):
        Miniflare(script="export default {}", modules=True, websocket_hibernation_idle_ms=value)


def test_hibernate_takes_a_stub_and_rejects_other_values(room: Miniflare) -> None:
    join(room, "name=alice")
    room.hibernate(room.get_durable_object_namespace("ROOM").get_by_name("lobby"))
    assert kinds(room)[-1] == "ws.hibernate"
    with pytest.raises(TypeError, match="DurableObjectId or a stub"):
        room.hibernate("lobby")  # type: ignore[arg-type]


SESSIONS = """
import { DurableObject } from "cloudflare:workers";
export class Sessions extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    // As the documentation's hibernation server does: sessions keyed by the WebSocket objects.
    this.sessions = new Map();
    for (const ws of ctx.getWebSockets()) this.sessions.set(ws, ws.deserializeAttachment());
  }
  async fetch() {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    const session = { id: crypto.randomUUID() };
    server.serializeAttachment(session);
    this.sessions.set(server, session);
    return new Response(null, { status: 101, webSocket: client });
  }
  webSocketMessage(ws, message) {
    ws.send(JSON.stringify({ known: this.sessions.has(ws), size: this.sessions.size, same: this.ctx.getWebSockets()[0] === ws }));
  }
}
export default { fetch: (request, env) => env.S.get(env.S.idFromName("s")).fetch(request) };
"""


def test_handlers_get_the_same_websocket_objects_as_getWebSockets_and_acceptWebSocket() -> None:
    with Miniflare(script=SESSIONS, modules=True, durable_objects={"S": "Sessions"}) as mf:
        ws = join(mf, "")
        assert ask(ws, "before") == {"known": True, "size": 1, "same": True}
        mf.hibernate(mf.get_durable_object_namespace("S").id_from_name("s"))
        assert ask(ws, "after") == {"known": True, "size": 1, "same": True}


TXN_HANDLER = """
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async fetch() {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }
  async webSocketMessage(ws, message) {
    const count = await this.ctx.storage.transaction(async (txn) => {
      const next = ((await txn.get("count")) ?? 0) + 1;
      await txn.put("count", next);
      return next;
    });
    ws.send(String(count));
  }
}
export default { fetch: (request, env) => env.C.get(env.C.idFromName("c")).fetch(request) };
"""


def test_the_timeline_labels_a_handlers_transaction_with_its_websocket_frame() -> None:
    from mfbook.widgets.timeline_model import TimelineModel

    with Miniflare(script=TXN_HANDLER, modules=True, durable_objects={"C": "Counter"}) as mf:
        ws = join(mf, "")
        ws.send("go")
        assert ws.receive(timeout=5) == "1"
        model = TimelineModel()
        model.feed(mf.trace.events())
        (txn,) = model.transactions()
        label = model.txn_json(txn)["label"]
        socket = mf.trace.events(kind="ws.message")[0].data["socket"]
    assert label.startswith(f"ws.message socket {socket} #")


def test_an_aborted_client_reaches_webSocketClose_as_1006_not_clean(room: Miniflare) -> None:
    ws = join(room, "name=alice")
    ws.abort()
    assert (ws.close_code, ws.closed) == (1006, True)
    with pytest.raises(WebSocketClosed):
        ws.send("late")
    storage = room.get_durable_object_storage(lobby(room))
    deadline = time.monotonic() + 5
    while storage.get("closed") is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert storage.get("closed") == [1006, "WebSocket disconnected without sending Close frame.", False]


STATES = """
import { DurableObject } from "cloudflare:workers";
export class States extends DurableObject {
  async fetch() {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }
  webSocketMessage(ws) {
    ws.send(JSON.stringify(this.ctx.getWebSockets().map((socket) => socket.readyState)));
  }
  webSocketClose() {} // does not answer the close
}
export default { fetch: (request, env) => env.S.get(env.S.idFromName("s")).fetch(request) };
"""


def test_a_socket_closed_by_its_client_is_closing_after_a_wake() -> None:
    with Miniflare(script=STATES, modules=True, durable_objects={"S": "States"}) as mf:
        first = join(mf, "")
        second = join(mf, "")
        first.close(1000, "")
        assert ask(second, "states") == [2, 1]  # the close arrived; the object did not answer it
        mf.hibernate(mf.get_durable_object_namespace("S").id_from_name("s"))
        assert ask(second, "states") == [2, 1]


LATE_CLOSE = """
import { DurableObject } from "cloudflare:workers";
export class Room extends DurableObject {
  async fetch(request) {
    if (new URL(request.url).pathname === "/seen") return Response.json(await this.ctx.storage.get("seen"));
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server, ["red", "blue"]);
    server.serializeAttachment("kept");
    return new Response(null, { status: 101, webSocket: client });
  }
  webSocketMessage(ws) { ws.close(4000, "server first"); }
  async webSocketClose(ws, code) {
    await this.ctx.storage.put("before", code);  // the handler goes on after a storage round trip
    let seen;
    try { seen = [code, this.ctx.getTags(ws), ws.deserializeAttachment()]; } catch (error) { seen = `${error.name}: ${error.message}`; }
    await this.ctx.storage.put("seen", seen);
  }
}
export default { fetch(request, env) { return env.ROOM.get(env.ROOM.idFromName("a")).fetch(request); } }
"""


def test_a_late_webSocketClose_still_sees_tags_of_a_socket_finished_on_both_sides() -> None:
    with Miniflare(script=LATE_CLOSE, modules=True, durable_objects={"ROOM": "Room"}) as mf:
        ws = join(mf, "x=1")
        ws.send("close please")  # the server closes first; the client's echo ends the socket on both sides
        with pytest.raises(WebSocketClosed):
            ws.receive(timeout=5)
        deadline = time.monotonic() + 10
        seen = None
        while seen is None and time.monotonic() < deadline:
            seen = mf.dispatch_fetch("http://localhost/seen").json()
        assert seen == [4000, ["red", "blue"], "kept"]
        hub = mf._runtime.websockets  # noqa: SLF001 - the host forgets the socket once the handler ran
        assert hub.ends == {}
