"""WebSocket ends on the host: who holds each end, and frames travelling between ends.

Every end of a ``WebSocketPair`` is registered here (``ws.pair``) and known by a number; the
JS ``WebSocket`` objects (``mfbook/js/prelude/websocket.js``) only carry that number, so an end
can cross the bridge inside a response (``wire["ws"]``) to another worker, an object, or
Python (a :class:`~mfbook.WebSocketClient`). A frame sent on one end is handed to its peer:

- an end a worker or an object accepted gets each frame as a delivery of its own into that
  isolate (``__mfKernel.wsEvent``), in order, under the object's input gate: never inside the
  sender's turn;
- an end held by Python gets it in its client's buffer;
- an end nobody accepted yet keeps its frames until it is accepted (as a pipe would).

Hibernatable ends (``ctx.acceptWebSocket``) keep their tags and attachment here, so their
object can be evicted (:mod:`mfbook.hibernation`) and constructed again for the next frame.
JavaScript reaches the hub through the synchronous ``ws.*`` host operations
(:mod:`mfbook.websocket_ops`); Python clients through :meth:`WebSocketHub.client_for`.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import WorkerError
from .scheduling import Actor, Context, Delivery, Worker
from .websocket_client import WebSocketClient

if TYPE_CHECKING:
    from .hibernation import Hibernation
    from .runtime import Runtime

__all__ = ["Frame", "SocketEnd", "WebSocketHub", "describe"]

#: Who holds an end whose JS object lives in no isolate: Python (a WebSocketClient).
PYTHON = "<python>"

#: A frame: ("m", text) | ("b", bytes) | ("c", code, reason, was_clean) | ("e", message).
Frame = tuple[Any, ...]


@dataclass(eq=False)
class SocketEnd:
    """One end of a WebSocket connection, as the host knows it."""

    socket_id: int
    peer_id: int
    #: The worker whose isolate holds the JS object (None while it crosses in a response).
    holder: str | None
    #: Where accepted frames go: the accepting worker and, inside an object, its key.
    worker: str | None = None
    actor_key: str | None = None
    accepted: bool = False
    hibernatable: bool = False
    tags: tuple[str, ...] = ()
    attachment: str | None = None  # value codec text
    auto_response_ms: float | None = None
    sent_close: bool = False
    got_close: bool = False
    client: WebSocketClient | None = None
    pending: list[Frame] = field(default_factory=list)
    #: Handler deliveries (``webSocketMessage`` etc.) queued or running for this end: while
    #: any is, the host keeps the end even when it is finished, so a late ``webSocketClose``
    #: can still ask for its tags and attachment.
    handlers: int = 0

    @property
    def finished(self) -> bool:
        return self.sent_close and self.got_close


class _ClientLink:
    """A Python client's way into the engine: each frame is queued for the loop thread."""

    def __init__(self, hub: WebSocketHub, end: SocketEnd, post: Callable[[Callable[[], Any]], None]) -> None:
        self._hub = hub
        self._end = end
        self._post = post

    def send(self, data: str | bytes) -> None:
        frame: Frame = ("m", data) if isinstance(data, str) else ("b", data)
        self._post(lambda: self._hub.client_frame(self._end, frame))

    def close(self, code: int, reason: str) -> None:
        self._post(lambda: self._hub.client_frame(self._end, ("c", code, reason, True)))

    def abort(self) -> None:
        frame = ("c", 1006, "WebSocket disconnected without sending Close frame.", False)
        self._post(lambda: self._hub.client_frame(self._end, frame))


