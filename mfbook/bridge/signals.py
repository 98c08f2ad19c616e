"""Ctrl-C while JavaScript runs on the main thread.

Python handles a signal only between bytecodes of the main thread, so while the main thread
is inside QuickJS a Ctrl-C (or the kernel's "interrupt") would wait for the JavaScript to
finish. For the length of one blocking call, :class:`SigintGuard` therefore

- points the interpreter's wake-up fd (written by the C-level signal handler the moment a
  signal arrives) at a socket that a small watcher thread reads, which trips the running
  isolate at once (one store; QuickJS stops at its next poll), and forwards the byte to the
  wake-up fd that was set before, if any;
- replaces the Python SIGINT handler with one that only records the signal, so the
  ``KeyboardInterrupt`` is raised where the engine's state is consistent: when the call
  returns, as :class:`mfbook.errors.Interrupted`, or by calling the previous handler.

Both are put back before the call returns; nothing changes outside a blocking call, on
threads other than the main one, or where SIGINT is ignored or left to the OS.
"""

from __future__ import annotations

# The C functions behind ``signal``: its wrappers convert to enums and cost ~3 µs a call,
# which a blocking call on the main thread would pay four times.
import _signal
import os
import signal
import socket
import threading
from collections.abc import Callable
from signal import SIGINT
from types import FrameType, TracebackType
from typing import Any

__all__ = ["SigintGuard"]


class _Watcher:
    """One daemon thread per process, woken by the wake-up fd while a guard is active."""

    def __init__(self) -> None:
        self.reader, self.writer = socket.socketpair()
        self.writer.setblocking(False)
        self.trip: Callable[[], None] | None = None
        self.forward_to = -1
        thread = threading.Thread(target=self._run, name="mfbook-sigint", daemon=True)
        thread.start()

    def _run(self) -> None:
        while True:
            try:
                data = self.reader.recv(64)
            except OSError:
                return
            if not data:
                return
            if SIGINT in data:
                trip = self.trip
                if trip is not None:
                    trip()
            forward = self.forward_to
            if forward != -1:
                try:
                    os.write(forward, data)
                except OSError:
                    pass


_watcher: _Watcher | None = None
_watcher_lock = threading.Lock()


def _get_watcher() -> _Watcher:
    global _watcher
    watcher = _watcher
    if watcher is not None:
        return watcher
    with _watcher_lock:
        if _watcher is None:
            _watcher = _Watcher()
        return _watcher


_MAIN_THREAD_ID = threading.main_thread().ident


class SigintGuard:
    """Lets Ctrl-C stop the JavaScript of one blocking call on the main thread.

    Args:
        trip: Stops the running JavaScript; called from the watcher thread (must be
            thread-safe and quick).

    Attributes:
        interrupted: True once a SIGINT arrived while the guard was active.
    """

    __slots__ = ("_trip", "_active", "_previous_handler", "_previous_fd", "interrupted", "_frame")

    def __init__(self, trip: Callable[[], None]) -> None:
        self._trip = trip
        self._active = False
        self._previous_handler: Any = None
        self._previous_fd = -1
        self.interrupted = False
        self._frame: FrameType | None = None

    def __enter__(self) -> SigintGuard:
        if threading.get_ident() != _MAIN_THREAD_ID:
            return self
        previous = _signal.getsignal(SIGINT)
        if not callable(previous):  # SIG_IGN, SIG_DFL or set outside Python: not ours to change
            return self
        watcher = _get_watcher()
        self._previous_handler = previous
        _signal.signal(SIGINT, self._record)
        try:
            self._previous_fd = _signal.set_wakeup_fd(watcher.writer.fileno(), warn_on_full_buffer=False)
        except (ValueError, OSError):
            _signal.signal(SIGINT, previous)
            return self
        watcher.forward_to = self._previous_fd
        watcher.trip = self._trip
        self._active = True
        return self

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.interrupted = True
        self._frame = frame
        self._trip()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._active:
            return
        self._active = False
        watcher = _get_watcher()
        watcher.trip = None
        watcher.forward_to = -1
        _signal.set_wakeup_fd(self._previous_fd, warn_on_full_buffer=False)
        _signal.signal(SIGINT, self._previous_handler)

    def raise_if_interrupted(self, message: str) -> None:
        """After the call: re-delivers the recorded Ctrl-C (if any) at this safe point.

        With Python's default handler this raises :class:`mfbook.errors.Interrupted`;
        another handler is called as it would have been.
        """
        if not self.interrupted:
            return
        self.interrupted = False
        handler = self._previous_handler
        if handler is signal.default_int_handler or handler is None:
            from ..errors import Interrupted

            raise Interrupted(message)
        handler(SIGINT, self._frame)
