"""Pumps the messages of a served WebSocket between a real client and the worker's socket.

The worker's side is the ``mfbook.WebSocketClient`` that ``dispatch_fetch_async`` returns
with a 101 response (``send_async(str | bytes)``, ``receive_async()``, ``close_async(code,
reason)``; ``receive_async`` raises ``mfbook.WebSocketClosed(.code, .reason)`` once the worker
has closed). Text stays text and bytes stay bytes. A close from either end is passed to the
other with its code and reason (a close without a code, 1005, is passed as 1000, the code a
sender may use); when the client's connection drops, the worker's socket is aborted: it sees
1006, not clean, as when a browser tab closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from ..http import Response

__all__ = ["bridge_websocket"]

_SENDABLE_CLOSE = 1000


def _closed_type() -> tuple[type[BaseException], ...]:
    import mfbook

    closed = getattr(mfbook, "WebSocketClosed", None)
    return (closed,) if isinstance(closed, type) else ()


def _close_code(code: int | None) -> int:
    # 1005 (no code) and 1006 (dropped) are reported, never sent.
    return _SENDABLE_CLOSE if code is None or code in (1005, 1006) else code


async def bridge_websocket(request: web.Request, response: Response, worker: Any) -> web.WebSocketResponse:
    protocol = response.headers.get("sec-websocket-protocol")
    client = web.WebSocketResponse(protocols=(protocol,) if protocol else (), autoping=True)
    await client.prepare(request)
    closed_type = _closed_type()

    worker_closed = False

    async def client_to_worker() -> None:
        code, reason = 1006, ""
        while True:
            message = await client.receive()
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                await worker.send_async(message.data)
            elif message.type == WSMsgType.CLOSE:
                code, reason = int(message.data), str(message.extra or "")
                break
            else:  # CLOSING, CLOSED (the connection dropped) or ERROR
                break
        if worker_closed:
            return
        if code == 1006 and callable(getattr(worker, "abort", None)):
            worker.abort()  # the connection dropped: the worker sees 1006, not clean
            return
        try:
            await worker.close_async(_close_code(code), reason)
        except Exception:  # noqa: BLE001 - a code the worker's API refuses: close plainly
            with contextlib.suppress(Exception):
                await worker.close_async(_SENDABLE_CLOSE, "")

    async def worker_to_client() -> None:
        while True:
            try:
                message = await worker.receive_async()
            except closed_type as closed:
                nonlocal worker_closed
                worker_closed = True
                code = getattr(closed, "code", None)
                reason = str(getattr(closed, "reason", "") or "")
                await client.close(code=_close_code(code), message=reason.encode("utf-8"))
                return
            if isinstance(message, str):
                await client.send_str(message)
            elif isinstance(message, (bytes, bytearray, memoryview)):
                await client.send_bytes(bytes(message))
            else:  # a message object: its data
                data = getattr(message, "data", message)
                await (client.send_str(data) if isinstance(data, str) else client.send_bytes(bytes(data)))

    inbound = asyncio.ensure_future(client_to_worker())
    outbound = asyncio.ensure_future(worker_to_client())
    try:
        done, _ = await asyncio.wait((inbound, outbound), return_when=asyncio.FIRST_COMPLETED)
        if outbound in done:
            # The worker closed: the client's close reply ends the inbound pump.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(inbound), 5)
        else:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(outbound), 5)
    finally:
        for task in (inbound, outbound):
            if not task.done():
                task.cancel()
        for task in (inbound, outbound):
            with contextlib.suppress(BaseException):
                await task
    return client
