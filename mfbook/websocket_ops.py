"""The synchronous host operations behind ``WebSocket`` and the hibernation API (``ws.*``).

``js/prelude/websocket.js`` and ``js/kernel/websockets.js`` call these through the isolate's
synchronous entry (docs/ARCHITECTURE.md section 1). Each checks who is calling (the running
delivery's worker holds the end, or exports the object's class), applies workerd's limits
and error texts, and leaves routing to :class:`mfbook.websocket_hub.WebSocketHub`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import WorkerError
from .scheduling import Actor, Context, Worker
from .v8size import v8_size_of_text
from .websocket_hub import Frame, SocketEnd, WebSocketHub, describe

if TYPE_CHECKING:
    from .bridge.host_entry import SyncHandler
    from .runtime import Runtime

__all__ = ["WebSocketOps"]

#: workerd's limits (src/workerd/api/web-socket.h, actor-state.h/.c++).
MAX_ATTACHMENT_BYTES = 2048
MAX_TAGS = 10
MAX_TAG_LENGTH = 256


class WebSocketOps:
    """The ``ws.*`` operations, as a table for the host entry (engine lock held)."""

    def __init__(self, runtime: Runtime, hub: WebSocketHub) -> None:
        self._runtime = runtime
        self._hub = hub

    def handlers(self) -> dict[str, SyncHandler]:
        return {
            "ws.pair": self.pair,
            "ws.adopt": self.adopt,
            "ws.release": self.release,
            "ws.accept": self.accept,
            "ws.acceptHibernatable": self.accept_hibernatable,
            "ws.send": self.send,
            "ws.close": self.close,
            "ws.attach": self.attach,
            "ws.list": self.list_hibernatable,
            "ws.tags": self.tags,
            "ws.autoSet": self.set_auto_response,
            "ws.autoGet": self.get_auto_response,
            "ws.autoTime": self.auto_response_time,
            "ws.handled": self.handled,
        }

    # ------------------------------------------------------------------ callers
    def _caller(self) -> tuple[Worker, Context]:
        runtime = self._runtime
        worker, ctx = runtime.current_worker, runtime.current
        if worker is None or ctx is None:
            raise WorkerError("Error", "WebSockets can only be used while the worker's code runs.")
        return worker, ctx

    def _op_context(self, entry: dict[str, Any]) -> tuple[Worker, Context]:
        worker, ctx = self._caller()
        if "d" in entry:
            ctx = self._runtime.calls.op_context(worker, ctx, entry)
        return worker, ctx

    def _named_actor(self, entry: dict[str, Any]) -> Actor:
        """The object ``entry["a"]`` names, if its class lives in the calling worker.

        Not the delivery's context: an object's constructor, run by a direct call whose start
        is still queued behind a storage operation, has none yet (host.js, ``spill``).
        """
        worker, _ = self._caller()
        binding, _, hex_id = str(entry.get("a", "")).partition(":")
        namespace = self._runtime.find_namespace(binding)
        if namespace is None or namespace.script_name != worker.name:
            raise WorkerError("Error", "WebSocket operation refused: it names no Durable Object of this worker.")
        return self._runtime.actor_for(namespace, hex_id)

    def _held(self, entry: dict[str, Any]) -> tuple[Worker, Context, SocketEnd]:
        """The end ``entry["s"]`` names, if the calling worker holds it."""
        worker, ctx = self._op_context(entry)
        end = self._hub.ends.get(entry.get("s", 0))
        if end is None or end.holder != worker.name:
            raise WorkerError("Error", "This WebSocket is not held by this worker.")
        return worker, ctx, end

    # ------------------------------------------------------------------ JS operations
    def pair(self, entry: Any) -> list[int]:
        worker, _ = self._caller()
        first, second = next(self._hub.ids), next(self._hub.ids)
        self._hub.ends[first] = SocketEnd(first, second, worker.name)
        self._hub.ends[second] = SocketEnd(second, first, worker.name)
        return [first, second]

    def release(self, entry: dict[str, Any]) -> None:
        """The end leaves its isolate inside a response (``responseToWire``)."""
        _, _, end = self._held(entry)
        end.holder = None

    def adopt(self, entry: dict[str, Any]) -> None:
        """An end that crossed in a response arrives in the calling isolate."""
        worker, _ = self._caller()
        end = self._hub.ends.get(entry.get("s", 0))
        if end is None or end.holder is not None:
            raise WorkerError("TypeError", "This WebSocket was already used in a response.")
        end.holder = worker.name

    def accept(self, entry: dict[str, Any]) -> None:
        worker, ctx, end = self._held(entry)
        actor = ctx.actor
        if actor is None and "o" in entry:  # a direct call whose start the host has not seen yet
            actor = self._named_actor({"a": entry["o"]})
        self._hub.home(end, worker, actor)
        self._hub.trace("ws.accept", end, actor, {"hibernatable": False})
        self._hub.flush_pending(end)

    def accept_hibernatable(self, entry: dict[str, Any]) -> None:
        worker, _, end = self._held(entry)
        actor = self._named_actor(entry)
        tags = entry.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise WorkerError("TypeError", "acceptWebSocket(): tags must be an array of strings.")
        distinct: list[str] = []
        for tag in tags:
            if len(distinct) >= MAX_TAGS:
                raise WorkerError("Error", f"a Hibernatable WebSocket cannot have more than {MAX_TAGS} tags")
            if len(tag.encode("utf-8", "surrogatepass")) > MAX_TAG_LENGTH:
                raise WorkerError("Error", f'"{tag}" is longer than the max tag length ({MAX_TAG_LENGTH} characters).')
            if tag not in distinct:
                distinct.append(tag)
        self._hub.home(end, worker, actor)
        end.hibernatable = True
        end.tags = tuple(distinct)
        self._hub.by_actor.setdefault(actor.key, {})[end.socket_id] = end
        self._hub.trace("ws.accept", end, actor, {"hibernatable": True, "tags": list(distinct)})
        self._hub.flush_pending(end)
        self._hub.hibernation.touch(actor)

    def send(self, entry: dict[str, Any]) -> None:
        _, ctx, end = self._held(entry)
        if end.sent_close:
            raise WorkerError("TypeError", "Can't call WebSocket send() after close().")
        frame: Frame = ("m", entry["t"]) if "t" in entry else ("b", str(entry["b"]).encode("latin-1"))
        self._hub.trace("ws.message", end, ctx.actor, {"direction": "out", **describe(frame)})
        self._hub.to_peer(end, frame)

    def close(self, entry: dict[str, Any]) -> None:
        _, ctx, end = self._held(entry)
        if end.sent_close:
            return
        code = entry.get("c")
        reason = str(entry.get("r") or "")
        frame: Frame = ("c", 1005 if code is None else int(code), reason, True)
        end.sent_close = True
        self._hub.trace("ws.close", end, ctx.actor, {"direction": "out", "code": frame[1], "reason": reason})
        self._hub.to_peer(end, frame)
        self._hub.forget_if_finished(end)

    def attach(self, entry: dict[str, Any]) -> None:
        _, _, end = self._held(entry)
        text = entry.get("v")
        if text is not None:
            size = v8_size_of_text(str(text))
            if size > MAX_ATTACHMENT_BYTES:
                raise WorkerError(
                    "Error",
                    f"A WebSocket 'attachment' cannot be larger than {MAX_ATTACHMENT_BYTES} bytes."
                    f"'attachment' was {size} bytes.",
                )
        end.attachment = None if text is None else str(text)

    def list_hibernatable(self, entry: dict[str, Any]) -> list[list[Any]]:
        """``[[id, attachment, sentClose, gotClose], ...]`` of the object's hibernatable ends (``tag`` filters)."""
        actor = self._named_actor(entry)
        tag = entry.get("tag")
        ends = self._hub.by_actor.get(actor.key, {}).values()
        return [
            [end.socket_id, end.attachment, end.sent_close, end.got_close]
            for end in ends
            if tag is None or tag in end.tags
        ]

    def tags(self, entry: dict[str, Any]) -> list[str]:
        _, _, end = self._held(entry)
        return list(end.tags)

    def handled(self, entry: dict[str, Any]) -> None:
        """A hibernatable handler for the end ``entry["s"]`` settled (kernel/websockets.js)."""
        _, _, end = self._held(entry)
        self._hub.handler_done(end)

    def set_auto_response(self, entry: dict[str, Any]) -> None:
        actor = self._named_actor(entry)
        if entry.get("q") is None:
            self._hub.auto_responses.pop(actor.key, None)
            return
        self._hub.auto_responses[actor.key] = (str(entry["q"]), str(entry["r"]))

    def get_auto_response(self, entry: dict[str, Any]) -> list[str] | None:
        pair = self._hub.auto_responses.get(self._named_actor(entry).key)
        return None if pair is None else list(pair)

    def auto_response_time(self, entry: dict[str, Any]) -> float | None:
        _, _, end = self._held(entry)
        return end.auto_response_ms
