"""EmulatorLoop: the engine lock, and a background thread for work nobody waits on.

One lock per ``Miniflare`` instance (the *engine lock*) guards every isolate and all of the
runtime's state. A blocking call (``dispatch_fetch``, stubs and storage used from Python,
the magics) takes it and runs its JavaScript on the caller's own thread (:meth:`holding`);
no thread hop is paid. Timers, alarms, retries after a back-off and I/O that no caller is
waiting for run on a daemon thread with its own asyncio loop, which holds the engine lock
whenever it runs a callback and lets go of it only while it sleeps (see
:class:`_WakeSelector`). The ``*_async`` twins hand their work to that thread and await the
answer from any event loop; nothing here touches the caller's loop (no ``nest_asyncio``),
its CPU affinity or, beyond one blocking call on the main thread, its signal handlers.
"""

from __future__ import annotations

import _thread
import asyncio
import concurrent.futures
import math
import selectors
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from .errors import DisposedError

__all__ = ["EmulatorLoop", "EngineScheduler"]

T = TypeVar("T")

_FROM_LOOP_THREAD = (
    "Blocking mfbook call made from emulator code (the emulator thread, or a callback the emulator runs); "
    "use the *_async method."
)

# QuickJS recursion uses the C stack of the thread it runs on; give it room.
_THREAD_STACK_SIZE = 64 * 1024 * 1024


class _WakeSelector(selectors.BaseSelector):
    """A selector that sleeps on a bare lock, and lets go of the engine lock while it sleeps.

    The emulator loop does no socket I/O of its own (storage backends are synchronous, the
    upstream handler runs in an executor), so its only wake-ups are timers and work handed
    over from other threads. Waking a thread blocked in ``epoll_wait`` through asyncio's
    self-pipe costs ~50 µs on a small VM; releasing a lock costs a fraction of that.

    The wake lock is held while no wake-up is pending: :meth:`wake` releases it (a second
    release finds it released and is ignored) and :meth:`select` takes it back. The engine
    lock is held by the loop thread at all other times, so every callback of the loop runs
    under it; sleeping is the one moment other threads may drive the engine.
    """

    def __init__(self, engine_lock: threading.Lock, clock: Callable[[], float]) -> None:
        self._pending = _thread.allocate_lock()
        self._pending.acquire()
        self._engine_lock = engine_lock
        self._clock = clock
        self._keys: dict[Any, selectors.SelectorKey] = {}
        #: When the sleeping loop wakes up by itself (loop clock; inf: only when woken). Read
        #: under the engine lock by other threads scheduling a timer: one due later than this
        #: needs no wake-up, since the loop recomputes its timeout from all timers on waking.
        self.wakes_at = -math.inf

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
        if timeout is not None and timeout <= 0:
            self._pending.acquire(False)
            return []
        self.wakes_at = math.inf if timeout is None else self._clock() + timeout
        self._engine_lock.release()
        try:
            if timeout is None:
                self._pending.acquire()
            else:
                self._pending.acquire(True, timeout)
        finally:
            self._engine_lock.acquire()
            self.wakes_at = -math.inf  # awake: it recomputes its timeout before sleeping again
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

    def is_set(self) -> bool:
        """Whether a value or an error was set."""
        return self._set

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
    """asyncio loop whose cross-thread wake-up is a bare lock (see :class:`_WakeSelector`)."""

    def __init__(self, engine_lock: threading.Lock) -> None:
        self._wake_selector = _WakeSelector(engine_lock, self.time)
        super().__init__(selector=self._wake_selector)

    def wakes_before(self, when: float) -> bool:
        """Whether the loop, asleep, will wake by itself no later than ``when`` (loop clock)."""
        return self._wake_selector.wakes_at <= when

    def _write_to_self(self) -> None:
        self._wake_selector.wake()


