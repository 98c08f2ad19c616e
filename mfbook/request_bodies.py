"""Request bodies fed from Python iterables: ``dispatch_fetch(url, method="POST", body=chunks())``.

A request body given as an iterable (or async iterable) of ``bytes`` is not joined up front:
the worker's ``request.body`` is a ``ReadableStream`` whose every pull asks Python for the next
chunk (a ``body_pull`` host operation, answered in a later delivery), so a worker can start
answering before the caller has produced the whole body. A sync iterator is advanced in the
emulator's executor (a slow generator never holds the engine); an async iterator on the
caller's own event loop. A worker that cancels the body closes the iterator; so does the end
of the request when the body was never read.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .loop import EngineScheduler
    from .scheduling import Context, Worker

__all__ = ["BodySource", "RequestBodies", "is_body_source"]

BodySource = Iterable[bytes] | AsyncIterable[bytes]
#: ``settle(worker, ctx, op_id, ok, value)``: answers a host operation of an isolate.
Settle = Callable[["Worker", "Context", int, bool, Any], None]

_END = object()
_GONE = {"name": "TypeError", "message": "This request body is no longer available."}


def is_body_source(body: Any) -> bool:
    """Whether ``body`` is an iterable of chunks rather than bytes or text."""
    if body is None or isinstance(body, (bytes, bytearray, memoryview, str)):
        return False
    return isinstance(body, (Iterable, AsyncIterable))


def _chunk_text(chunk: Any) -> str:
    if isinstance(chunk, str):
        chunk = chunk.encode("utf-8")
    if not isinstance(chunk, (bytes, bytearray, memoryview)):
        raise TypeError(f"request body chunks must be bytes, got {type(chunk).__name__}")
    return bytes(chunk).decode("latin-1")


class _Source:
    def __init__(self, source: BodySource, caller: asyncio.AbstractEventLoop | None) -> None:
        self.sync: Iterator[bytes] | None = None
        self.async_: AsyncIterator[bytes] | None = None
        if isinstance(source, AsyncIterable):
            self.async_ = aiter(source)
        else:
            self.sync = iter(source)
        self.caller = caller
        self.busy = False  # a pull is running (the iterator cannot be closed meanwhile)
        self.discarded = False  # closed as soon as the running pull ends

    async def next(self, scheduler: EngineScheduler) -> Any:
        if self.sync is not None:
            return await scheduler.run_in_executor(None, next, self.sync, _END)
        assert self.async_ is not None
        step = anext(self.async_, _END)
        caller = self.caller
        if caller is None or caller is asyncio.get_running_loop() or caller.is_closed():
            return await step
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(step, caller))

    def close(self) -> None:
        if self.sync is not None:
            close = getattr(self.sync, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
        elif self.async_ is not None and self.caller is not None and not self.caller.is_closed():
            aclose = getattr(self.async_, "aclose", None)
            if callable(aclose):
                with contextlib.suppress(RuntimeError):
                    asyncio.run_coroutine_threadsafe(aclose(), self.caller)


class RequestBodies:
    """The Python iterables feeding request bodies now, by id, and their host operations."""

    def __init__(self, scheduler: EngineScheduler, settle: Settle) -> None:
        self._scheduler = scheduler
        self._settle = settle
        self._sources: dict[int, _Source] = {}
        self._ids = itertools.count(1)

    def add(self, source: BodySource, *, caller: asyncio.AbstractEventLoop | None = None) -> int:
        """Registers a body; ``caller`` is the event loop an async iterable belongs to."""
        body_id = next(self._ids)
        self._sources[body_id] = _Source(source, caller)
        return body_id

    def discard(self, body_id: int | None) -> None:
        """Forgets a body (its request ended) and closes its iterator; None: nothing to do."""
        if body_id is None:
            return
        source = self._sources.pop(body_id, None)
        if source is None:
            return
        source.discarded = True
        if not source.busy:
            source.close()

    def __len__(self) -> int:
        return len(self._sources)

    def ops(self) -> dict[str, Callable[[Worker, Context, dict[str, Any]], None]]:
        """Handlers of the ``body_pull`` and ``body_cancel`` host operations."""
        return {"body_pull": self._pull, "body_cancel": self._cancel}

    def _pull(self, worker: Worker, ctx: Context, entry: dict[str, Any]) -> None:
        op_id = entry["id"]
        source = self._sources.get(entry.get("s"))  # type: ignore[arg-type]
        if source is None or source.busy:
            self._settle(worker, ctx, op_id, False, _GONE)
            return
        source.busy = True

        async def run() -> None:
            try:
                chunk = await source.next(self._scheduler)
                value = None if chunk is _END else _chunk_text(chunk)
            except Exception as error:  # noqa: BLE001 - becomes the stream's error in JS
                self._settle(worker, ctx, op_id, False, {"name": type(error).__name__, "message": str(error)})
                return
            finally:
                source.busy = False
                if source.discarded:
                    source.close()
            if value is None:
                self.discard(entry["s"])
            self._settle(worker, ctx, op_id, True, value)

        self._scheduler.create_task(run())

    def _cancel(self, worker: Worker, ctx: Context, entry: dict[str, Any]) -> None:
        self.discard(entry.get("s"))
        self._settle(worker, ctx, entry["id"], True, None)
