"""EmulatorLoop: one daemon thread with its own asyncio loop per Miniflare instance.

All JavaScript runs on this thread (the QuickJS binding must only ever be used from one
thread), so callers on other threads — a notebook kernel's loop, pytest, a script — submit
coroutines and wait for them. Nothing here touches the caller's loop, so no ``nest_asyncio``.
"""

from __future__ import annotations

import _thread
import asyncio
import concurrent.futures
import selectors
import threading
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Generic, TypeVar

from .affinity import CpuFollower
from .errors import DisposedError

__all__ = ["EmulatorLoop"]

T = TypeVar("T")

_FROM_LOOP_THREAD = "Blocking mfbook call made from the emulator thread; use the *_async method."

# QuickJS recursion uses the C stack of the thread it runs on; give it room.
_THREAD_STACK_SIZE = 64 * 1024 * 1024


class _WakeSelector(selectors.BaseSelector):
    """A selector that sleeps on a bare lock instead of polling file descriptors.

    The emulator loop does no socket I/O of its own (storage backends are synchronous, the
    upstream handler runs in an executor), so its only wake-ups are timers and work handed
    over from other threads. Waking a thread blocked in ``epoll_wait`` through asyncio's
    self-pipe costs ~50 µs on a small VM; releasing a lock costs a fraction of that (less than
    a ``threading.Event``, whose condition variable runs Python code on both sides), and every
    blocking API call pays it twice.

    The lock is held while no wake-up is pending: :meth:`wake` releases it (a second release
    finds it released and is ignored) and :meth:`select` takes it back.
    """

    def __init__(self) -> None:
        self._pending = _thread.allocate_lock()
        self._pending.acquire()
        self._keys: dict[Any, selectors.SelectorKey] = {}

    def wake(self) -> None:
        try:
            self._pending.release()
        except RuntimeError:  # released already: a wake-up is pending
            pass

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = selectors.SelectorKey(fileobj, _fileno(fileobj), events, data)
        self._keys[fileobj] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._keys.pop(fileobj)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            self._pending.acquire()
        elif timeout > 0:
            self._pending.acquire(True, timeout)
        else:
            self._pending.acquire(False)
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._keys

    def close(self) -> None:
        self._keys.clear()


