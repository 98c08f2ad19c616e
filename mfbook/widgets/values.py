"""Stored values as readable text: JS-like display, type labels, and the edit round trip.

Decoded storage values (see :mod:`mfbook.codec`) are shown the way a JS console would show
them (``Map(1) {"a" => 1}``, ``Set(2) {1, 2}``, ``Date 2024-01-01T00:00:00.000Z``), with a
short preview and a capped full text. Plain JSON or Python-literal values can be edited as
text; :func:`parse_edit` reads that text back.
"""

from __future__ import annotations

import ast
import json
import math
import re
from datetime import datetime, timezone
from typing import Any

from .. import codec

__all__ = ["describe", "editable_text", "parse_edit", "preview", "tree", "type_label"]

PREVIEW_CHARS = 120
FULL_CHARS = 20_000
TREE_ITEMS = 100
TREE_DEPTH = 6
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


class _Full(Exception):
    """The text budget ran out."""


def type_label(value: Any) -> str:
    """The JS type a decoded value came from, e.g. ``"Map"``, ``"string"``, ``"Uint8Array"``."""
    if value is None:
        return "null"
    if value is codec.UNDEFINED:
        return "undefined"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, codec.JSBigInt):
        return "bigint"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (datetime, codec.JSDate)) or value is codec.INVALID_DATE:
        return "Date"
    if isinstance(value, codec.JSRegExp):
        return "RegExp"
    if isinstance(value, codec.JSMap):
        return "Map"
    if isinstance(value, (set, frozenset, codec.JSSet)):
        return "Set"
    if isinstance(value, (list, tuple, codec.JSArray)):
        return "Array"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "ArrayBuffer"
    if isinstance(value, codec.JSTypedArray):
        return value.kind
    if isinstance(value, codec.JSError):
        return value.name
    if isinstance(value, codec.JSBoxed):
        return type_label(value.value).capitalize()
    return type(value).__name__


def describe(value: Any, *, limit: int = FULL_CHARS) -> tuple[str, bool]:
    """JS-console-like text of ``value``, at most ``limit`` characters.

    Returns:
        The text and whether it was cut at ``limit``.

    >>> describe(codec.JSMap([("a", {1, 2})]))
    ('Map(1) {"a" => Set(2) {1, 2}}', False)
    """
    parts: list[str] = []
    budget = [limit]

    def write(text: str) -> None:
        parts.append(text)
        budget[0] -= len(text)
        if budget[0] < 0:
            raise _Full

    try:
        _write(value, write, depth=0)
    except _Full:
        return "".join(parts)[:limit] + "…", True
    return "".join(parts), False


def preview(value: Any, *, chars: int = PREVIEW_CHARS) -> tuple[str, str | None]:
    """A one-line preview and, when the preview is cut, the (capped) full text."""
    text, _ = describe(value)
    if len(text) <= chars:
        return text, None
    return text[:chars] + "…", text


def _number(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 and math.copysign(1, value) < 0:
        return "-0"
    return repr(value).removesuffix(".0")


def _date_text(value: Any) -> str:
    if value is codec.INVALID_DATE:
        return "Invalid Date"
    if isinstance(value, codec.JSDate):
        return f"Date({value.ms})"
    moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text: str = moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return "Date " + text.replace("+00:00", "Z")


def _prop(name: str) -> str:
    return name if _IDENTIFIER.match(name) else json.dumps(name, ensure_ascii=False)


def _write(value: Any, write: Any, *, depth: int) -> None:  # noqa: C901 - one branch per JS type
    if depth > 8:
        write("…")
        return
    inner = depth + 1
    if value is None:
        write("null")
    elif value is codec.UNDEFINED:
        write("undefined")
    elif value is codec.HOLE:
        write("<empty>")
    elif isinstance(value, bool):
        write("true" if value else "false")
    elif isinstance(value, codec.JSBigInt):
        write(f"{int(value)}n")
    elif isinstance(value, (int, float)):
        write(_number(value))
    elif isinstance(value, str):
        write(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, (datetime, codec.JSDate)) or value is codec.INVALID_DATE:
        write(_date_text(value))
    elif isinstance(value, codec.JSRegExp):
        write(f"/{value.source}/{value.flags}")
    elif isinstance(value, codec.JSMap):
        write(f"Map({len(value)}) {{")
        for index, (key, item) in enumerate(value.items()):
            write(", " if index else "")
            _write(key, write, depth=inner)
            write(" => ")
            _write(item, write, depth=inner)
        write("}")
    elif isinstance(value, (set, frozenset, codec.JSSet)):
        members = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else list(value)
        write(f"Set({len(members)}) {{")
        for index, member in enumerate(members):
            write(", " if index else "")
            _write(member, write, depth=inner)
        write("}")
    elif isinstance(value, codec.JSArray):
        _write_items(value.to_list(), write, inner, props=value.props)
    elif isinstance(value, (list, tuple)):
        _write_items(list(value), write, inner)
    elif isinstance(value, dict):
        write("{")
        for index, (key, item) in enumerate(value.items()):
            write(", " if index else "")
            write(_prop(str(key)) + ": ")
            _write(item, write, depth=inner)
        write("}")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        hex_bytes = " ".join(f"{byte:02x}" for byte in data[:64])
        write(f"ArrayBuffer({len(data)}) <{hex_bytes}{' …' if len(data) > 64 else ''}>")
    elif isinstance(value, codec.JSTypedArray):
        write(f"{value.kind}({value.length}) ")
        _write_items(value.values(), write, inner)
    elif isinstance(value, codec.JSError):
        write(f"{value.name}: {value.message}" if value.message else value.name)
    elif isinstance(value, codec.JSBoxed):
        write(f"[{type_label(value)}: ")
        _write(value.value, write, depth=inner)
        write("]")
    else:
        write(repr(value))


def _write_items(items: list[Any], write: Any, depth: int, *, props: dict[str, Any] | None = None) -> None:
    write("[")
    for index, item in enumerate(items):
        write(", " if index else "")
        _write(item, write, depth=depth)
    for index, (name, item) in enumerate((props or {}).items()):
        write(", " if items or index else "")
        write(_prop(name) + ": ")
        _write(item, write, depth=depth)
    write("]")


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, codec.JSBigInt):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return math.isfinite(value) and not (value == 0 and math.copysign(1, value) < 0)
    if isinstance(value, list):
        return all(_is_json(item) for item in value)
    if type(value) is dict:
        return all(isinstance(key, str) and _is_json(item) for key, item in value.items())
    return False