class WebSocketHub:
    """Every WebSocket end of one runtime (runs under the engine lock)."""

    def __init__(self, runtime: Runtime, hibernation: Hibernation) -> None:
        self._runtime = runtime
        self.hibernation = hibernation
        self.ends: dict[int, SocketEnd] = {}
        self.ids = itertools.count(1)
        #: Hibernatable ends per object key, in the order they were accepted.
        self.by_actor: dict[str, dict[int, SocketEnd]] = {}
        #: ``setWebSocketAutoResponse`` pairs per object key.
        self.auto_responses: dict[str, tuple[str, str]] = {}

    # ------------------------------------------------------------------ Python clients
    def client_for(self, socket_id: int, post: Callable[[Callable[[], Any]], None], url: str = "") -> WebSocketClient:
        """The Python end of ``socket_id`` (an end that came out in a response); thread-safe."""
        end = self.ends[socket_id]
        client = WebSocketClient(_ClientLink(self, end, post), url=url)
        post(lambda: self._attach_client(end, client))
        return client

    def _attach_client(self, end: SocketEnd, client: WebSocketClient) -> None:
        end.holder = PYTHON
        end.client = client
        end.accepted = True
        self.flush_pending(end)

    def client_frame(self, end: SocketEnd, frame: Frame) -> None:
        """A frame the Python client sent (on the loop thread, under the engine lock)."""
        if end.sent_close:
            return
        if frame[0] == "c":
            end.sent_close = True
            if frame[3] is False:  # aborted: this end receives nothing more
                end.got_close = True
            self.forget_if_finished(end)
        self.to_peer(end, frame)

    # ------------------------------------------------------------------ routing
    def home(self, end: SocketEnd, worker: Worker, actor: Actor | None) -> None:
        if end.accepted:
            raise WorkerError("TypeError", "This WebSocket was already accepted.")
        end.accepted = True
        end.worker = worker.name
        end.actor_key = actor.key if actor is not None else None

    def flush_pending(self, end: SocketEnd) -> None:
        pending, end.pending = end.pending, []
        for frame in pending:
            self._receive(end, frame)

    def to_peer(self, end: SocketEnd, frame: Frame) -> None:
        peer = self.ends.get(end.peer_id)
        if peer is not None:
            self._receive(peer, frame)

    def _receive(self, end: SocketEnd, frame: Frame) -> None:
        """Hands ``frame`` to ``end``: its client, its isolate, or its buffer."""
        if end.got_close:
            return
        if not end.accepted:
            end.pending.append(frame)
            return
        if frame[0] == "c":
            end.got_close = True
        if end.client is not None:
            self._to_client(end, frame)
            return
        if end.hibernatable and frame[0] == "m" and self._auto_respond(end, frame[1]):
            return
        self._deliver(end, frame)
        self.forget_if_finished(end)

    def _to_client(self, end: SocketEnd, frame: Frame) -> None:
        client = end.client
        assert client is not None
        if frame[0] in ("m", "b"):
            client.deliver(frame[1])
            return
        code, reason = (frame[1], frame[2]) if frame[0] == "c" else (1006, str(frame[1]))
        echo = client.deliver_close(code, reason)
        if echo is not None and not end.sent_close:
            end.sent_close = True
            self.to_peer(end, ("c", echo[0], echo[1], True))
        self.forget_if_finished(end)

    def _auto_respond(self, end: SocketEnd, text: str) -> bool:
        """Answers a message matching the object's auto-response without waking it."""
        pair = self.auto_responses.get(end.actor_key or "")
        if pair is None or pair[0] != text:
            return False
        end.auto_response_ms = time.time() * 1000.0
        actor = self._runtime.actors.get(end.actor_key or "")
        self.trace("ws.autoresponse", end, actor, {"request": pair[0], "response": pair[1]})
        if not end.sent_close:
            self.to_peer(end, ("m", pair[1]))
        return True

    def _deliver(self, end: SocketEnd, frame: Frame) -> None:
        """One delivery into the isolate that accepted ``end``."""
        runtime = self._runtime
        worker = runtime.workers.get(end.worker or "")
        if worker is None:
            return  # its worker was removed by a reload: nobody can receive it any more
        actor = runtime.actors.get(end.actor_key) if end.actor_key is not None else None
        event: dict[str, Any] = {"s": end.socket_id, **_frame_wire(frame)}
        target = ""
        if actor is not None:
            if actor.worker is None:  # reloaded: the class's (new) worker receives it
                runtime.actor_for(actor.namespace, actor.hex, actor.name)
                worker = actor.worker or worker
            target = actor.target_json()
            if end.hibernatable:
                event["h"] = [end.attachment, end.sent_close, end.got_close]
                end.handlers += 1  # until the isolate reports the handler done (handler_done)
                self.hibernation.wake(actor)
        request = runtime.new_request(None)
        kind = "ws.close" if frame[0] == "c" else "ws.message"
        # The request id ties the handler's storage work (and the timeline's rows) to the frame.
        self.trace(kind, end, actor, {"direction": "in", **describe(frame)}, request.request_id)
        runtime.schedule(
            Delivery(worker, "wsEvent", (target, json.dumps(event)), Context(request, actor), gated=actor is not None)
        )
        if actor is not None and end.hibernatable:
            self.hibernation.touch(actor)

    def forget_if_finished(self, end: SocketEnd) -> None:
        if not end.finished:
            return
        if end.actor_key is not None:
            ends = self.by_actor.get(end.actor_key)
            if ends is not None:
                ends.pop(end.socket_id, None)
        peer = self.ends.get(end.peer_id)
        if peer is None or peer.finished:
            for done in (end, peer):
                if done is not None and done.handlers == 0:
                    self.ends.pop(done.socket_id, None)

    def handler_done(self, end: SocketEnd) -> None:
        """The handler of one delivery to ``end`` settled: a finished end may now be forgotten."""
        end.handlers = max(0, end.handlers - 1)
        self.forget_if_finished(end)

    def close_all(self, code: int = 1006, reason: str = "The emulator was disposed.") -> None:
        """Drops every connection (dispose, or new code: workerd disconnects on a code update).

        Python clients see a close with ``code``; no JS runs (the isolates are gone).
        """
        for end in self.ends.values():
            if end.client is not None:
                end.client.deliver_close(code, reason)
        self.ends.clear()
        self.by_actor.clear()
        self.auto_responses.clear()
        self.hibernation.cancel_all()
        self.hibernation.hibernated.clear()

    def may_receive(self) -> bool:
        """Whether a Python client may still send a frame into an isolate.

        Like workerd's pending event for a socket with a remote peer: a request waiting for
        such a frame is not hung.
        """
        return any(end.client is not None and not end.sent_close for end in self.ends.values())

    def has_plain_sockets(self, actor_key: str) -> bool:
        """Whether an object accepted a socket with ``accept()`` that is still open."""
        return any(
            end.actor_key == actor_key and end.accepted and not end.hibernatable and not end.finished
            for end in self.ends.values()
        )

    def trace(
        self, kind: str, end: SocketEnd, actor: Actor | None, data: dict[str, Any], request_id: int | None = None
    ) -> None:
        trace = self._runtime.trace
        if trace.enabled:
            fields = self._runtime.object_fields(actor)
            trace.emit(kind, request_id=request_id, data={"socket": end.socket_id, **data}, **fields)


def _frame_wire(frame: Frame) -> dict[str, Any]:
    kind = frame[0]
    if kind == "m":
        return {"t": "m", "d": frame[1]}
    if kind == "b":
        return {"t": "b", "d": bytes(frame[1]).decode("latin-1")}
    if kind == "c":
        return {"t": "c", "code": frame[1], "reason": frame[2], "clean": frame[3]}
    return {"t": "e", "message": frame[1]}


def describe(frame: Frame) -> dict[str, Any]:
    kind = frame[0]
    if kind == "m":
        return {"text": frame[1][:200], "size": len(frame[1].encode("utf-8", "surrogatepass"))}
    if kind == "b":
        return {"binary": True, "size": len(frame[1])}
    if kind == "c":
        return {"code": frame[1], "reason": frame[2]}
    return {"error": frame[1]}
