"""The Python end of a WebSocket a worker accepted: ``resp.websocket`` after an upgrade.

``mf.dispatch_fetch(url, headers={"Upgrade": "websocket"})`` (or a stub's ``fetch``) answers
101 with ``resp.websocket``, a :class:`WebSocketClient` connected to the socket the worker
returned (the ``client`` half of a ``WebSocketPair``)::

    ws = resp.websocket
    ws.send("hello")                    # str -> text frame, bytes -> binary frame
    reply = ws.receive(timeout=1.0)     # str or bytes
    ws.close(1000, "bye")
    for message in ws: ...              # until the worker closes

The client never runs engine code on the caller's thread: ``send`` and ``close`` hand the
frame to the emulator (a :class:`ClientLink`) and return at once, and the engine hands frames
to the client with :meth:`WebSocketClient.deliver`, which only appends to a buffer and wakes
waiters (threads, and awaiting tasks of any event loop). So the client is thread-safe, its
async twins work from any loop, and the engine never blocks on a slow reader.

When the worker closes its end, the client answers with a close frame of the same code (as a
browser does), and :meth:`receive` raises :class:`WebSocketClosed` once the buffered messages
are read.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

from .errors import MfbookError

__all__ = ["ClientLink", "WebSocketClient", "WebSocketClosed"]

#: Close codes a client may send (RFC 6455 7.4; 1005/1006/1015 are never on the wire).
_RESERVED_CODES = frozenset({1004, 1005, 1006, 1015})


class WebSocketClosed(MfbookError):
    """The WebSocket is closed (and every message received before the close was read).

    Attributes:
        code: The close code the peer sent (1005 when its close frame had none, 1006 when the
            connection ended without a close frame).
        reason: The reason text of the close frame ("" when none).
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"WebSocket closed with code {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


class ClientLink(Protocol):
    """How a client hands frames to the emulator (implemented by the engine's socket hub).

    Both calls must return at once (they queue the work for the engine).
    """

    def send(self, data: str | bytes) -> None: ...

    def close(self, code: int, reason: str) -> None: ...

    def abort(self) -> None: ...


