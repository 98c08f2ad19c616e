"""Python handles on Durable Objects: namespaces (ids) and stubs (fetch and RPC into an object).

Storage access from Python lives in :mod:`mfbook.objects`; a stub here sends requests through
the emulator exactly as a worker's stub does.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from . import codec
from .http import HeadersInput, Response, request_wire
from .ids import DurableObjectId, ensure_id_for, id_from_name, id_from_string, new_unique_id
from .objects import DurableObjectStorage
from .rpc_proxy import wrap_stubs

if TYPE_CHECKING:
    from .miniflare import Miniflare
    from .runtime import NamespaceSpec

__all__ = ["DurableObjectNamespace", "DurableObjectStub"]


def _result(value: Any) -> Any:
    """An RPC result for Python: ``undefined`` at the top level is ``None`` (nested ones stay)."""
    return None if value is codec.UNDEFINED else value


class DurableObjectStub:
    """A stub for one object: ``fetch`` and RPC (``stub.call("m", ...)`` or ``stub.m(...)``)."""

    def __init__(self, mf: Miniflare, namespace: NamespaceSpec, object_id: DurableObjectId) -> None:
        self._mf = mf
        self._namespace = namespace
        self.id = object_id

    @property
    def name(self) -> str | None:
        return self.id.name

    def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: HeadersInput = None,
        body: bytes | str | None = None,
    ) -> Response:
        """Sends a request to the object's ``fetch`` handler (relative URLs use https://fake-host)."""
        value = self._mf._object_event(self._namespace, self.id, "fetch", (self._wire(url, method, headers, body),))
        return self._mf._response(value, url)

    async def fetch_async(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: HeadersInput = None,
        body: bytes | str | None = None,
    ) -> Response:
        wire = self._wire(url, method, headers, body)
        value = await self._mf._object_event_async(self._namespace, self.id, "fetch", (wire,))
        return self._mf._response(value, url)

    @staticmethod
    def _wire(url: str, method: str, headers: HeadersInput, body: bytes | str | None) -> str:
        return json.dumps(request_wire(urljoin("https://fake-host/", url), method=method, headers=headers, body=body))

    def call(self, method: str, *args: Any) -> Any:
        """Calls a public method of a ``DurableObject`` subclass (RPC); returns its result.

        A method that returns nothing (``undefined``) gives ``None``.
        """
        value = self._mf._object_event(self._namespace, self.id, "rpc", (method, codec.encode(list(args))))
        return _result(wrap_stubs(self._mf, codec.decode(value)))

    async def call_async(self, method: str, *args: Any) -> Any:
        value = await self._mf._object_event_async(self._namespace, self.id, "rpc", (method, codec.encode(list(args))))
        return _result(wrap_stubs(self._mf, codec.decode(value)))

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args: self.call(method, *args)

    def __repr__(self) -> str:
        return f"<DurableObjectStub {self.id.binding}:{self.id.name or self.id.hex[:12]}>"


class DurableObjectNamespace:
    """A Durable Object binding from Python (``mf.get_durable_object_namespace("B")``)."""

    def __init__(self, mf: Miniflare, namespace: NamespaceSpec) -> None:
        self._mf = mf
        self._namespace = namespace
        self.binding = namespace.binding

    def id_from_name(self, name: str) -> DurableObjectId:
        return id_from_name(self.binding, str(name))

    def id_from_string(self, hex_id: str) -> DurableObjectId:
        return id_from_string(self.binding, hex_id)

    def new_unique_id(self, *, jurisdiction: str | None = None) -> DurableObjectId:
        return new_unique_id(self.binding, jurisdiction=jurisdiction)

    def get(self, object_id: DurableObjectId) -> DurableObjectStub:
        ensure_id_for(self.binding, object_id)
        return DurableObjectStub(self._mf, self._namespace, object_id)

    def get_by_name(self, name: str) -> DurableObjectStub:
        return self.get(self.id_from_name(name))

    def storage(self, object_id: DurableObjectId | str) -> DurableObjectStorage:
        """Storage of an object of this namespace (by id or name); does not construct it."""
        if isinstance(object_id, str):
            object_id = self.id_from_name(object_id)
        ensure_id_for(self.binding, object_id)
        return DurableObjectStorage(self._mf, self._namespace, object_id)

    def object_ids(self) -> builtins.list[str]:
        """Hex ids of objects that exist (live instances) or have stored data."""

        def collect() -> builtins.list[str]:
            runtime = self._mf._runtime
            ids = set(runtime.backend_for(self._namespace).list_objects(self.binding))
            ids.update(actor.hex for actor in runtime.actors.values() if actor.namespace.binding == self.binding)
            ids.update(s.object_id for s in runtime.storages.values() if s.binding == self.binding and s.store.count())
            return sorted(ids)

        return self._mf._loop.call(collect)

    def object_owners(self, ids: Iterable[str] | None = None) -> dict[str, str | None]:
        """Which emulator process runs each object now, by hex id (processes sharing Redis).

        The owner is the process id of :mod:`mfbook.placement` (``host:pid:random``; this
        process's is ``Miniflare.owner_id``), ``None`` for an object nobody runs now. Empty
        without ownership (memory, files, or ``redis_lease_ms=None``).
        """
        placement = self._mf._runtime.placement
        if placement is None:
            return {}
        wanted = builtins.list(ids) if ids is not None else self.object_ids()
        return self._mf._loop.call(lambda: {hex_id: placement.owner(self.binding, hex_id) for hex_id in wanted})

    def __repr__(self) -> str:
        return f"<DurableObjectNamespace {self.binding} ({self._namespace.class_name})>"
