"""What the runtime schedules: worker and namespace specs, objects, requests and deliveries.

A *delivery* is one call into an isolate; its :class:`Context` (request, object, gate
section) is inherited by every host operation the call queues (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .bridge.host_entry import SyncHandler
from .gates import InputGate
from .isolate import Isolate, IsolateLimits
from .modules import Bundle
from .storage import ObjectStorage, Transaction

__all__ = [
    "Actor",
    "Context",
    "Delivery",
    "DirectCall",
    "Event",
    "NamespaceSpec",
    "RequestState",
    "Worker",
    "WorkerSpec",
]


@dataclass(frozen=True)
class NamespaceSpec:
    """A Durable Object binding: its class and the worker that exports it.

    ``binding`` is the namespace's *object name*: what ids hash and what storage is keyed by.
    It is the env binding name, except that all bindings to one class (in any worker) share
    one object name so they reach the same objects (see ``options._assign_object_names``);
    the env name is the key of ``WorkerSpec.namespaces``.
    """

    binding: str
    class_name: str
    script_name: str
    #: SQLite-backed class (``new_sqlite_classes`` or ``{"sqlite": True}``): ``ctx.storage.sql``.
    sqlite: bool = False


@dataclass
class WorkerSpec:
    """Everything needed to (re)build one worker's isolate."""

    name: str
    bundle: Bundle
    bindings: dict[str, dict[str, Any]]
    namespaces: dict[str, NamespaceSpec]
    services: dict[str, str]


@dataclass(eq=False)
class RequestState:
    request_id: int
    depth: int
    pipeline: int
    #: Ended by the wall-clock limit: timers it still sets are never armed.
    expired: bool = False
    #: Stub nodes this request received (mfbook/rpc_leases.py): released when it ends.
    leases: list[dict[str, Any]] | None = None


@dataclass(eq=False)
class Context:
    """Where a delivery's work belongs."""

    request: RequestState | None
    actor: Actor | None
    section: int | None = None


@dataclass(eq=False)
class Event:
    """A pending fetch/RPC/alarm into an isolate, completed by the kernel's ``done``."""

    event_id: int
    worker: Worker
    request: RequestState
    on_done: Callable[[bool, Any], None]
    actor: Actor | None = None
    #: The worker whose host operation (a stub or service call) awaits this event, if any.
    caller: Worker | None = None
    #: When the wall-clock limit ends it (loop clock; set by :class:`~mfbook.watchdog.WallClockWatchdog`).
    deadline: float = 0.0


@dataclass(eq=False)
class DirectCall:
    """A stub call the kernel ran inside the caller's own isolate, without a delivery.

    The kernel calls an idle object of its own isolate directly (docs/ARCHITECTURE.md,
    "direct calls"); Python still gives the call a request of its own, so that the object's
    host operations, request depth and trace are attributed as if it had been delivered.
    """

    ctx: Context  # the callee's: its request and object
    caller: Context  # where the caller's promise settles if the answer comes in a later delivery
    kind: str
    started: float
    method: str | None = None


@dataclass(eq=False)
class Delivery:
    worker: Worker
    entry: str
    args: tuple[Any, ...]
    ctx: Context
    gated: bool
    releases: list[Actor] = field(default_factory=list)


@dataclass(eq=False)
class Actor:
    """Python side of one Durable Object instance (gates, storage, transactions)."""

    key: str
    namespace: NamespaceSpec
    hex: str
    name: str | None
    storage: ObjectStorage
    gate: InputGate
    worker: Worker | None = None
    txns: dict[int, Transaction] = field(default_factory=dict)
    sections: dict[int, int] = field(default_factory=dict)  # txn id -> gate section
    # JS may cache reads only when other writers are noticed (see Backend.read_cache).
    read_cache: bool = False
    # Storage on a network server: the kernel asks for it asynchronously (backend_waits.py).
    remote: bool = False
    _target: str | None = field(default=None, repr=False)

    def target_json(self) -> str:
        """How the kernel finds (or constructs) the instance; the same text for every event."""
        text = self._target
        if text is None:
            text = self._target = json.dumps(
                {
                    "key": self.key,
                    "binding": self.namespace.binding,
                    "hex": self.hex,
                    "cls": self.namespace.class_name,
                    "cache": self.read_cache,
                    "remote": self.remote,
                    "sql": self.namespace.sqlite,
                }
            )
        return text


class Worker:
    """One worker: its spec, its isolate and its timers."""

    def __init__(
        self,
        spec: WorkerSpec,
        limits: IsolateLimits,
        bindings: dict[str, dict[str, Any]] | None = None,
        sync_handlers: dict[str, SyncHandler] | None = None,
    ) -> None:
        self.spec = spec
        self.limits = limits
        #: The synchronous host operations its JS may call (shared by the runtime's workers).
        self.sync_handlers = sync_handlers if sync_handlers is not None else {}
        #: What the isolate's env is built from (the spec's bindings plus what direct calls need).
        self.bindings = spec.bindings if bindings is None else bindings
        self.isolate: Isolate | None = None
        self.timers: dict[int, tuple[asyncio.TimerHandle, Context, bool, float]] = {}
        #: Direct calls the isolate has started and not finished, by the kernel's id.
        self.direct: dict[int, DirectCall] = {}

    @property
    def name(self) -> str:
        return self.spec.name

    def ensure_isolate(self) -> Isolate:
        if self.isolate is None or self.isolate.broken:
            self.direct.clear()
            config = {"bindings": self.bindings, "name": self.spec.name}
            self.isolate = Isolate(self.spec.bundle, config, limits=self.limits, sync_handlers=self.sync_handlers)
        return self.isolate

    def cancel_timers(self) -> None:
        for handle, *_ in self.timers.values():
            handle.cancel()
        self.timers.clear()
