"""Reach inside a running object from a test: instance fields, storage, alarms."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import codec
from ..errors import WorkerError
from ..ids import DurableObjectId
from ..isolate import IsolateFault
from ..stubs import DurableObjectStub

if TYPE_CHECKING:
    from ..miniflare import Miniflare

__all__ = ["OpaqueValue", "instance_state", "object_storage", "run_alarm"]


@dataclass(frozen=True)
class OpaqueValue:
    """A field of an instance that cannot be structured-cloned (a function, ``this.ctx``...).

    Attributes:
        type_name: The value's constructor name (``"Function"``, ``"DurableObjectState"``).
    """

    type_name: str

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


def _object_id(target: DurableObjectStub | DurableObjectId) -> DurableObjectId:
    if isinstance(target, DurableObjectStub):
        return target.id
    if isinstance(target, DurableObjectId):
        return target
    raise TypeError(f"expected a DurableObjectStub or DurableObjectId, got {type(target).__name__}")


def instance_state(mf: Miniflare, target: DurableObjectStub | DurableObjectId) -> dict[str, Any] | None:
    """The own enumerable fields of a live object instance (``this.count = 3`` → ``{"count": 3}``).

    Reading does not construct the object, run its code or touch its input gate. Private
    ``#fields`` are invisible (as in JavaScript); values that cannot be cloned come back as
    :class:`OpaqueValue`.

    Args:
        mf: The emulator.
        target: A stub or id of the object.

    Returns:
        The fields, or ``None`` when the object has no instance (never used since the last
        reload, or not yet constructed).

    Raises:
        WorkerError: A getter of the instance ran into a CPU or memory limit.
    """
    object_id = _object_id(target)

    def read() -> str:
        runtime = mf._runtime
        actor = runtime.actors.get(f"{object_id.binding}:{object_id.hex}")
        if actor is None or actor.worker is None or actor.worker.isolate is None:
            return ""
        try:
            return actor.worker.isolate.instance_state(actor.key)
        except IsolateFault as fault:
            raise WorkerError.from_envelope(fault.envelope) from None

    text = mf._loop.call(read)
    if not text:
        return None
    fields: dict[str, Any] = {}
    for name, value_text, type_name in json.loads(text):
        fields[name] = OpaqueValue(type_name) if value_text is None else codec.decode(value_text)
    return fields


def object_storage(mf: Miniflare, target: DurableObjectStub | DurableObjectId) -> dict[str, Any]:
    """Every key the object stores, decoded, in key order (does not construct the object)."""
    object_id = _object_id(target)
    storage = mf.get_durable_object_storage(object_id)
    entries: dict[str, Any] = {}
    start_after: str | None = None
    while True:
        page = storage.list(limit=128) if start_after is None else storage.list(start_after=start_after, limit=128)
        entries.update(page)
        if len(page) < 128:
            return entries
        start_after = next(reversed(page))


def run_alarm(mf: Miniflare, target: DurableObjectStub | DurableObjectId) -> bool:
    """Runs the object's scheduled alarm (or pending retry) now, whatever its time.

    Returns:
        Whether an alarm ran. One that throws is scheduled for retry as usual (see the
        ``alarm.retry`` trace event); calling ``run_alarm`` again runs that retry.
    """
    object_id = _object_id(target)
    key = f"{object_id.binding}:{object_id.hex}"
    pending = mf._loop.call(lambda: key in mf._runtime.alarms.handles)
    if not pending:
        return False
    mf.flush_alarms([object_id])
    return True
