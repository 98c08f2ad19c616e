"""Checks the outbox an isolate hands back before the runtime acts on it.

The outbox is JSON text produced inside the isolate, where worker code runs too. The kernel
builds it with built-ins captured before that code (``js/intrinsics.js``), but nothing that
crosses from JS is trusted: an outbox that is not a list of entries with the fields their
operation needs is refused as a whole, with a :class:`~mfbook.errors.WorkerError` for the
delivery's request, instead of failing half-way through on the emulator thread.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import WorkerError

__all__ = ["parse_outbox"]

_scan: Any = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_INT = (int,)
_NUMBER = (int, float)
_TEXT = (str,)
_FLAG = (bool,)
_LIST = (list,)

#: The fields each operation must carry, with their JSON types (``bool`` is not an int here).
_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "st": {"a": _TEXT, "m": _TEXT},
    "done": {"ev": _INT, "ok": _FLAG},
    "dstart": {"d": _INT, "binding": _TEXT, "hex": _TEXT, "kind": _TEXT},
    "dend": {"d": _INT, "ok": _FLAG},
    "console": {"level": _TEXT, "text": _TEXT},
    "timer": {"timer": _INT, "ms": _NUMBER, "repeat": _FLAG},
    "cleartimer": {"timer": _INT},
    "bcw": {"a": _TEXT, "phase": _TEXT, "id": _INT},
    "trace": {"a": _TEXT, "kind": _TEXT, "keys": _LIST},
    "background_error": {"error": (dict,)},
}
_REQUIRED = {op: tuple(fields.items()) for op, fields in _FIELDS.items()}
_NOTHING: tuple[tuple[str, tuple[type, ...]], ...] = ()


def parse_outbox(text: str) -> list[dict[str, Any]]:
    """Parses and checks an outbox (``""`` is an empty one).

    Raises:
        WorkerError: the text is not a well-formed outbox.
    """
    if not text:
        return []
    try:
        entries, end = _scan(text, 0)  # json's C scanner: no whitespace handling needed here
    except StopIteration:
        raise _malformed("not JSON") from None
    except (TypeError, ValueError) as error:
        raise _malformed(f"not JSON ({error})") from None
    if end != len(text):
        raise _malformed(f"not JSON (extra data at {end})")
    if not isinstance(entries, list):
        raise _malformed(f"a {type(entries).__name__}, not a list")
    for position, entry in enumerate(entries):
        problem = _problem(entry)
        if problem is not None:
            raise _malformed(f"entry {position} {problem}")
    return entries


def _problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return f"is a {type(entry).__name__}, not an object"
    op = entry.get("op")
    if not isinstance(op, str):
        return "has no operation name"
    if "id" in entry and type(entry["id"]) is not int:
        return f"({op}) has a non-integer id"
    for field, types in _REQUIRED.get(op, _NOTHING):
        if type(entry.get(field)) not in types:  # JSON gives exact types; True is no int here
            return f"({op}) lacks a valid {field!r}"
    if op == "done":
        outcome = entry.get("value" if entry["ok"] else "error", None)
        if not entry["ok"] and not isinstance(outcome, dict):
            return "(done) has no error object"
    if op == "dend" and not entry.get("local") and type(entry.get("id")) is not int:
        return "(dend) has no id"
    return None


def _malformed(detail: str) -> WorkerError:
    return WorkerError(
        "Error",
        f"Internal error: the isolate returned a malformed outbox ({detail}). Worker code may have "
        "replaced a built-in the runtime relies on.",
    )
