"""A chat room served by ``mf.serve()``, reached by a WebSocket client library (aiohttp).

The worker (``tests/fixtures/chat/chat.mjs``) keeps one Durable Object per room with
hibernatable WebSockets; these tests check what a real client sees through the server:
joins, broadcasts both ways, the worker's close codes, and a dropped client noticed by the
others. (The same room in Chromium: ``tests/browser/test_served_chat_browser.py``.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mfbook import Miniflare
from mfbook.serving import ServeHandle

CHAT = Path(__file__).resolve().parents[1] / "fixtures" / "chat" / "chat.mjs"


@pytest.fixture
def served() -> Iterator[ServeHandle]:
    with Miniflare(script_path=str(CHAT), modules=True, durable_objects={"ROOMS": "ChatRoom"}, console=None) as mf:
        yield mf.serve(port=0)


def room_url(served: ServeHandle, room: str, name: str) -> str:
    return f"{served.url.replace('http', 'ws', 1)}/api/room/{room}/websocket?name={name}"


async def next_json(ws: aiohttp.ClientWebSocketResponse) -> Any:
    message = await ws.receive(timeout=10)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    return json.loads(message.data)


def test_two_clients_in_a_room_see_each_others_messages(served: ServeHandle) -> None:
    async def chat() -> tuple[Any, ...]:
        async with aiohttp.ClientSession() as session:
            alice = await session.ws_connect(room_url(served, "r1", "alice"))
            bob = await session.ws_connect(room_url(served, "r1", "bob"))
            joined = await next_json(alice)
            await alice.send_str(json.dumps({"message": "hi bob"}))
            seen_by_bob = await next_json(bob)
            seen_by_alice = await next_json(alice)
            await bob.send_str(json.dumps({"message": "hi alice"}))
            reply = (await next_json(alice), await next_json(bob))
            await bob.close()
            quit_notice = await next_json(alice)
            await alice.close()
            return joined, seen_by_bob, seen_by_alice, reply, quit_notice

    joined, seen_by_bob, seen_by_alice, reply, quit_notice = asyncio.run(chat())
    assert joined == {"joined": "bob"}
    assert (seen_by_bob["name"], seen_by_bob["message"]) == ("alice", "hi bob")
    assert seen_by_alice["message"] == "hi bob"
    assert [m["message"] for m in reply] == ["hi alice", "hi alice"]
    assert quit_notice == {"quit": "bob", "code": 1000}


def test_rooms_are_separate_objects(served: ServeHandle) -> None:
    async def chat() -> Any:
        async with aiohttp.ClientSession() as session:
            here = await session.ws_connect(room_url(served, "here", "a"))
            there = await session.ws_connect(room_url(served, "there", "b"))
            await there.send_str(json.dumps({"message": "only there"}))
            assert (await next_json(there))["message"] == "only there"
            await here.send_str(json.dumps({"message": "only here"}))
            return await next_json(here)

    assert asyncio.run(chat())["message"] == "only here"


def test_the_workers_close_code_and_reason_reach_the_client(served: ServeHandle) -> None:
    async def chat() -> tuple[Any, ...]:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(room_url(served, "r2", "carol"))
            await ws.send_str(json.dumps({"message": "/quit"}))
            message = await ws.receive(timeout=10)
            bad = await session.ws_connect(room_url(served, "r2", "dave"))
            await bad.send_str("not json")
            refused = await bad.receive(timeout=10)
            return message.type, ws.close_code, message.extra, refused.type, bad.close_code

    kind, code, reason, refused_kind, refused_code = asyncio.run(chat())
    assert (kind, code, reason) == (aiohttp.WSMsgType.CLOSE, 4001, "bye carol")
    assert (refused_kind, refused_code) == (aiohttp.WSMsgType.CLOSE, 4000)


def test_a_client_that_drops_is_seen_by_the_room_as_a_1006_close(served: ServeHandle) -> None:
    async def chat() -> Any:
        async with aiohttp.ClientSession() as session:
            stays = await session.ws_connect(room_url(served, "r3", "erin"))
            drops_session = aiohttp.ClientSession()
            drops = await drops_session.ws_connect(room_url(served, "r3", "frank"))
            assert await next_json(stays) == {"joined": "frank"}
            await drops.send_str(json.dumps({"message": "going"}))
            await next_json(stays)
            connection = drops._response.connection  # cut the TCP connection: no close frame
            assert connection is not None and connection.transport is not None
            connection.transport.abort()
            notice = await next_json(stays)
            await drops_session.close()
            return notice

    notice = asyncio.run(chat())
    assert notice == {"quit": "frank", "code": 1006}


def test_binary_frames_pass_through_untouched(tmp_path: Path) -> None:
    echo = "export default { fetch(r) { const [c, s] = Object.values(new WebSocketPair()); s.accept(); s.addEventListener('message', (e) => s.send(e.data)); return new Response(null, { status: 101, webSocket: c }); } }"
    with Miniflare(script=echo, modules=True, console=None) as mf:
        handle = mf.serve(port=0)

        async def talk() -> Any:
            async with aiohttp.ClientSession() as session:
                ws = await session.ws_connect(handle.url.replace("http", "ws", 1))
                await ws.send_bytes(bytes(range(256)))
                return await ws.receive(timeout=10)

        message = asyncio.run(talk())
    assert (message.type, message.data) == (aiohttp.WSMsgType.BINARY, bytes(range(256)))
