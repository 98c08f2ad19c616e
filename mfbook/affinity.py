"""Keeps the emulator thread on the CPU of the thread that is blocked waiting for it.

A blocking call (``dispatch_fetch``, a stub from Python, ``%do_get``) hands work to the
emulator thread and sleeps until the answer comes back. The two threads never run Python at
the same time (they share the GIL), yet Linux puts a woken thread on an idle CPU when it has
one, so every hand-over wakes a sleeping CPU: on a 2-vCPU VM that costs ~25 µs each way, a
sixth of a whole request. On one CPU the same hand-over is a plain context switch.

So for the duration of a blocking call the caller thread is held on the CPU it is running on
and the emulator thread is moved there (only when it is elsewhere), and the caller's own CPU
mask is put back as soon as the answer arrives: nothing the caller starts later inherits the
restriction. On platforms without ``sched_setaffinity``/``sched_getcpu``, or if the kernel
refuses (a cpuset that forbids it), this does nothing. ``MFBOOK_CPU_AFFINITY=0`` turns it off.
"""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = ["CpuFollower"]


def _sched_getcpu() -> Callable[[], int] | None:
    if not hasattr(os, "sched_setaffinity") or os.environ.get("MFBOOK_CPU_AFFINITY", "1") == "0":
        return None
    try:
        import ctypes  # not in every minimal Python build: then this module does nothing

        function = ctypes.CDLL(None).sched_getcpu
    except (ImportError, OSError, AttributeError):
        return None
    function.restype = ctypes.c_int
    function.argtypes = []
    getcpu: Callable[[], int] = function
    return getcpu


class CpuFollower:
    """Moves one thread (the emulator) to whichever CPU a blocked caller waits on.

    Args:
        thread_id: Native id of the thread that follows (``threading.Thread.native_id``).
    """

    def __init__(self, thread_id: int) -> None:
        self._thread_id = thread_id
        self._getcpu = _sched_getcpu()
        self._cpu = -1  # where the follower was last put

    @property
    def enabled(self) -> bool:
        return self._getcpu is not None

    def hold(self) -> set[int] | None:
        """Keeps the calling thread on its CPU and brings the follower there.

        Returns:
            The caller's previous CPU mask, for :meth:`release`; ``None`` when nothing changed.
        """
        getcpu = self._getcpu
        if getcpu is None:
            return None
        try:
            cpu = getcpu()
            if cpu < 0:
                return None
            mask = os.sched_getaffinity(0)
            if cpu != self._cpu:
                os.sched_setaffinity(self._thread_id, {cpu})
                self._cpu = cpu
            os.sched_setaffinity(0, {cpu})
        except OSError:  # a cpuset or seccomp policy says no: stop trying
            self._getcpu = None
            return None
        return mask

    def release(self, mask: set[int] | None) -> None:
        """Gives the calling thread back the CPU mask :meth:`hold` returned."""
        if mask is None:
            return
        try:
            os.sched_setaffinity(0, mask)
        except OSError:
            self._getcpu = None
