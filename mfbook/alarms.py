"""Alarms: one per object, scheduled on the emulator loop, retried like the Workers runtime.

A throwing ``alarm()`` is retried with exponential backoff starting at 2 s, up to 6 retries;
``flush`` runs every scheduled alarm and pending retry at once (tests and notebooks), and
``restore`` schedules alarms persisted by an earlier process. Only commits that change an
object's alarm reschedule it, so an ordinary write never disturbs a pending retry while
``deleteAlarm()`` or a new ``setAlarm()`` replaces it.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from .errors import WorkerError
from .storage import ObjectStorage

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["ALARM_MAX_RETRIES", "ALARM_RETRY_BASE_S", "AlarmScheduler"]

ALARM_RETRY_BASE_S = 2.0
ALARM_MAX_RETRIES = 6


class AlarmScheduler:
    """Timers, retries and in-flight alarm runs of one runtime (under the engine lock)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.handles: dict[str, asyncio.TimerHandle] = {}
        self.retries: dict[str, int] = {}
        self.running: dict[str, asyncio.Future[None]] = {}

    def cancel_all(self) -> None:
        for handle in self.handles.values():
            handle.cancel()
        self.handles.clear()

    def schedule(self, storage: ObjectStorage) -> None:
        """(Re)schedules after a commit changed the object's alarm.

        A new time replaces a pending retry; a deleted alarm cancels it (as ``deleteAlarm()``
        does in the Workers runtime).
        """
        key = f"{storage.binding}:{storage.object_id}"
        when = storage.store.get_alarm()
        handle = self.handles.pop(key, None)
        if handle is not None:
            handle.cancel()
        self.retries.pop(key, None)
        if when is None or not self._runtime.alarms_enabled:
            return
        delay = max(0.0, when / 1000 - time.time())
        self.handles[key] = self._runtime.loop.call_later(delay, lambda: self.fire(storage.binding, storage.object_id))

    def fire(self, binding: str, hex_id: str, *, retry_count: int = 0) -> asyncio.Future[None]:
        """Runs an object's alarm now; retries with backoff when the handler throws."""
        key = f"{binding}:{hex_id}"
        self.handles.pop(key, None)
        running = self.running.get(key)
        if running is not None and not running.done():
            return running
        future: asyncio.Future[None] = self._runtime.loop.create_future()
        placement = self._runtime.placement
        if placement is not None and not placement.claims(binding, hex_id):
            placement.nudge_alarm(binding, hex_id)  # alarms fire in the owner, once
            future.set_result(None)
            return future
        self.running[key] = future
        namespace = self._runtime.find_namespace(binding)
        if namespace is None:
            future.set_result(None)
            return future
        storage = self._runtime.storage_for(namespace, hex_id)
        scheduled = storage.get_alarm()
        if retry_count == 0:
            if scheduled is None:
                future.set_result(None)
                return future
            storage.set_alarm(None)
            storage.flush()
        try:
            actor = self._runtime.actor_for(namespace, hex_id)
        except WorkerError as error:
            future.set_exception(error)
            return future
        request = self._runtime.new_request(None)
        fields = self._runtime.object_fields(actor)
        self._runtime.trace.emit(
            "alarm.fire",
            request_id=request.request_id,
            data={"retry_count": retry_count, "scheduled": scheduled},
            **fields,
        )

        def done(ok: bool, value: Any) -> None:
            if ok:
                self.retries.pop(key, None)
            elif retry_count < ALARM_MAX_RETRIES:
                delay = ALARM_RETRY_BASE_S * (2**retry_count)
                self.retries[key] = retry_count + 1
                self._runtime.trace.emit(
                    "alarm.retry",
                    data={
                        "retry_count": retry_count + 1,
                        "delay_s": delay,
                        "error": value.get("message") if isinstance(value, dict) else str(value),
                    },
                    **fields,
                )
                self.handles[key] = self._runtime.loop.call_later(
                    delay, lambda: self.fire(binding, hex_id, retry_count=retry_count + 1)
                )
            else:
                self.retries.pop(key, None)
                self._runtime.trace.emit("alarm.giveup", data={"retry_count": retry_count}, **fields)
            if not future.done():
                future.set_result(None)

        assert actor.worker is not None
        info = json.dumps({"retryCount": retry_count, "isRetry": retry_count > 0})
        self._runtime.start_event("alarm", actor.worker, actor, request, (info,), done)
        return future

    async def flush(self, keys: list[str] | None = None) -> None:
        """Runs every scheduled alarm and pending retry now (optionally only for some objects)."""
        pending = [key for key in list(self.handles) if keys is None or key in keys]
        futures = []
        for key in pending:
            handle = self.handles.pop(key, None)
            if handle is not None:
                handle.cancel()
            binding, hex_id = key.split(":", 1)
            retry = self.retries.get(key, 0)
            futures.append(self.fire(binding, hex_id, retry_count=retry))
        for future in futures:
            await future

    async def restore(self) -> None:
        """Schedules alarms persisted by an earlier process."""
        for worker in self._runtime.workers.values():
            for namespace in worker.spec.namespaces.values():
                for hex_id in self._runtime.backend_for(namespace).list_objects(namespace.binding):
                    storage = self._runtime.storage_for(namespace, hex_id)
                    if storage.store.get_alarm() is not None:
                        self.schedule(storage)