def editable_text(value: Any) -> str | None:
    """Text to edit ``value`` with, or None when it cannot be edited as text.

    JSON stays JSON; a Date is an ISO date, a Map a JSON list of ``[key, value]`` pairs, a Set a
    JSON list (when their contents are JSON); anything else a Python literal if it round-trips.

    >>> editable_text({"a": [1, 2]}), editable_text({2, 1}), editable_text(codec.JSMap([("a", 1)]))
    ('{"a": [1, 2]}', '[1, 2]', '[["a", 1]]')
    """
    if _is_json(value):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        return _date_text(value).removeprefix("Date ")
    if isinstance(value, codec.JSMap) and all(_is_json(key) and _is_json(item) for key, item in value.items()):
        return json.dumps([[key, item] for key, item in value.items()], ensure_ascii=False)
    if isinstance(value, (set, frozenset, codec.JSSet)) and all(_is_json(member) for member in value):
        members = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else list(value)
        return json.dumps(members, ensure_ascii=False)
    text = repr(value)
    try:
        if ast.literal_eval(text) == value and type(ast.literal_eval(text)) is type(value):
            return text
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    return None


def parse_edit(text: str, *, kind: str | None = None) -> Any:
    """Reads an edited value: JSON first, then a Python literal (sets, bytes, tuples...).

    Args:
        text: The edited text.
        kind: ``"Date"``, ``"Map"`` or ``"Set"`` to read the text as that JS type (see
            :func:`editable_text`); anything else reads JSON or a Python literal.

    Raises:
        ValueError: The text does not parse (as ``kind``, when given).

    >>> parse_edit('{"a": 1}'), parse_edit("{1, 2}"), parse_edit('["x"]', kind="Set")
    ({'a': 1}, {1, 2}, {'x'})
    """
    text = text.strip()
    if kind == "Date":
        return _parse_date(text)
    if kind in ("Map", "Set"):
        try:
            parsed = json.loads(text)
        except ValueError as error:
            raise ValueError(f"a {kind} is edited as JSON: {error}") from None
        return _as_map(parsed) if kind == "Map" else _as_set(parsed)
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as error:
        raise ValueError(f"not JSON or a Python literal: {error}") from None


def _parse_date(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip('"').replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO date such as 2024-01-31T12:00:00.000Z: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _as_map(parsed: Any) -> codec.JSMap:
    if isinstance(parsed, dict):
        return codec.JSMap(parsed.items())
    if isinstance(parsed, list) and all(isinstance(pair, list) and len(pair) == 2 for pair in parsed):
        return codec.JSMap((key, item) for key, item in parsed)
    raise ValueError('a Map is a JSON object or a list of [key, value] pairs, e.g. [["a", 1]]')


def _as_set(parsed: Any) -> Any:
    if not isinstance(parsed, list):
        raise ValueError("a Set is a JSON list, e.g. [1, 2]")
    try:
        return set(parsed)
    except TypeError:  # objects as members: a JS set keeps them by identity
        return codec.JSSet(parsed)


def tree(value: Any, *, depth: int = 0) -> dict[str, Any] | None:
    """A container value as an expandable tree: ``{"label", "children": [{"key", ...}]}``.

    Scalars give None (their preview says it all). At most ``TREE_ITEMS`` children per node and
    ``TREE_DEPTH`` levels are kept (``"more"`` counts what was left out).

    >>> tree({"a": [1]})
    {'label': 'Object(1)', 'children': [{'key': 'a', 'label': 'Array(1)', 'children': [{'key': '0', 'label': '1'}]}]}
    """
    items: list[tuple[str, Any]]
    if isinstance(value, codec.JSMap):
        items = [(describe(key, limit=80)[0], item) for key, item in value.items()]
    elif isinstance(value, (set, frozenset, codec.JSSet)):
        members = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else list(value)
        items = [(str(index), member) for index, member in enumerate(members)]
    elif isinstance(value, codec.JSArray):
        items = [(str(index), item) for index, item in enumerate(value.to_list())] + list(value.props.items())
    elif isinstance(value, (list, tuple)):
        items = [(str(index), item) for index, item in enumerate(value)]
    elif isinstance(value, dict):
        items = [(str(key), item) for key, item in value.items()]
    else:
        return None
    node: dict[str, Any] = {"label": f"{type_label(value)}({len(items)})"}
    if depth >= TREE_DEPTH:
        node["more"] = len(items)
        return node
    children = []
    for key, item in items[:TREE_ITEMS]:
        child = tree(item, depth=depth + 1)
        children.append({"key": key, **(child if child is not None else {"label": preview(item, chars=200)[0]})})
    node["children"] = children
    if len(items) > TREE_ITEMS:
        node["more"] = len(items) - TREE_ITEMS
    return node
