"""The Python WebSocket client on its own: buffering, close handshake, threads and asyncio.

The engine side is replaced by a recording link (the client's only dependency), so these
tests pin the client's contract without a worker.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from mfbook import WebSocketClient, WebSocketClosed


class RecordingLink:
    def __init__(self) -> None:
        self.frames: list[tuple[Any, ...]] = []

    def send(self, data: str | bytes) -> None:
        self.frames.append(("send", data))

    def close(self, code: int, reason: str) -> None:
        self.frames.append(("close", code, reason))

    def abort(self) -> None:
        self.frames.append(("abort",))


def make() -> tuple[WebSocketClient, RecordingLink]:
    link = RecordingLink()
    return WebSocketClient(link, url="http://x/"), link


def test_send_hands_text_and_bytes_to_the_link() -> None:
    client, link = make()
    client.send("hi")
    client.send(b"\x00\xff")
    client.send(bytearray(b"ab"))
    assert link.frames == [("send", "hi"), ("send", b"\x00\xff"), ("send", b"ab")]


def test_send_of_other_types_is_a_type_error() -> None:
    client, _ = make()
    with pytest.raises(TypeError, match="str or bytes"):
        client.send(42)  # type: ignore[arg-type]


def test_messages_are_received_in_order() -> None:
    client, _ = make()
    client.deliver("a")
    client.deliver(b"b")
    assert client.receive(timeout=0) == "a"
    assert client.receive(timeout=0) == b"b"


def test_receive_times_out_with_timeout_error() -> None:
    client, _ = make()
    with pytest.raises(TimeoutError):
        client.receive(timeout=0.01)


def test_peer_close_is_answered_and_raised_after_the_buffer_drains() -> None:
    client, _ = make()
    client.deliver("last")
    echo = client.deliver_close(4001, "done")
    assert echo == (4001, "done")  # answered with the peer's code, as browsers do
    assert client.closed and client.close_code == 4001 and client.close_reason == "done"
    assert client.receive() == "last"
    with pytest.raises(WebSocketClosed) as info:
        client.receive()
    assert (info.value.code, info.value.reason) == (4001, "done")


def test_close_sends_once_and_blocks_later_sends() -> None:
    client, link = make()
    client.close(1000, "bye")
    client.close(1000, "again")
    assert link.frames == [("close", 1000, "bye")]
    with pytest.raises(WebSocketClosed):
        client.send("late")
    assert client.deliver_close(1000, "bye") is None  # our close already went out: no echo


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 5000])
def test_close_refuses_codes_a_client_may_not_send(code: int) -> None:
    client, link = make()
    with pytest.raises(ValueError, match=f"Invalid WebSocket close code: {code}"):
        client.close(code)
    assert link.frames == []


def test_close_refuses_a_reason_over_123_bytes() -> None:
    client, _ = make()
    with pytest.raises(ValueError, match="123 bytes"):
        client.close(1000, "é" * 62)


def test_iteration_ends_at_the_close() -> None:
    client, _ = make()
    for message in ("a", "b"):
        client.deliver(message)
    client.deliver_close(1000, "")
    assert list(client) == ["a", "b"]


def test_a_waiting_thread_is_woken_by_a_delivery() -> None:
    client, _ = make()
    got: list[str | bytes] = []
    reader = threading.Thread(target=lambda: got.append(client.receive(timeout=5)))
    reader.start()
    time.sleep(0.05)
    client.deliver("wake")
    reader.join(5)
    assert got == ["wake"]


def test_receive_async_is_woken_from_another_thread() -> None:
    client, _ = make()

    async def main() -> list[str | bytes]:
        threading.Timer(0.05, lambda: client.deliver("x")).start()
        first = await client.receive_async(timeout=5)
        threading.Timer(0.05, lambda: client.deliver_close(1000, "")).start()
        rest = [message async for message in client]
        return [first, *rest]

    assert asyncio.run(main()) == ["x"]


def test_receive_async_times_out() -> None:
    client, _ = make()

    async def main() -> None:
        await client.receive_async(timeout=0.01)

    with pytest.raises(TimeoutError):
        asyncio.run(main())


def test_async_twins_send_and_close() -> None:
    client, link = make()

    async def main() -> None:
        await client.send_async("a")
        await client.close_async(4000, "r")

    asyncio.run(main())
    assert link.frames == [("send", "a"), ("close", 4000, "r")]


def test_abort_closes_at_once_and_tells_the_link() -> None:
    client, link = make()
    client.abort()
    assert link.frames == [("abort",)]
    assert client.close_code == 1006
    with pytest.raises(WebSocketClosed):
        client.receive(timeout=0)


def test_a_with_block_closes_normally() -> None:
    client, link = make()
    with client as ws:
        ws.send("x")
    assert link.frames == [("send", "x"), ("close", 1000, "")]
