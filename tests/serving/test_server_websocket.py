"""WebSockets through ``mf.serve()``: the bridge between a real client and the worker's socket.

The worker's side is the ``WebSocketClient`` contract of issue 15 part A (``send_async``,
``receive_async``, ``close_async``, ``WebSocketClosed(.code, .reason)``). These tests drive the
bridge with a small fake of that contract, so they pin what the server does on its own; the
end-to-end tests with real worker code are in ``test_served_chat.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

import mfbook
from mfbook import Response
from mfbook.serving import ServeHandle, start_server


class FakeClosed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed {code} {reason}")
        self.code = code
        self.reason = reason


@pytest.fixture
def closed_type(monkeypatch: pytest.MonkeyPatch) -> type[Exception]:
    real = getattr(mfbook, "WebSocketClosed", None)
    if isinstance(real, type):
        return real
    monkeypatch.setattr(mfbook, "WebSocketClosed", FakeClosed, raising=False)
    return FakeClosed


class EchoSocket:
    """The worker's end: echoes text upper-cased and bytes reversed; "bye" makes it close 4001."""

    def __init__(self, closed_type: type[Exception]) -> None:
        self.closed_type = closed_type
        self.queue: asyncio.Queue[Any] | None = None
        self.received: list[str | bytes] = []
        self.closed_with: tuple[int, str] | None = None

    def _queue(self) -> asyncio.Queue[Any]:
        if self.queue is None:
            self.queue = asyncio.Queue()
        return self.queue

    async def send_async(self, message: str | bytes) -> None:
        self.received.append(message)
        if message == "bye":
            await self._queue().put(self.closed_type(4001, "worker says bye"))
        else:
            await self._queue().put(message.upper() if isinstance(message, str) else message[::-1])

    async def receive_async(self, timeout: float | None = None) -> str | bytes:
        item = await self._queue().get()
        if isinstance(item, Exception):
            raise item
        return item  # type: ignore[no-any-return]

    async def close_async(self, code: int = 1000, reason: str = "") -> None:
        self.closed_with = (code, reason)
        await self._queue().put(self.closed_type(code, reason))


class FakeEmulator:
    """Answers an upgrade with 101 and an :class:`EchoSocket`, anything else with 426."""

    def __init__(self, closed_type: type[Exception]) -> None:
        self.closed_type = closed_type
        self.sockets: list[EchoSocket] = []
        self.requests: list[tuple[str, list[tuple[str, str]]]] = []

    async def dispatch_fetch_async(self, url: str, **kwargs: Any) -> Response:
        headers = list(kwargs.get("headers") or [])
        self.requests.append((url, headers))
        if dict((name.lower(), value) for name, value in headers).get("upgrade") != "websocket":
            return Response(426, body=b"Expected Upgrade: websocket")
        response = Response(101, headers={"sec-websocket-protocol": "chat"})
        socket = EchoSocket(self.closed_type)
        self.sockets.append(socket)
        response.websocket = socket  # type: ignore[attr-defined]
        return response


@pytest.fixture
def fake(closed_type: type[Exception]) -> Iterator[tuple[FakeEmulator, ServeHandle]]:
    emulator = FakeEmulator(closed_type)
    handle = start_server(emulator, port=0)  # type: ignore[arg-type]
    yield emulator, handle
    handle.stop()


async def _session(url: str, protocols: tuple[str, ...] = ("chat",)) -> tuple[aiohttp.ClientSession, Any]:
    session = aiohttp.ClientSession()
    return session, await session.ws_connect(url, protocols=protocols)


def test_text_and_binary_messages_cross_both_ways(fake: tuple[FakeEmulator, ServeHandle]) -> None:
    emulator, handle = fake

    async def talk() -> tuple[Any, ...]:
        session, ws = await _session(f"{handle.url}/room")
        await ws.send_str("hello")
        text = await ws.receive(timeout=5)
        await ws.send_bytes(b"\x00\x01\x02")
        binary = await ws.receive(timeout=5)
        await ws.close(code=4002, message=b"client done")
        await session.close()
        for _ in range(500):  # the server passes the close on after answering it
            if emulator.sockets[0].closed_with is not None:
                break
            await asyncio.sleep(0.01)
        return text.type, text.data, binary.type, binary.data, ws.protocol

    text_type, text, binary_type, binary, protocol = asyncio.run(talk())
    assert (text_type, text) == (aiohttp.WSMsgType.TEXT, "HELLO")
    assert (binary_type, binary) == (aiohttp.WSMsgType.BINARY, b"\x02\x01\x00")
    assert protocol == "chat"
    socket = emulator.sockets[0]
    assert socket.received == ["hello", b"\x00\x01\x02"]
    assert socket.closed_with == (4002, "client done")
    url, headers = emulator.requests[0]
    assert url == f"{handle.url}/room"


def test_a_close_from_the_worker_reaches_the_client_with_its_code_and_reason(
    fake: tuple[FakeEmulator, ServeHandle],
) -> None:
    _, handle = fake

    async def talk() -> tuple[Any, ...]:
        session, ws = await _session(f"{handle.url}/room")
        await ws.send_str("bye")
        message = await ws.receive(timeout=5)
        await session.close()
        return message.type, ws.close_code, message.extra

    kind, code, reason = asyncio.run(talk())
    assert kind == aiohttp.WSMsgType.CLOSE
    assert (code, reason) == (4001, "worker says bye")


def test_a_dropped_client_closes_the_workers_socket(fake: tuple[FakeEmulator, ServeHandle]) -> None:
    emulator, handle = fake

    async def talk() -> None:
        session, ws = await _session(f"{handle.url}/room")
        await ws.send_str("x")
        await ws.receive(timeout=5)
        await session.close()  # no close frame: the connection is cut

        for _ in range(100):
            if emulator.sockets[0].closed_with is not None:
                return
            await asyncio.sleep(0.02)

    asyncio.run(talk())
    code, _ = emulator.sockets[0].closed_with or (None, None)
    assert code in (1006, 1000)


def test_a_worker_that_refuses_the_upgrade_answers_over_http(fake: tuple[FakeEmulator, ServeHandle]) -> None:
    _, handle = fake

    async def talk() -> int:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{handle.url}/plain") as response:
                return response.status

    assert asyncio.run(talk()) == 426