class EngineScheduler:
    """What the runtime schedules on the background loop, from whichever thread holds the engine.

    The runtime runs on a caller's thread (under the engine lock) as often as on the loop
    thread. asyncio's ``call_soon``/``call_later`` are not thread-safe, but under the engine
    lock nothing else touches the loop's queues (the loop thread holds the lock while it runs
    callbacks); what they lack is a wake-up of a loop asleep with an older timeout, which
    these methods add when called off the loop thread.
    """

    __slots__ = ("loop", "_thread")

    def __init__(self, loop: _EmulatorEventLoop, thread: threading.Thread) -> None:
        self.loop = loop
        self._thread = thread

    def _off_thread(self) -> bool:
        return threading.current_thread() is not self._thread

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> asyncio.Handle:
        if self._off_thread():
            return self.loop.call_soon_threadsafe(callback, *args)
        return self.loop.call_soon(callback, *args)

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> asyncio.TimerHandle:
        handle = self.loop.call_later(delay, callback, *args)
        # Off the loop thread, under the engine lock: the loop is asleep (or about to
        # recompute its timeout). Waking it costs two thread switches, paid per request
        # for the wall-clock limit's timer unless the loop would wake by then anyway.
        if self._off_thread() and not self.loop.wakes_before(handle.when()):
            self.loop._write_to_self()
        return handle

    def create_task(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        if self._off_thread():
            self.loop.call_soon_threadsafe(self.loop.create_task, coroutine)
        else:
            self.loop.create_task(coroutine)

    def create_future(self) -> asyncio.Future[Any]:
        return self.loop.create_future()

    def run_in_executor(self, executor: Any, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        return self.loop.run_in_executor(executor, function, *args)

    def time(self) -> float:
        return self.loop.time()


class EmulatorLoop:
    """Owns the engine lock, the background thread and its event loop."""

    def __init__(self, *, name: str = "mfbook-emulator") -> None:
        #: Guards every isolate and the runtime's state (see the module docstring).
        self.lock = threading.Lock()
        #: Thread id of the caller holding the engine through :meth:`holding`, if any.
        self.owner: int | None = None
        self._event_loop = _EmulatorEventLoop(self.lock)
        self.loop: asyncio.AbstractEventLoop = self._event_loop
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
        self.scheduler = EngineScheduler(self._event_loop, self._thread)

    def _run(self) -> None:
        self.lock.acquire()
        try:
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(self._started.set)
            try:
                self.loop.run_forever()
            finally:
                self.loop.close()
        finally:
            self.lock.release()

    @property
    def closed(self) -> bool:
        return self._closed

    def in_loop_thread(self) -> bool:
        """True when called from the emulator thread itself."""
        return threading.current_thread() is self._thread

    def in_engine(self) -> bool:
        """True on a thread that runs engine code now (the loop thread, or a holding caller)."""
        return threading.current_thread() is self._thread or self.owner == threading.get_ident()

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Holds the engine lock on the caller's thread, to run engine code (and JS) here.

        Raises:
            DisposedError: The instance was disposed.
            RuntimeError: Called from engine code (a console callback, the loop thread):
                the engine is busy with the very call that would wait for it.
        """
        self._check()
        if self.in_engine():
            raise RuntimeError(_FROM_LOOP_THREAD)
        self.lock.acquire()
        try:
            self._check()
            self.owner = threading.get_ident()
            yield
        finally:
            self.owner = None
            if self._event_loop._ready:  # type: ignore[attr-defined]
                # e.g. a future completed here: its callbacks are the loop's to run.
                self._event_loop._write_to_self()
            self.lock.release()

    def _check(self, coroutine: Coroutine[Any, Any, Any] | None = None) -> None:
        if self._closed:
            if coroutine is not None:
                coroutine.close()  # never started: no "coroutine was never awaited" warning
            raise DisposedError("This Miniflare instance has been disposed; create a new one.")

    def run(self, coroutine: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
        """Runs ``coroutine`` on the emulator loop and blocks until it finishes."""
        self._check(coroutine)
        if self.in_engine():
            coroutine.close()
            raise RuntimeError(_FROM_LOOP_THREAD)
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def call(self, function: Callable[[], T]) -> T:
        """Runs a plain function under the engine lock on the caller's thread."""
        self._check()
        if self.in_engine():
            return function()
        with self.holding():
            return function()

    def post_and_wait(self, start: Callable[[Callable[[T], None]], None]) -> T:
        """Runs ``start(answer)`` on the emulator thread and blocks until it calls ``answer``.

        For callers that must not run JavaScript themselves (a thread whose stack is too
        small for the JS stack limit). Later calls of ``answer`` are ignored; if ``start``
        raises, so does this call.
        """
        self._check()
        if self.in_engine():
            raise RuntimeError(_FROM_LOOP_THREAD)
        waiter: Waiter[T] = Waiter()

        def run() -> None:
            try:
                start(waiter.set)
            except BaseException as error:  # noqa: BLE001 - handed to the caller
                waiter.fail(error)

        self.loop.call_soon_threadsafe(run)
        return waiter.get()

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
        if not self.in_loop_thread():  # a caller's thread finished it: hand it over directly
            try:
                caller.call_soon_threadsafe(_set_results, [(future, value)])
            except RuntimeError:
                pass
            return
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
