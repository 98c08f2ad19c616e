"""Response bodies that arrive chunk by chunk: ``dispatch_fetch(..., stream=True)``.

A worker's response whose body is a ``ReadableStream`` is not read to its end inside the
isolate: the status and headers come back as soon as the handler returns, and each chunk is
fetched when the Python reader asks for it (one ``pullBody`` event, see
``mfbook/js/prelude/body_streams.js``). So an endless or slow stream can be read as it is
produced, and a reader that stops early cancels it: the worker's ``cancel()`` runs.

Each wait for a chunk is bounded by the wall-clock limit (``wall_limit_ms``): a stream that
stops producing fails its reader with :class:`mfbook.LimitExceeded`, and a stream that nothing
can ever feed again fails with "The script will never generate a response."; either way the
stream is cancelled and the emulator stays usable.

>>> with mf.dispatch_fetch("http://localhost/feed", stream=True) as response:  # doctest: +SKIP
...     for chunk in response:
...         print(chunk)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any

from .errors import LimitExceeded
from .http import HeadersInput, Response

__all__ = ["BodyStream", "StreamedResponse"]

#: ``deliver("pullBody" | "cancelBody")``: runs that event for this stream and returns its value.
Deliver = Callable[[str], Any]
DeliverAsync = Callable[[str], Awaitable[Any]]


def _stalled(error: LimitExceeded) -> LimitExceeded:
    """The wall-clock limit ran out while waiting for a chunk: say so in the body's terms."""
    message = (
        "The response body stream stopped producing: no chunk came within the wall-clock limit "
        "(Miniflare(wall_limit_ms=...)), so it was cancelled. " + error.js_message
    )
    return LimitExceeded(error.name, message, error.stack)


class BodyStream:
    """The Python end of one response body stream in an isolate."""

    def __init__(
        self, deliver: Deliver, deliver_async: DeliverAsync, *, on_finish: Callable[[], None] | None = None
    ) -> None:
        self._deliver = deliver
        self._deliver_async = deliver_async
        self._on_finish = on_finish
        self._finished = False

    @property
    def finished(self) -> bool:
        """True once the stream ended, failed or was cancelled: no more events are sent."""
        return self._finished

    @finished.setter
    def finished(self, value: bool) -> None:
        if value and not self._finished and self._on_finish is not None:
            self._on_finish()
        self._finished = value

    @staticmethod
    def _chunk(value: Any) -> bytes | None:
        if not isinstance(value, dict) or value.get("done", True):
            return None
        return str(value.get("chunk", "")).encode("latin-1")

    def pull(self) -> bytes | None:
        """The next chunk, or None at the end.

        Raises:
            WorkerError: The stream errored (``LimitExceeded`` when it stopped producing).
        """
        if self.finished:
            return None
        try:
            chunk = self._chunk(self._deliver("pullBody"))
        except LimitExceeded as error:
            self._give_up()
            raise _stalled(error) from None
        except BaseException:
            self._give_up()
            raise
        if chunk is None:
            self.finished = True
        return chunk

    async def pull_async(self) -> bytes | None:
        """Awaitable twin of :meth:`pull`."""
        if self.finished:
            return None
        try:
            chunk = self._chunk(await self._deliver_async("pullBody"))
        except LimitExceeded as error:
            await self._give_up_async()
            raise _stalled(error) from None
        except BaseException:
            await self._give_up_async()
            raise
        if chunk is None:
            self.finished = True
        return chunk

    def cancel(self) -> None:
        """Cancels the stream in the worker (its ``cancel()`` runs); nothing if it has ended."""
        if not self.finished:
            self.finished = True
            self._deliver("cancelBody")

    async def cancel_async(self) -> None:
        """Awaitable twin of :meth:`cancel`."""
        if not self.finished:
            self.finished = True
            await self._deliver_async("cancelBody")

    def _give_up(self) -> None:
        # After a failed pull: cancel what is left in the worker, best effort.
        if not self.finished:
            self.finished = True
            with contextlib.suppress(Exception):
                self._deliver("cancelBody")

    async def _give_up_async(self) -> None:
        if not self.finished:
            self.finished = True
            with contextlib.suppress(Exception):
                await self._deliver_async("cancelBody")


class StreamedResponse(Response):
    """A :class:`Response` whose body is read as it arrives.

    Iterate it (``for chunk in response`` / ``response.iter_bytes()`` / ``async for``) to get
    the chunks as the worker produces them; ``body``, ``text()`` and ``json()`` read the rest
    to the end (chunks already iterated are not kept). ``close()`` (or leaving a ``with``
    block) before the end cancels the stream.
    """

    _buffer: bytes

    def __init__(self, status: int, *, stream: BodyStream, headers: HeadersInput = None, status_text: str = "") -> None:
        super().__init__(status, headers=headers, status_text=status_text)
        self.stream = stream

    # ``Response.__init__`` assigns ``body``: the property accepts that one assignment.
    @property
    def body(self) -> bytes:
        """The rest of the body, read to its end (then kept)."""
        if not self.stream.finished:
            self._buffer = self._buffer + b"".join(self.iter_bytes())
        return self._buffer

    @body.setter
    def body(self, value: bytes) -> None:
        self._buffer = value

    def iter_bytes(self) -> Iterator[bytes]:
        """The chunks as they arrive (blocking); an early ``break`` leaves the rest unread."""
        while True:
            chunk = self.stream.pull()
            if chunk is None:
                return
            if chunk:
                yield chunk

    def __iter__(self) -> Iterator[bytes]:
        return self.iter_bytes()

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """Awaitable twin of :meth:`iter_bytes`."""
        while True:
            chunk = await self.stream.pull_async()
            if chunk is None:
                return
            if chunk:
                yield chunk

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.aiter_bytes()

    async def aread(self) -> bytes:
        """Awaitable twin of :attr:`body`."""
        if not self.stream.finished:
            self._buffer = self._buffer + b"".join([chunk async for chunk in self.aiter_bytes()])
        return self._buffer

    def close(self) -> None:
        """Stops reading: an unfinished stream is cancelled in the worker."""
        self.stream.cancel()

    async def aclose(self) -> None:
        """Awaitable twin of :meth:`close`."""
        await self.stream.cancel_async()

    def __enter__(self) -> StreamedResponse:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> StreamedResponse:
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<StreamedResponse [{self.status}]>"

    def _repr_html_(self) -> str | None:
        if not self.stream.finished:
            import html

            return f"<div class='mf-response'><b>{self.status}</b> {html.escape(self.status_text)} (streaming)</div>"
        return super()._repr_html_()