class WebSocketClient:
    """One end of a WebSocket connection, used from Python (threads or asyncio).

    Attributes are read-only properties: :attr:`closed`, :attr:`close_code`,
    :attr:`close_reason`.
    """

    def __init__(self, link: ClientLink, *, url: str = "") -> None:
        self._link = link
        self.url = url
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._buffer: deque[str | bytes] = deque()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        #: Set when this side sent its close frame (sending is over).
        self._sent_close: tuple[int, str] | None = None
        #: Set when the peer's close frame (or the end of the connection) arrived.
        self._peer_close: tuple[int, str] | None = None

    # ------------------------------------------------------------------ state
    @property
    def closed(self) -> bool:
        """True once the peer closed (or the connection ended); buffered messages may remain."""
        with self._lock:
            return self._peer_close is not None

    @property
    def close_code(self) -> int | None:
        """The peer's close code, or None while the connection is open."""
        with self._lock:
            return None if self._peer_close is None else self._peer_close[0]

    @property
    def close_reason(self) -> str | None:
        """The peer's close reason, or None while the connection is open."""
        with self._lock:
            return None if self._peer_close is None else self._peer_close[1]

    def __repr__(self) -> str:
        state = "open" if self._peer_close is None else f"closed {self._peer_close[0]}"
        return f"<WebSocketClient {self.url or '(worker)'} {state}>"

    # ------------------------------------------------------------------ sending
    def send(self, data: str | bytes) -> None:
        """Sends a text (``str``) or binary (``bytes``-like) message.

        Raises:
            TypeError: ``data`` is neither text nor bytes.
            WebSocketClosed: this side already called :meth:`close`, or the peer closed.
        """
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        if not isinstance(data, (str, bytes)):
            raise TypeError(f"WebSocket messages are str or bytes, not {type(data).__name__}")
        with self._lock:
            self._check_can_send()
            self._link.send(data)

    def _check_can_send(self) -> None:
        if self._sent_close is not None:
            raise WebSocketClosed(*self._sent_close)
        if self._peer_close is not None:
            raise WebSocketClosed(*self._peer_close)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Sends a close frame; calling it again (or after the peer closed) does nothing.

        Raises:
            ValueError: ``code`` is not a code a client may send (1000-4999 except 1004,
                1005, 1006 and 1015), or ``reason`` is longer than 123 UTF-8 bytes.
        """
        if not isinstance(code, int) or not 1000 <= code < 5000 or code in _RESERVED_CODES:
            raise ValueError(f"Invalid WebSocket close code: {code}.")
        if len(reason.encode("utf-8")) > 123:
            raise ValueError("A WebSocket close reason may not be longer than 123 bytes (UTF-8).")
        with self._lock:
            if self._sent_close is not None:
                return
            self._sent_close = (code, reason)
            if self._peer_close is not None:
                return  # the close handshake is over: we already answered the peer's frame
            self._link.close(code, reason)

    def abort(self) -> None:
        """Drops the connection without a close frame (as a closed browser tab does).

        The worker sees a close with code 1006 and ``wasClean`` false; this client is closed
        with code 1006 at once.
        """
        with self._lock:
            if self._peer_close is not None and self._sent_close is not None:
                return
            self._sent_close = (1006, "")
            if self._peer_close is None:
                self._peer_close = (1006, "")
                self._wake()
            self._link.abort()

    def __enter__(self) -> WebSocketClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Leaving a ``with`` block closes the connection normally (code 1000)."""
        self.close()

    async def send_async(self, data: str | bytes) -> None:
        """Awaitable twin of :meth:`send` (it never waits: the frame is queued)."""
        self.send(data)

    async def close_async(self, code: int = 1000, reason: str = "") -> None:
        """Awaitable twin of :meth:`close`."""
        self.close(code, reason)

    # ------------------------------------------------------------------ receiving
    def receive(self, timeout: float | None = None) -> str | bytes:
        """The next message: ``str`` for text, ``bytes`` for binary.

        Args:
            timeout: Seconds to wait; None waits until a message or the close arrives.

        Raises:
            WebSocketClosed: the peer closed and every earlier message was read.
            TimeoutError: nothing arrived within ``timeout``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                message = self._take()
                if message is not None:
                    return message
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("no WebSocket message arrived in time")
                self._ready.wait(remaining)

    async def receive_async(self, timeout: float | None = None) -> str | bytes:
        """Awaitable twin of :meth:`receive`, usable from any event loop."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            with self._lock:
                message = self._take()
                if message is not None:
                    return message
                future: asyncio.Future[None] = loop.create_future()
                waiter = (loop, future)
                self._waiters.append(waiter)
            try:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("no WebSocket message arrived in time")
                try:
                    await asyncio.wait_for(future, remaining)
                except asyncio.TimeoutError:
                    raise TimeoutError("no WebSocket message arrived in time") from None
            finally:
                with self._lock:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)

    def _take(self) -> str | bytes | None:
        """The next buffered message; raises once closed and drained (lock held)."""
        if self._buffer:
            return self._buffer.popleft()
        if self._peer_close is not None:
            raise WebSocketClosed(*self._peer_close)
        return None

    def __iter__(self) -> Iterator[str | bytes]:
        """Yields messages until the peer closes."""
        while True:
            try:
                yield self.receive()
            except WebSocketClosed:
                return

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[str | bytes]:
        while True:
            try:
                yield await self.receive_async()
            except WebSocketClosed:
                return

    # ------------------------------------------------------------------ engine side
    def deliver(self, message: str | bytes) -> None:
        """A message from the peer (called by the engine; never blocks on the reader)."""
        with self._lock:
            if self._peer_close is not None:
                return
            self._buffer.append(message)
            self._wake()

    def deliver_close(self, code: int, reason: str) -> tuple[int, str] | None:
        """The peer closed (called by the engine).

        Returns:
            The close frame to answer with (the peer's code, as browsers answer), or None when
            this side had already sent its own.
        """
        with self._lock:
            if self._peer_close is not None:
                return None
            self._peer_close = (code, reason)
            self._wake()
            if self._sent_close is not None:
                return None
            self._sent_close = (code, reason)
            return self._sent_close

    def _wake(self) -> None:
        self._ready.notify_all()
        for loop, future in self._waiters:
            try:
                loop.call_soon_threadsafe(_set_once, future)
            except RuntimeError:  # that loop is closed: nobody awaits there any more
                pass
        self._waiters.clear()


def _set_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
