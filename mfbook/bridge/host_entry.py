"""The one synchronous JS → Python entry of an isolate.

JavaScript calls ``__mfHost.call(op, payload)``; the kernel turns that into one string,
``JSON.stringify([op, payload])``, and hands it to this entry, which answers one string,
``[1, result]`` or ``[0, {name, message}]``. Everything about the binding that can go wrong
with a richer signature is avoided this way (research notes: ``shared/research/bridge-v2``):

- a Python exception raised through QuickJS stays set and breaks a later call, so the entry
  catches everything (``BaseException``: a Ctrl-C arriving meanwhile trips the isolate
  instead of escaping into C);
- the binding truncates JS strings at NUL and cannot pass lone surrogates, so both directions
  are JSON text with every non-ASCII character escaped;
- a handler never calls back into JS (nesting loosens QuickJS's stack guard).

Handlers are looked up in a table by operation name; the caller's context (which request,
which object) is the host's own record of the running delivery, never something JS sends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from ..errors import envelope_from_exception

__all__ = ["HostEntry", "SyncHandler"]

logger = logging.getLogger("mfbook")

#: A synchronous operation: ``handler(payload) -> JSON-able result``; raising rejects.
SyncHandler = Callable[[Any], Any]

_dumps = json.JSONEncoder(ensure_ascii=True, check_circular=False, separators=(",", ":")).encode
# The C scanner without json.loads' wrapper (two regex passes for whitespace JS never sends).
_scan: Any = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_quote: Any = getattr(json.encoder, "c_encode_basestring_ascii", None) or json.encoder.py_encode_basestring_ascii
_NONE_ANSWER = "[1,null]"


def _answer(result: Any) -> str:
    """``[1, result]`` as ASCII JSON; the common answers (nothing, a string) without the encoder."""
    if result is None:
        return _NONE_ANSWER
    if type(result) is str:
        return "[1," + str(_quote(result)) + "]"
    return _dumps([1, result])


class HostEntry:
    """Dispatches synchronous host calls of one isolate to their handlers.

    Args:
        handlers: Operation name → handler (shared, read-only here).
        on_interrupt: Called when Ctrl-C arrives while a handler runs (trips the isolate).
    """

    __slots__ = ("_handlers", "_on_interrupt", "calls")

    def __init__(self, handlers: dict[str, SyncHandler], *, on_interrupt: Callable[[], None]) -> None:
        self._handlers = handlers
        self._on_interrupt = on_interrupt
        self.calls = 0

    def _take_notes(self, notes: list[Any]) -> None:
        """Handles the notes JS made since its last call (puts, cached reads), in order.

        A note has no answer: one that fails is logged, as an outbox entry would be.
        """
        handlers = self._handlers
        for note in notes:
            try:
                handlers[note["op"]](note)
            except Exception:  # noqa: BLE001 - nobody waits on a note
                logger.exception("host note %s failed", note.get("op"))

    def __call__(self, text: Any) -> str:
        """The callable registered with the context: one string in, one string out, never raises."""
        try:
            self.calls += 1
            request, _ = _scan(text, 0)
            op, payload = request[0], request[1]
            if len(request) > 2:
                self._take_notes(request[2])
            handler = self._handlers.get(op)
            if handler is None:
                return _dumps([0, {"name": "Error", "message": f"Unknown synchronous host operation {op!r}"}])
            return _answer(handler(payload))
        except KeyboardInterrupt:
            self._on_interrupt()
            return _dumps([0, {"name": "Error", "message": "Interrupted (KeyboardInterrupt)."}])
        except BaseException as error:  # noqa: BLE001 - nothing may raise through QuickJS
            try:
                return _dumps([0, envelope_from_exception(error)])
            except BaseException:  # noqa: BLE001 - e.g. an unencodable message
                return '[0,{"name":"Error","message":"Host call failed."}]'
