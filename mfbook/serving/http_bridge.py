"""One HTTP request from a real client → ``dispatch_fetch_async`` → its HTTP response.

The worker sees the URL the client asked for (scheme, ``Host`` and path as sent), every
request header in order (repeated ones kept), the body (streamed to the worker as it arrives
when it is long or chunked), and ``request.cf`` (the server's
``cf``, else :data:`mfbook.cf.DEFAULT_CF`). Its response goes back with its status, reason
phrase and headers, and a body the worker streams is written chunk by chunk as it is
produced (a client that goes away cancels it: the worker's ``cancel()`` runs). The length and
framing headers are the server's to write. A request
with ``Upgrade: websocket`` whose worker answers 101 with a WebSocket becomes a WebSocket
connection (``websocket_bridge.py``).

Errors: a JavaScript exception is already a 500 response from ``dispatch_fetch_async`` (as
Miniflare shows it); a request the runtime refuses (a bad URL or method) is a 400; any
other emulator error (a limit, a disposed emulator) is a 500 whose body names it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web
from multidict import CIMultiDict

from ..errors import MfbookError
from ..streamed import StreamedResponse
from .websocket_bridge import bridge_websocket

if TYPE_CHECKING:
    from ..http import Response
    from ..miniflare import Miniflare

__all__ = ["HttpBridge"]

logger = logging.getLogger("mfbook.serve")

# Framing is the server's: it writes Content-Length or chunks itself.
_HOP_BY_HOP = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "proxy-connection", "te"}
)
_NO_BODY_STATUSES = frozenset({101, 204, 205, 304})
#: Request bodies up to this length are read before the worker runs; longer or chunked ones stream.
_READ_AT_ONCE = 1024 * 1024


class HttpBridge:
    """The aiohttp handler for every path and method of a served emulator."""

    def __init__(self, mf: Miniflare, *, cf: Mapping[str, Any] | None = None) -> None:
        self.mf = mf
        #: ``request.cf`` of served requests (None: the documented default).
        self.cf = cf

    async def handle(self, request: web.Request) -> web.StreamResponse:
        upgrade = request.headers.get("upgrade", "").lower() == "websocket"
        body = await _request_body(request)
        try:
            response = await self.mf.dispatch_fetch_async(
                str(request.url),
                method=request.method,
                headers=list(request.headers.items()),
                body=body,
                cf=self.cf,
                stream=True,
            )
        except TypeError as error:
            return web.Response(status=400, text=f"Bad request: {error}")
        except MfbookError as error:
            logger.error("serving %s %s failed: %s", request.method, request.path_qs, error)
            return web.Response(status=500, text=f"{type(error).__name__}: {error}")
        websocket = getattr(response, "websocket", None)
        if upgrade and response.status == 101 and websocket is not None:
            return await bridge_websocket(request, response, websocket)
        if isinstance(response, StreamedResponse):
            return await _streamed_response(request, response)
        return _http_response(response)


async def _request_body(request: web.Request) -> bytes | AsyncIterator[bytes] | None:
    """A small body with a known length is read at once; any other streams to the worker."""
    if not request.body_exists or request.method in ("GET", "HEAD"):
        return None
    length = request.content_length
    if length is not None and length <= _READ_AT_ONCE:
        return await request.read()
    return request.content.iter_any()


def _headers(response: Response) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in response.headers.pairs():
        if name not in _HOP_BY_HOP:
            headers.add(name, value)
    return headers


async def _streamed_response(request: web.Request, response: StreamedResponse) -> web.StreamResponse:
    """Writes each chunk as the worker produces it; a client that goes away cancels the stream."""
    out = web.StreamResponse(status=response.status, reason=response.status_text or None, headers=_headers(response))
    try:
        await out.prepare(request)
        async for chunk in response:
            await out.write(chunk)
        await out.write_eof()
    except ConnectionError:
        pass  # the client went away: the stream is cancelled below
    except MfbookError as error:
        # The status line is sent: cut the connection so the client sees a broken body.
        logger.error("serving %s %s: the body stream failed: %s", request.method, request.path_qs, error)
        if request.transport is not None:
            request.transport.abort()
    finally:
        if not response.stream.finished:  # the client went away (or the handler was cancelled)
            await asyncio.shield(response.aclose())
    return out


def _http_response(response: Response) -> web.Response:
    headers = _headers(response)
    status = response.status
    if status == 101:  # a 101 without a WebSocket (or to a plain request) cannot be sent as is
        return web.Response(status=500, text="The worker answered 101 without an upgraded WebSocket.")
    body = b"" if status in _NO_BODY_STATUSES else response.body
    return web.Response(status=status, reason=response.status_text or None, headers=headers, body=body)
