"""Interrupting an isolate: a CPU deadline per delivery and a trip wire for Ctrl-C.

Why not ``Context.set_time_limit``: the quickjs-ng binding refuses every JS → Python call
while a time limit is set, and that limit is its only interrupt. Its shared object exports
the QuickJS C API, though, so mfbook installs an interrupt handler on the context's
``JSRuntime`` itself and leaves the binding's time limit unset (research notes:
``shared/research/bridge-v2``). Three modes, best first:

``native``
    The binding's own static ``js_interrupt_handler`` (found through the ``.so``'s symbol
    table), with the context's own ``InterruptData`` as its argument: ``start = 0`` and
    ``limit`` = an absolute deadline in ``clock()`` ticks. No Python runs while JS polls it,
    and any thread can trip it with one aligned store. Only on the exact binding build whose
    struct layout is known (:data:`KNOWN_BINDINGS`), and only after the layout is verified
    through exported calls.
``callback``
    A ctypes callback (takes the GIL on every poll, about once every 10,000 JS operations):
    works whenever the runtime pointer can be verified but the static handler cannot be found.
``time-limit``
    The binding's ``set_time_limit``: runaway code still stops, but JS cannot call the host
    synchronously, so the synchronous host APIs raise an error that says why.

``clock()`` is process CPU time: two threads running JavaScript at the same moment spend
each other's budget (the native mode's one imprecision; the callback mode uses thread time).
"""

from __future__ import annotations

import ctypes
import os
import time
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import quickjs

from .elf import function_symbols

__all__ = [
    "KNOWN_BINDINGS",
    "Interrupter",
    "LayoutError",
    "install_interrupter",
]

#: quickjs-ng builds whose ``RuntimeData`` layout (module.c) this module was checked against.
KNOWN_BINDINGS = frozenset({"0.17.0.2"})

# RuntimeData of quickjs-ng 0.17.0.2 (64-bit CPython, 16-byte object header):
#   PyObject_HEAD (0) | JSRuntime *runtime (16) | JSContext *context (24) | int has_time_limit (32)
#   | clock_t time_limit (40) | PyThreadState *thread_state (48)
#   | InterruptData interrupt_data {clock_t start; clock_t limit;} (56) | callables (72) -> 80
_OFF_RUNTIME = 16
_OFF_CONTEXT = 24
_OFF_HAS_TIME_LIMIT = 32
_OFF_INTERRUPT_DATA = 56
_BASICSIZE = 80

_CLOCKS_PER_SEC = 1_000_000  # POSIX (XSI) fixes CLOCKS_PER_SEC at one million
_NEVER = 1 << 62

#: Forces a mode (``native``, ``callback`` or ``time-limit``), for tests and diagnosis.
MODE_ENVIRONMENT = "MFBOOK_INTERRUPT"


class LayoutError(RuntimeError):
    """The binding is not the build whose memory layout mfbook knows."""


class _InterruptData(ctypes.Structure):
    _fields_ = [("start", ctypes.c_long), ("limit", ctypes.c_long)]  # clock_t is long on LP64


_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


@cache
def _binding_version() -> str | None:
    try:
        return version("quickjs-ng")
    except PackageNotFoundError:
        return None


@cache
def _library() -> ctypes.CDLL:
    """The binding's shared object (``dlopen`` of a loaded library: the same mapping)."""
    import _quickjs  # the binding's C module

    library = ctypes.CDLL(_quickjs.__file__)
    library.JS_SetInterruptHandler.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    library.JS_SetInterruptHandler.restype = None
    library.JS_GetRuntimeOpaque.argtypes = [ctypes.c_void_p]
    library.JS_GetRuntimeOpaque.restype = ctypes.c_void_p
    library.JS_GetRuntime.argtypes = [ctypes.c_void_p]
    library.JS_GetRuntime.restype = ctypes.c_void_p
    library.JS_UpdateStackTop.argtypes = [ctypes.c_void_p]
    library.JS_UpdateStackTop.restype = None
    return library


@cache
def _native_handler_address() -> int:
    """Address of the binding's static ``js_interrupt_handler`` in the loaded library."""
    import _quickjs

    symbols = function_symbols(_quickjs.__file__, {"JS_SetInterruptHandler", "js_interrupt_handler"})
    if len(symbols) != 2:
        raise LayoutError("js_interrupt_handler is not in the binding's symbol table (a stripped build)")
    exported = ctypes.cast(_library().JS_SetInterruptHandler, ctypes.c_void_p).value
    assert exported is not None
    return exported - symbols["JS_SetInterruptHandler"] + symbols["js_interrupt_handler"]


def _runtime_pointer(context: quickjs.Context) -> int:
    """The context's ``JSRuntime *``, verified through exported API calls before any write."""
    if _binding_version() not in KNOWN_BINDINGS:
        raise LayoutError(
            f"quickjs-ng {_binding_version()} is not a build mfbook knows ({', '.join(sorted(KNOWN_BINDINGS))})"
        )
    if type(context).__basicsize__ != _BASICSIZE or ctypes.sizeof(ctypes.c_void_p) != 8:
        raise LayoutError(f"unexpected binding object size {type(context).__basicsize__}")
    base = id(context)
    runtime = ctypes.c_void_p.from_address(base + _OFF_RUNTIME).value
    js_context = ctypes.c_void_p.from_address(base + _OFF_CONTEXT).value
    if not runtime or not js_context:
        raise LayoutError("the binding's runtime or context pointer is null")
    library = _library()
    # Only true of the real fields: JS_GetRuntime(ctx) reads ctx->rt, and the binding stores
    # the Context object as its runtime's opaque pointer.
    if library.JS_GetRuntime(js_context) != runtime or library.JS_GetRuntimeOpaque(runtime) != base:
        raise LayoutError("the binding's memory layout is not the one mfbook knows")
    if ctypes.c_int.from_address(base + _OFF_HAS_TIME_LIMIT).value != 0:
        raise LayoutError("the context already has a binding time limit")
    return runtime


