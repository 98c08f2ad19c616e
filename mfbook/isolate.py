"""One QuickJS context per worker: loading the runtime, and *deliveries* into it.

A delivery is one call into a kernel entry point followed by draining the job queue and
collecting the outbox (docs/ARCHITECTURE.md section 1). One CPU deadline, armed through the
isolate's own interrupt handler (:mod:`mfbook.bridge.interrupt`), covers the whole delivery,
job queue included, so an endless ``await`` loop is cut off like a ``while (true)``. JS may
call the host synchronously during a delivery (:mod:`mfbook.bridge.host_entry`). Limits
surface as :class:`IsolateFault`, after which the runtime either fails the one request that
caused it or, when the isolate may be damaged (out of memory, a runaway job queue), replaces
the isolate.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import quickjs

from .bridge.host_entry import HostEntry, SyncHandler
from .bridge.interrupt import Interrupter, install_interrupter
from .messages import MESSAGES
from .modules import Bundle
from .outbox import parse_outbox

__all__ = ["Isolate", "IsolateFault", "IsolateLimits", "PRELUDE_FILES"]

PRELUDE_FILES = (
    "random.js",
    "encoding.js",
    "events.js",
    "url.js",
    "crypto.js",
    "console.js",
    "structured_clone.js",
    "streams.js",
    "blob.js",
    "fetch_headers.js",
    "fetch_form_data.js",
    "fetch_body.js",
    "fetch_request.js",
    "fetch_response.js",
    "fetch_bridge.js",
    "websocket.js",
    "body_streams.js",
    "scheduler.js",
)


@dataclass(frozen=True)
class IsolateLimits:
    """Per-isolate limits.

    Attributes:
        cpu_ms: CPU time one delivery (one handler turn) may use before it is interrupted.
        memory_bytes: Heap limit of the isolate (the Workers limit is 128 MB).
        stack_bytes: JS stack limit; deeper recursion throws ``RangeError``.
    """

    cpu_ms: float = 5_000.0
    memory_bytes: int = 128 * 1024 * 1024
    stack_bytes: int = 1024 * 1024


class IsolateFault(Exception):
    """JS code hit a limit (or the engine failed) during a delivery.

    Attributes:
        envelope: ``{name, message, stack, limit}`` as a worker error envelope.
        fatal: True when the isolate must be replaced (memory exhausted, runaway job queue).
    """

    def __init__(self, envelope: dict[str, Any], *, fatal: bool) -> None:
        super().__init__(envelope.get("message", ""))
        self.envelope = envelope
        self.fatal = fatal


#: json's C scanner without ``json.loads``' wrapper: the outbox is JSON.stringify output.
_scan: Any = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


@cache
def _runtime_source(name: str) -> str:
    return (resources.files("mfbook") / "js" / name).read_text("utf-8")


#: The kernel's parts in load order (mfbook/js/kernel/base.js says how they share names).
KERNEL_PARTS = (
    "base.js",
    "delivery.js",
    "rpc_targets.js",
    "rpc_stubs.js",
    "storage_values.js",
    "timers.js",
    "modules.js",
    "namespaces.js",
    "storage.js",
    "objects.js",
    "worker.js",
    "websockets.js",
    "entry.js",
)


def _prelude_sources() -> list[str]:
    # intrinsics.js first: it captures the built-ins before anything can patch them.
    sources = [_runtime_source("intrinsics.js") + _runtime_source("host.js")]
    sources += [_runtime_source("codec.js"), _runtime_source("v8size.js"), _runtime_source("sha256.js")]
    sources += [_runtime_source(f"prelude/{name}") for name in PRELUDE_FILES]
    sources.append(_runtime_source("sql_storage.js"))
    sources += [_runtime_source(f"kernel/{name}") for name in KERNEL_PARTS]
    return sources


@lru_cache(maxsize=1)
def _vendor_sources() -> dict[str, str]:
    """Vendored libraries by name (file name without ``.js``); the prelude evaluates them lazily."""
    folder = resources.files("mfbook") / "js" / "vendor"
    return {
        entry.name[: -len(".js")]: entry.read_text("utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".js") and entry.is_file()
    }


#: What ``__mfKernel.flush()`` answers once the isolate ran out of memory in a host call.
OUT_OF_MEMORY = "!out-of-memory"

#: The message of a delivery stopped by Ctrl-C (or another thread's interrupt).
INTERRUPTED_MESSAGE = "The request was interrupted (KeyboardInterrupt); the emulator is still usable."


def _fault_from_exception(
    error: Exception, *, cpu_ms: float, tripped: bool = False, null_is_oom: bool = False
) -> IsolateFault:
    text = str(error)
    if null_is_oom and text.strip() == "null":
        # The kernel catches what handlers throw; a bare null escaping a delivery is QuickJS
        # failing to allocate the error object itself (out of memory).
        text = "InternalError: out of memory"
    first, _, stack = text.partition("\n")
    name, _, message = first.partition(": ")
    if tripped and "interrupted" in first:
        return IsolateFault(
            {"name": "Error", "message": INTERRUPTED_MESSAGE, "stack": stack, "limit": True, "interrupted": True},
            fatal=False,
        )
    if isinstance(error, quickjs.StackOverflow):
        return IsolateFault(
            {"name": "RangeError", "message": "Maximum call stack size exceeded", "stack": stack, "limit": True},
            fatal=False,
        )
    if "interrupted" in first:
        return IsolateFault(
            {
                "name": "Error",
                "message": f"Worker exceeded CPU time limit ({cpu_ms:g} ms).",
                "stack": stack,
                "limit": True,
            },
            fatal=False,
        )
    if "out of memory" in first:
        return IsolateFault(
            {"name": "RangeError", "message": "Worker exceeded memory limit.", "stack": stack, "limit": True},
            fatal=True,
        )
    return IsolateFault({"name": name or "Error", "message": message or first, "stack": stack}, fatal=False)


class Isolate:
    """A worker's QuickJS context with the mfbook runtime loaded.

    Args:
        bundle: The worker's code (see :mod:`mfbook.modules`).
        config: JSON-able worker configuration for ``__mfKernel.loadWorker``.
        limits: CPU, memory and stack limits.
    """

    def __init__(
        self,
        bundle: Bundle,
        config: dict[str, Any],
        *,
        limits: IsolateLimits,
        sync_handlers: dict[str, SyncHandler] | None = None,
    ) -> None:
        self.limits = limits
        self.bundle = bundle
        self._context = quickjs.Context()
        self._context.set_max_stack_size(limits.stack_bytes)
        self._time_limit = limits.cpu_ms / 1000.0
        self.broken = False
        #: Owns the context's interrupt handler (CPU deadline, Ctrl-C); see its ``mode``.
        self.interrupter: Interrupter = install_interrupter(self._context)
        self.host_entry = HostEntry(sync_handlers if sync_handlers is not None else {}, on_interrupt=self.trip)
        if self.interrupter.sync_calls:
            self._context.add_callable("__mfHostCall", self.host_entry)
        else:
            self._context.set("__mfSyncUnavailable", self.interrupter.reason)
        self.interrupter.arm(self._time_limit)
        sources = _prelude_sources()
        self._context.eval(sources[0])  # host.js
        for name, text in _vendor_sources().items():
            self._context.set("__mfVendorText", text)
            self._context.eval(
                f"__mfHost.vendor[{json.dumps(name)}] = __mfVendorText; delete globalThis.__mfVendorText;"
            )
        for source in sources[1:]:
            self._context.eval(source)
        kernel = self._context.get("__mfKernel")
        self._kernel = kernel
        self._entry = {
            name: self._context.eval(f"__mfKernel.{name}.bind(__mfKernel)")
            for name in (
                "fetch",
                "rpc",
                "alarm",
                "settle",
                "fireTimer",
                "dropActor",
                "seed",
                "pendingOps",
                "invalidate",
                "cacheStore",
                "instanceState",
                "wsEvent",
                "hibernateActor",
                "pullBody",
                "cancelBody",
            )
        }
        self._flush = self._context.eval("__mfKernel.flush")
        set_line_map = self._context.eval("__mfKernel.setLineMap")
        load_worker = self._context.eval("__mfKernel.loadWorker")
        set_line_map(json.dumps(bundle.line_map.starts))
        self._seed()
        self._context.set_memory_limit(limits.memory_bytes)
        self.interrupter.arm(self._time_limit)
        try:
            if bundle.modules:
                self._context.eval(bundle.source + "\ndelete globalThis.__mfKernel;")
            else:
                self._context.eval("delete globalThis.__mfKernel;")
                self._context.eval(bundle.source)
            config = dict(config, messages=MESSAGES, modules=bundle.modules, main=bundle.main)
            info = load_worker(json.dumps(config))
            self._drain()
        except quickjs.JSException as error:
            raise _fault_from_exception(error, cpu_ms=limits.cpu_ms, tripped=self.interrupter.tripped) from None
        finally:
            self.interrupter.disarm()
        self.info: dict[str, Any] = json.loads(info)
        self.deliveries = 0

    # ------------------------------------------------------------------ deliveries
    def _seed(self) -> None:
        self._entry["seed"](os.urandom(32).hex())

    def _drain(self) -> None:
        execute = self._context.execute_pending_job
        deadline = time.process_time() + self._time_limit
        count = 0
        while execute():
            count += 1
            if count & 255 == 0 and time.process_time() > deadline:
                raise IsolateFault(
                    {
                        "name": "Error",
                        "message": f"Worker exceeded CPU time limit ({self.limits.cpu_ms:g} ms) in a promise loop.",
                        "stack": "",
                        "limit": True,
                    },
                    fatal=True,
                )

    def deliver(self, entry: str, *args: Any) -> list[dict[str, Any]]:
        """Calls a kernel entry point, drains the job queue and returns the outbox.

        One CPU deadline covers the call, the job queue and the flush.

        Raises:
            IsolateFault: The code hit a limit, was interrupted, or the engine failed.
        """
        if self.broken:
            raise IsolateFault({"name": "Error", "message": "This isolate was reset.", "stack": ""}, fatal=True)
        self.deliveries += 1
        interrupter = self.interrupter
        interrupter.arm(self._time_limit)
        try:
            if self.deliveries & 63 == 0:
                self._seed()
            self._entry[entry](*args)
            self._drain()
            text = self._flush()
        except quickjs.JSException as error:
            fault = _fault_from_exception(
                error, cpu_ms=self.limits.cpu_ms, tripped=interrupter.tripped, null_is_oom=True
            )
            if fault.fatal:
                self.broken = True
            else:
                # Whatever the interrupted turn queued is still worth collecting (a fresh
                # deadline: the one that just expired would stop this at once).
                interrupter.arm(self._time_limit)
                try:
                    self._drain()
                    fault.outbox = self._parse(self._flush())  # type: ignore[attr-defined]
                except (quickjs.JSException, IsolateFault):
                    self.broken = True
                    fault.fatal = True
            raise fault from None
        except IsolateFault:
            self.broken = True
            raise
        finally:
            interrupter.disarm()
        if text == OUT_OF_MEMORY:
            self.broken = True  # _parse raises the memory-limit fault
        elif '"message":"null"' in text and self._near_memory_limit():
            # QuickJS throws a bare null when it cannot even allocate the error: caught by the
            # kernel, it would reach the caller as "Error: null" instead of the memory limit.
            self.broken = True
            text = OUT_OF_MEMORY
        return self._parse(text)

    def _near_memory_limit(self) -> bool:
        limit = self.limits.memory_bytes
        return bool(limit) and self._context.memory()["memory_used_size"] >= 0.9 * limit

    def trip(self) -> None:
        """Stops the JavaScript running in this isolate at its next poll (any thread may call)."""
        self.interrupter.trip()

    @staticmethod
    def _parse(text: str) -> list[dict[str, Any]]:
        if text == OUT_OF_MEMORY:  # host.js: an allocation failed inside a host call
            raise IsolateFault(
                {"name": "RangeError", "message": "Worker exceeded memory limit.", "stack": "", "limit": True},
                fatal=True,
            )
        return parse_outbox(text)  # checked: worker code shares the isolate (outbox.py)

    def _call_between(self, entry: str, *args: Any) -> Any:
        """Calls a kernel helper between deliveries, under a deadline like any JS."""
        self.interrupter.arm(self._time_limit)
        try:
            return self._entry[entry](*args)
        finally:
            self.interrupter.disarm()

    def pending_ops(self) -> int:
        """Host operations the isolate awaits; call between deliveries only."""
        if self.broken:
            return 0
        return int(self._call_between("pendingOps"))

    def invalidate(self, actor_key: str) -> None:
        """Drops an object's read cache (called between deliveries, never during one)."""
        if not self.broken:
            self._call_between("invalidate", actor_key)

    def drop_actor(self, actor_key: str) -> None:
        """Forgets an object's instance; the next event constructs it again (between deliveries)."""
        if not self.broken:
            self._call_between("dropActor", actor_key)

    def hibernate_actor(self, actor_key: str) -> bool:
        """Drops an idle object's instance for hibernation; False if it awaits the host (between deliveries)."""
        return bool(self._call_between("hibernateActor", actor_key))

    def cache_store(self, actor_key: str, entries: list[tuple[str, str | None]]) -> None:
        """Puts an object's committed transaction writes into its read cache (between deliveries)."""
        if not self.broken:
            self._call_between("cacheStore", actor_key, json.dumps(entries))

    def instance_state(self, actor_key: str) -> str:
        """An object's own fields as the kernel's ``instanceState`` JSON ("" if not constructed).

        Between deliveries only (tests read it through :mod:`mfbook.testing`).
        """
        if self.broken:
            return ""
        try:
            return str(self._call_between("instanceState", actor_key))
        except quickjs.JSException as error:
            raise _fault_from_exception(error, cpu_ms=self.limits.cpu_ms) from None

    def memory(self) -> dict[str, int]:
        """QuickJS heap statistics (``memory_used_size``, ``malloc_size``, ...)."""
        self.interrupter.update_stack_top()
        stats: dict[str, int] = self._context.memory()
        return stats

    def close(self) -> None:
        """Drops the context; its memory is freed when the last reference goes."""
        self.broken = True
        self._entry.clear()
        self.__dict__.pop("_context", None)
