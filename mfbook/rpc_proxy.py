"""Python proxies for RPC stubs: functions and ``RpcTarget`` instances an object returned.

A Durable Object method that returns a function or an ``RpcTarget`` (or holds them in its
result) hands out stubs, not copies (``mfbook/js/kernel/rpc_targets.js``). In Python such a
result holds :class:`RpcStub` proxies: calling one runs the call in the owning object (its
input gate, its storage), as a call on the stub from JavaScript would::

    counter = stub.call("getCounter")   # an RpcStub
    counter.increment(2)                # one RPC: path ["increment"]
    counter.call("increment", 2)        # the same
    counter.stats.total()               # pipelined attribute access: one call, path ["stats", "total"]
    counter.get("value")                # a property's value
    with counter: ...                   # disposes the stub at the end (its target's Symbol.dispose runs)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from . import codec
from .codec_types import JSMap, JSStubRef
from .errors import WorkerError
from .ids import DurableObjectId

if TYPE_CHECKING:
    from .miniflare import Miniflare

__all__ = ["RpcStub", "wrap_stubs"]

#: workerd's error for a call on a disposed stub.
DISPOSED = "RPC stub used after being disposed."


class _Handle:
    """What duplicates of one stub share: how many are live, whether the export was released."""

    __slots__ = ("refs", "released")

    def __init__(self) -> None:
        self.refs = 1
        self.released = False


class RpcStub:
    """A stub for a function or ``RpcTarget`` that lives in a Durable Object.

    Attribute access builds a path without sending anything (``stub.a.b``); calling sends one
    RPC for the whole path; :meth:`get` reads a property. Use ``with stub:`` or
    :meth:`dispose` to release it (the runtime releases nothing for Python on its own).
    """

    def __init__(self, mf: Miniflare, ref: JSStubRef, path: tuple[str, ...] = (), *, handle: _Handle | None = None):
        self._mf = mf
        self._ref = ref
        self._path = path
        self._handle = handle if handle is not None else _Handle()
        self._disposed = False

    # ------------------------------------------------------------------ calls
    def __getattr__(self, name: str) -> RpcStub:
        if name.startswith("_"):
            raise AttributeError(name)
        return RpcStub(self._mf, self._ref, (*self._path, name), handle=self._handle)

    def __call__(self, *args: Any) -> Any:
        """Calls the stub (a function stub, or the method its path names)."""
        return self._finish(self._mf._object_event(*self._target(), "rpc", self._payload(self._path, args)))

    def call(self, method: str, *args: Any) -> Any:
        """Calls ``method`` (after this stub's path) with ``args``; returns the result."""
        return self._finish(self._mf._object_event(*self._target(), "rpc", self._payload((*self._path, method), args)))

    async def call_async(self, method: str, *args: Any) -> Any:
        """Awaitable twin of :meth:`call`."""
        value = await self._mf._object_event_async(*self._target(), "rpc", self._payload((*self._path, method), args))
        return self._finish(value)

    def get(self, name: str | None = None) -> Any:
        """The value of property ``name`` (or of this stub's path, for ``stub.a.b.get()``)."""
        path = self._path if name is None else (*self._path, name)
        return self._finish(self._mf._object_event(*self._target(), "rpc", self._payload(path, None)))

    # ------------------------------------------------------------------ lifetime
    @property
    def disposed(self) -> bool:
        """Whether this stub (this duplicate) was disposed."""
        return self._disposed

    def dup(self) -> RpcStub:
        """Another stub for the same target; the export is released when all are disposed."""
        if self._disposed:
            raise WorkerError("Error", DISPOSED)
        self._handle.refs += 1
        return RpcStub(self._mf, self._ref, self._path, handle=self._handle)

    def dispose(self) -> None:
        """Disposes this stub; the last one releases the target (its ``Symbol.dispose`` runs)."""
        if self._disposed:
            return
        self._disposed = True
        handle = self._handle
        handle.refs -= 1
        if handle.refs != 0 or handle.released:
            return
        handle.released = True
        try:
            self._mf._object_event(*self._target(check=False), "rpc", (self._spec((), release=True), "[]"))
        except WorkerError:
            pass  # the owner is gone: nothing left to release

    def __enter__(self) -> RpcStub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.dispose()

    # ------------------------------------------------------------------ display
    @property
    def kind(self) -> str:
        """``"function"`` or ``"RpcTarget"``."""
        return "function" if self._ref.is_function else "RpcTarget"

    def __repr__(self) -> str:
        owner = self._ref.node.get("o")
        where = f" in {owner['b']} {str(owner['h'])[:8]}…" if isinstance(owner, dict) else ""
        path = "." + ".".join(self._path) if self._path else ""
        state = " (disposed)" if self._disposed else ""
        return f"<RpcStub {self.kind}{where}{path}{state}>"

    def _repr_html_(self) -> str:
        from html import escape

        return f"<code>{escape(repr(self))}</code>"

    # ------------------------------------------------------------------ wire
    def _target(self, *, check: bool = True) -> tuple[Any, DurableObjectId]:
        if check and self._disposed:
            raise WorkerError("Error", DISPOSED)
        owner = self._ref.node.get("o")
        if not isinstance(owner, dict):
            raise WorkerError(
                "TypeError",
                "This stub belongs to a worker's entrypoint, not to a Durable Object: call it from JavaScript.",
            )
        namespace = self._mf._runtime.find_namespace(str(owner["b"]))
        if namespace is None:
            raise WorkerError("Error", f"The object that owned this stub ({owner['b']}) no longer exists.")
        return namespace, DurableObjectId(str(owner["b"]), str(owner["h"]))

    def _spec(self, path: tuple[str, ...], *, read: bool = False, release: bool = False) -> str:
        node = self._ref.node
        fields: dict[str, Any] = {"p": list(path), "w": node.get("w"), "x": node.get("x")}
        if read:
            fields["g"] = 1
        if release:
            fields["r"] = 1
        return "\u0000" + json.dumps(fields, separators=(",", ":"))

    def _payload(self, path: tuple[str, ...], args: tuple[Any, ...] | None) -> tuple[str, str]:
        if args is None:
            return self._spec(path, read=True), "[]"
        return self._spec(path), codec.encode(list(args))

    def _finish(self, text: Any) -> Any:
        value = wrap_stubs(self._mf, codec.decode(text))
        return None if value is codec.UNDEFINED else value


def wrap_stubs(mf: Miniflare, value: Any) -> Any:
    """Replaces the stub references in a decoded RPC result by :class:`RpcStub` proxies."""
    if isinstance(value, JSStubRef):
        return RpcStub(mf, value)
    if type(value) is dict:
        for key, item in value.items():
            value[key] = wrap_stubs(mf, item)
    elif type(value) is list:
        for index, item in enumerate(value):
            value[index] = wrap_stubs(mf, item)
    elif isinstance(value, JSMap):
        for key in list(value.keys()):
            value[key] = wrap_stubs(mf, value[key])
    return value


def method_label(method: str) -> str:
    """How the trace shows an RPC method: a call spec as ``[stub 3].path.to.method``.

    Calls on stubs and on property paths carry a call spec (NUL + JSON, see
    ``mfbook/js/kernel/rpc_targets.js``) instead of a method name.

    >>> method_label('\\u0000{"p":["total"],"g":1,"w":"ab","x":3}')
    '[stub 3].total (get)'
    """
    if not method.startswith("\u0000"):
        return method
    try:
        spec = json.loads(method[1:])
        path = ".".join(str(name) for name in spec.get("p", []))
    except (ValueError, AttributeError, TypeError):
        return repr(method)
    head = f"[stub {spec['x']}]" if "x" in spec else ""
    label = f"{head}.{path}" if head and path else head or path
    if spec.get("r"):
        return f"{label} (dispose)"
    return f"{label} (get)" if spec.get("g") else label