class Interrupter:
    """Interrupts one isolate's JavaScript at a CPU deadline, or at once when tripped.

    Attributes:
        mode: ``native``, ``callback`` or ``time-limit`` (see the module docstring).
        reason: Why a weaker mode was chosen ("" in native mode).
        tripped: True after :meth:`trip` until the next :meth:`arm` (a user interrupt, not a
            CPU overrun).
    """

    mode = "time-limit"

    def __init__(self, context: quickjs.Context, *, reason: str = "") -> None:
        self._context = context
        self.reason = reason
        self.tripped = False

    @property
    def sync_calls(self) -> bool:
        """Whether JS may call the host synchronously (not under the binding's time limit)."""
        return self.mode != "time-limit"

    def arm(self, seconds: float) -> None:
        """Starts a deadline ``seconds`` of CPU time from now (and clears a trip)."""
        self.tripped = False
        self._context.set_time_limit(seconds)

    def disarm(self) -> None:
        """No deadline until the next :meth:`arm`."""
        self._context.set_time_limit(-1)

    def trip(self) -> None:
        """Interrupts the running JavaScript at its next poll; callable from any thread.

        Not possible with the binding's time limit: there the CPU deadline alone ends it.
        """
        self.tripped = True

    def expired(self) -> bool:
        """Whether the running JS would be interrupted now (for long host calls, e.g. SQL)."""
        return self.tripped

    def update_stack_top(self) -> None:
        """Tells QuickJS the current thread's stack before a binding call that does not.

        ``eval`` and calls of JS functions do this themselves; ``get``/``set``/``memory``/
        ``parse_json`` do not, and would judge the stack by the last thread that ran JS.
        """


class _NativeInterrupter(Interrupter):
    mode = "native"

    def __init__(self, context: quickjs.Context, runtime: int) -> None:
        super().__init__(context)
        self._runtime = runtime
        # The Context's own InterruptData: it lives exactly as long as the Context, and the
        # binding touches it only when its time limit is set (never, here).
        self._data = _InterruptData.from_address(id(context) + _OFF_INTERRUPT_DATA)
        self._data.start = 0
        self._data.limit = _NEVER
        _library().JS_SetInterruptHandler(runtime, _native_handler_address(), id(context) + _OFF_INTERRUPT_DATA)

    def arm(self, seconds: float) -> None:
        self.tripped = False
        self._data.limit = int(time.process_time() * _CLOCKS_PER_SEC) + int(seconds * _CLOCKS_PER_SEC)

    def disarm(self) -> None:
        if not self.tripped:
            self._data.limit = _NEVER

    def trip(self) -> None:
        self.tripped = True
        self._data.limit = -_NEVER  # one aligned 8-byte store: clock() - 0 >= -2**62

    def expired(self) -> bool:
        return self.tripped or int(time.process_time() * _CLOCKS_PER_SEC) >= self._data.limit

    def update_stack_top(self) -> None:
        _library().JS_UpdateStackTop(self._runtime)


class _CallbackInterrupter(Interrupter):
    mode = "callback"

    def __init__(self, context: quickjs.Context, runtime: int, *, reason: str) -> None:
        super().__init__(context, reason=reason)
        self._runtime = runtime
        self._deadline = float("inf")
        clock = time.thread_time

        def poll(_runtime: Any, _opaque: Any) -> int:
            return 1 if self.tripped or clock() >= self._deadline else 0

        self._poll = _HANDLER(poll)  # kept alive with this object, which lives with the isolate
        _library().JS_SetInterruptHandler(runtime, ctypes.cast(self._poll, ctypes.c_void_p).value, None)

    def arm(self, seconds: float) -> None:
        self.tripped = False
        self._deadline = time.thread_time() + seconds

    def disarm(self) -> None:
        self._deadline = float("inf")

    def trip(self) -> None:
        self.tripped = True

    def expired(self) -> bool:
        return self.tripped or time.thread_time() >= self._deadline

    def update_stack_top(self) -> None:
        _library().JS_UpdateStackTop(self._runtime)


def install_interrupter(context: quickjs.Context, *, mode: str | None = None) -> Interrupter:
    """Installs the best interrupt handler this binding allows on ``context``.

    Args:
        context: A fresh context (no time limit set, no JS running).
        mode: Force ``native``, ``callback`` or ``time-limit``; default: the environment
            variable ``MFBOOK_INTERRUPT``, else the best available.

    Returns:
        The interrupter; its ``mode`` and ``reason`` say what was installed and why.

    Raises:
        LayoutError: A forced ``native`` or ``callback`` mode is not possible here.
    """
    forced = mode or os.environ.get(MODE_ENVIRONMENT) or None
    if forced not in (None, "native", "callback", "time-limit"):
        raise ValueError(f"{MODE_ENVIRONMENT} must be native, callback or time-limit, not {forced!r}")
    if forced == "time-limit":
        return Interrupter(context, reason=f"{MODE_ENVIRONMENT}=time-limit")
    try:
        runtime = _runtime_pointer(context)
    except (LayoutError, OSError, AttributeError) as error:
        if forced is not None:
            raise LayoutError(str(error)) from None
        return Interrupter(context, reason=str(error))
    if forced == "callback":
        return _CallbackInterrupter(context, runtime, reason=f"{MODE_ENVIRONMENT}=callback")
    try:
        return _NativeInterrupter(context, runtime)
    except LayoutError as error:
        if forced == "native":
            raise
        return _CallbackInterrupter(context, runtime, reason=str(error))
