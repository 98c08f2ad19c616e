"""How much C stack the current thread has, so JS runs only where its stack limit fits.

QuickJS counts recursion on the C stack of the thread that runs it, up to the isolate's JS
stack limit. A thread whose whole stack is smaller than that limit plus room for the
interpreter would crash on deep recursion instead of throwing ``RangeError`` (musl's default
thread stack is 128 KiB; glibc's follows ``ulimit -s``), so blocking calls from such threads
hand their JavaScript over to the engine's own thread.
"""

from __future__ import annotations

import ctypes
import threading
from functools import cache

__all__ = ["current_stack_size"]

_local = threading.local()


class _PthreadAttr(ctypes.Structure):
    _fields_ = [("opaque", ctypes.c_byte * 128)]  # larger than pthread_attr_t on every ABI


@cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols, libc's among them (find_library forks)
        getattr(libc, "pthread_getattr_np")  # noqa: B009 - glibc/musl only
    except (OSError, AttributeError):
        return None
    libc.pthread_self.restype = ctypes.c_ulong
    libc.pthread_getattr_np.argtypes = [ctypes.c_ulong, ctypes.POINTER(_PthreadAttr)]
    libc.pthread_attr_getstack.argtypes = [
        ctypes.POINTER(_PthreadAttr),
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.POINTER(ctypes.c_size_t),
    ]
    libc.pthread_attr_destroy.argtypes = [ctypes.POINTER(_PthreadAttr)]
    return libc


def _measure() -> int | None:
    libc = _libc()
    if libc is None:
        return None
    attr = _PthreadAttr()
    if libc.pthread_getattr_np(libc.pthread_self(), ctypes.byref(attr)) != 0:
        return None
    try:
        address = ctypes.c_void_p()
        size = ctypes.c_size_t()
        if libc.pthread_attr_getstack(ctypes.byref(attr), ctypes.byref(address), ctypes.byref(size)) != 0:
            return None
        return int(size.value)
    finally:
        libc.pthread_attr_destroy(ctypes.byref(attr))


def current_stack_size() -> int | None:
    """The calling thread's stack size in bytes (``None`` when the platform cannot tell).

    Measured once per thread (a thread's stack does not change).
    """
    try:
        return _local.size  # type: ignore[no-any-return]
    except AttributeError:
        size = _local.size = _measure()
        return size