class Waiter(Generic[T]):
    """A one-shot value another thread blocks on, set from the emulator thread.

    Lighter than ``concurrent.futures.Future`` (one bare lock, no condition variable): the
    blocking API pays for it on every call (see :meth:`EmulatorLoop.post_and_wait`).
    """

    __slots__ = ("_lock", "_value", "_error", "_set")

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._lock.acquire()
        self._value: T | None = None
        self._error: BaseException | None = None
        self._set = False

    def set(self, value: T) -> None:
        """Sets the value and wakes the waiting thread; later calls are ignored."""
        self._settle(value, None)

    def fail(self, error: BaseException) -> None:
        """Makes :meth:`get` raise ``error`` (unless a value was set already)."""
        self._settle(None, error)

    def _settle(self, value: T | None, error: BaseException | None) -> None:
        if self._set:
            return
        self._value = value
        self._error = error
        self._set = True
        self._lock.release()

    def get(self) -> T:
        """Blocks until the value is set (a signal such as Ctrl-C interrupts the wait)."""
        with self._lock:
            pass
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def _set_results(batch: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, value in batch:
        if not future.done():  # a cancelled wait
            future.set_result(value)


def _fileno(fileobj: Any) -> int:
    return fileobj if isinstance(fileobj, int) else int(fileobj.fileno())


class _EmulatorEventLoop(asyncio.SelectorEventLoop):
    """asyncio loop whose cross-thread wake-up is a thread event (see :class:`_WakeSelector`)."""

    def __init__(self) -> None:
        self._wake_selector = _WakeSelector()
        super().__init__(selector=self._wake_selector)

    def _write_to_self(self) -> None:
        self._wake_selector.wake()


class EmulatorLoop:
    """Owns the emulator thread and its event loop."""

    def __init__(self, *, name: str = "mfbook-emulator") -> None:
        self.loop: asyncio.AbstractEventLoop = _EmulatorEventLoop()
        self._started = threading.Event()
        self._closed = False
        self._results: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
        previous = threading.stack_size()
        try:
            threading.stack_size(_THREAD_STACK_SIZE)
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()
        finally:
            threading.stack_size(previous)
        self._started.wait()
        assert self._thread.native_id is not None
        self._follower = CpuFollower(self._thread.native_id)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def in_loop_thread(self) -> bool:
        """True when called from the emulator thread itself."""
        return threading.current_thread() is self._thread

    def _check(self, coroutine: Coroutine[Any, Any, Any] | None = None) -> None:
        if self._closed:
            if coroutine is not None:
                coroutine.close()  # never started: no "coroutine was never awaited" warning
            raise DisposedError("This Miniflare instance has been disposed; create a new one.")

    def run(self, coroutine: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
        """Runs ``coroutine`` on the emulator loop and blocks until it finishes."""
        self._check(coroutine)
        if self.in_loop_thread():
            coroutine.close()
            raise RuntimeError(_FROM_LOOP_THREAD)
        mask = self._follower.hold()
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
            try:
                return future.result(timeout)
            except concurrent.futures.TimeoutError:
                future.cancel()
                raise
        finally:
            self._follower.release(mask)

    def call(self, function: Callable[[], T]) -> T:
        """Runs a plain function on the emulator thread and returns its result (or raises its error)."""
        self._check()
        if self.in_loop_thread():
            return function()

        def start(answer: Callable[[T], None]) -> None:
            answer(function())

        return self.post_and_wait(start)

    def post_and_wait(self, start: Callable[[Callable[[T], None]], None]) -> T:
        """Runs ``start(answer)`` on the emulator thread and blocks until it calls ``answer``.

        The hot path of every blocking API call: one bare-lock hand-over each way, and
        meanwhile the emulator thread runs on the caller's CPU (see :mod:`mfbook.affinity`).
        Later calls of ``answer`` are ignored; if ``start`` raises, so does this call.
        """
        self._check()
        if self.in_loop_thread():
            raise RuntimeError(_FROM_LOOP_THREAD)
        waiter: Waiter[T] = Waiter()

        def run() -> None:
            try:
                start(waiter.set)
            except BaseException as error:  # noqa: BLE001 - handed to the caller
                waiter.fail(error)

        mask = self._follower.hold()
        try:
            self.loop.call_soon_threadsafe(run)
            return waiter.get()
        finally:
            self._follower.release(mask)

    async def run_async(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Awaitable twin of :meth:`run`, usable from any other event loop."""
        self._check(coroutine)
        try:
            caller = asyncio.get_running_loop()
        except RuntimeError:
            caller = None
        if caller is self.loop:
            return await coroutine
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return await asyncio.wrap_future(future)

    def resolve_on(self, caller: asyncio.AbstractEventLoop, future: asyncio.Future[T], value: T) -> None:
        """Sets ``future`` (of another thread's loop) to ``value``; call on the emulator thread.

        Results for one caller loop are handed over in batches, one wake-up of that loop per
        emulator turn rather than one per result (a burst of concurrent requests from one
        notebook or test otherwise wakes its loop once per response).
        """
        batch = self._results.get(caller)
        if batch is None:
            batch = self._results[caller] = []
            if len(self._results) == 1:
                self.loop.call_soon(self._hand_over_results)
        batch.append((future, value))

    def _hand_over_results(self) -> None:
        results, self._results = self._results, {}
        for caller, batch in results.items():
            try:
                caller.call_soon_threadsafe(_set_results, batch)
            except RuntimeError:  # the caller's loop is closed: nobody is waiting any more
                pass

    def post(self, function: Callable[[], Any]) -> None:
        """Schedules a plain function on the emulator thread without waiting for it."""
        self._check()
        self.loop.call_soon_threadsafe(function)

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedules ``coroutine`` without waiting."""
        self._check(coroutine)
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def close(self, cleanup: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
        """Runs ``cleanup`` on the loop, then stops the thread. Safe to call twice."""
        if self._closed:
            return
        if cleanup is not None and not self.in_loop_thread():
            try:
                asyncio.run_coroutine_threadsafe(cleanup(), self.loop).result(timeout=30)
            except Exception:  # noqa: BLE001 - disposal must always finish
                pass
        self._closed = True
        self.loop.call_soon_threadsafe(self.loop.stop)
        if not self.in_loop_thread():
            self._thread.join(timeout=30)
