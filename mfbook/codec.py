"""The value codec (codec v1, "tagged JSON"): structured-clone values as text.

Durable Object storage accepts any value that v8's structured clone accepts. mfbook stores
and moves such values as the UTF-8 text of one JSON document. This module is the Python half
of the codec; ``mfbook/js/codec.js`` is the JavaScript half (``globalThis.__mfCodec``). For
the same value both halves produce the same text, except for the order of a Python ``set``
and the rare number that QuickJS writes with more digits than the shortest form (``2**-24``);
either way the decoded values are equal.

Format
======

A document is one JSON value. JSON-native values stand for themselves: ``null``, ``true``,
``false``, strings, finite numbers other than ``-0`` (written as JS ``Number#toString``
writes them), arrays without holes or extra properties, and objects without a ``"$"`` key.
Everything else is a *tagged object* ``{"$": <tag>, ...fields}``. Keys appear in JS
property order (array-index keys ascending, then the rest in insertion order). Text is as
``JSON.stringify`` writes it: no spaces, non-ASCII kept, control characters and lone
surrogates escaped as ``\\u0000``-style and ``\\ud800``-style escapes.

Primitive tags (no object identity):

=============  ============================================  ===========================
tag            fields                                        JS value
=============  ============================================  ===========================
``undefined``  --                                            ``undefined``
``number``     ``v``: ``"NaN"``, ``"Infinity"``,             non-finite numbers and -0
               ``"-Infinity"`` or ``"-0"``
``bigint``     ``v``: decimal string, e.g. ``"-12"``         BigInt
``ref``        ``id``: object number (see below)             an object seen earlier
=============  ============================================  ===========================

Object tags:

===============  ===========================================  ==============================
tag              fields                                       JS value
===============  ===========================================  ==============================
``date``         ``v``: ms since epoch, ``null`` if invalid   Date
``regexp``       ``source``, ``flags`` (strings)              RegExp (``lastIndex`` dropped)
``map``          ``entries``: ``[[key, value], ...]``         Map
``set``          ``values``: ``[value, ...]``                 Set
``array``        ``length``; ``items``: a list (no holes) or  Array with holes or non-index
                 an object ``{"<index>": value}``;            properties
                 ``props``: ``{name: value}`` (optional)
``object``       ``props``: ``{name: value}``                 plain object with a ``"$"`` key
``arraybuffer``  ``base64``: standard, padded                 ArrayBuffer
``view``         ``kind`` (``"Uint8Array"``, ...,             typed array or DataView
                 ``"DataView"``), ``byteOffset``, ``length``
                 (elements; bytes for DataView), ``buffer``
                 (an ``arraybuffer`` or a ``ref`` to one)
``error``        ``name``; ``message``, ``stack`` (strings)   Error (``message`` omitted when
                 and ``cause`` (a value), each optional       empty)
``boxed``        ``v``: a primitive (bare or tagged)          ``new Number(1)``, ``Object(1n)``
===============  ===========================================  ==============================

The ``props`` and ``items`` objects are raw key maps, not values: their keys are never tags.
Class instances are encoded as plain objects (own enumerable string keys), as v8 does.

Shared and circular references. Every *object* gets a number, in the order a depth-first,
document-order walk first meets it, starting at 0: JSON arrays and objects, and every object
tag above (a ``view`` is numbered before its ``buffer``; an ``error`` before its ``cause``).
Primitive tags and the ``props``/``items``/``entries``/``values`` containers are not
numbered. A later occurrence of the same object is written ``{"$": "ref", "id": n}``.

Versioning. A bare document is version 1; there is no header, so plain JSON values stay
plain JSON. A later version will wrap the whole document as
``{"$": "codec", "v": <version>, "value": ...}``; decoders reject versions they do not know
(an explicit ``"v": 1`` envelope is accepted).

Python types
============

Decoding gives natural Python values; encoding accepts them back:

- ``null`` -> ``None``; ``undefined`` -> :data:`UNDEFINED` (falsy, repr ``undefined``).
- numbers -> ``int`` when integral and ``|n| <= 2**53`` (``-0`` -> ``-0.0``), else ``float``.
  Encoding: ``int`` with ``|n| <= 2**53`` and ``float`` -> number (an integral ``float``
  comes back as ``int``); larger ``int`` -> BigInt.
- BigInt -> :class:`JSBigInt` (an ``int`` subclass that re-encodes as BigInt).
- strings -> ``str`` (lone surrogates kept; a surrogate *pair* written as two code points
  becomes one astral character in JS).
- Date -> aware ``datetime`` in UTC (ms precision); invalid -> :data:`INVALID_DATE`; outside
  ``datetime``'s range -> :class:`JSDate`. Encoding: naive ``datetime`` means UTC;
  microseconds are truncated to ms.
- RegExp -> :class:`JSRegExp` (JS source and flags; ``.to_python()`` compiles a best-effort
  ``re.Pattern``). A ``re.Pattern`` also encodes (flags ``i``/``m``/``s``).
- Map -> :class:`JSMap` (ordered; any keys; primitive keys by value, objects by identity).
- Set -> ``set`` when every member is a primitive and Python's equality merges none of them
  (``1`` vs ``true``), else :class:`JSSet`. ``set``/``frozenset``/:class:`JSSet` encode as Set.
- Array -> ``list``; with holes or non-index properties -> :class:`JSArray` (holes read as
  :data:`HOLE`). ``list``/``tuple`` encode as arrays; :data:`HOLE` in a list makes a hole.
- plain object -> ``dict`` (``str`` keys; other keys raise ``TypeError``: use :class:`JSMap`).
- ArrayBuffer -> ``bytes`` (``bytes``/``bytearray``/``memoryview`` encode as ArrayBuffer).
- typed arrays and DataView -> :class:`JSTypedArray`; its ``buffer`` is the whole
  ArrayBuffer, and views decoded from one shared buffer hold the *same* ``bytes`` object.
- Error -> :class:`JSError`; boxed primitives -> :class:`JSBoxed`.

Shared references are identity based on both sides: the same Python object reached twice
encodes once plus refs (including interned objects such as ``b""`` or ``()``).
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import (
    Iterable,
    Mapping,
)
from datetime import datetime, timedelta, timezone
from typing import Any

from .codec_types import (  # noqa: F401 - re-exported
    _EPOCH,
    _MAX_DATE_MS,
    _MS,
    _VIEW_FORMATS,
    HOLE,
    INVALID_DATE,
    MAX_SAFE_INTEGER,
    NO_CAUSE,
    UNDEFINED,
    JSArray,
    JSBigInt,
    JSBoxed,
    JSDate,
    JSError,
    JSMap,
    JSRegExp,
    JSSet,
    JSTypedArray,
    _Hole,
    _InvalidDate,
    _key_of,
    _NoCause,
    _normalize_zero,
    _Undefined,
)

__all__ = [
    "HOLE",
    "INVALID_DATE",
    "NO_CAUSE",
    "UNDEFINED",
    "VERSION",
    "JSArray",
    "JSBigInt",
    "JSBoxed",
    "JSDate",
    "JSError",
    "JSMap",
    "JSRegExp",
    "JSSet",
    "JSTypedArray",
    "decode",
    "decode_bytes",
    "encode",
    "encode_bytes",
    "encoded_size",
]

VERSION = 1


# ---------------------------------------------------------------------------- encoding

_encode_string: Any = getattr(json.encoder, "c_encode_basestring", None) or (json.encoder.py_encode_basestring)

_SURROGATE = re.compile("[\ud800-\udfff]")
_PRIMITIVE_TYPES = (str, bool, int, float, type(None), _Undefined)
_REGEX_FLAGS = (("i", re.IGNORECASE), ("m", re.MULTILINE), ("s", re.DOTALL))


def _is_index(key: str) -> bool:
    """True for a canonical JS array index ("0" .. "4294967294")."""
    return key.isdigit() and key.isascii() and (key == "0" or key[0] != "0") and int(key) < 4294967295


def _js_key_order(keys: list[str]) -> list[str]:
    """Keys in JS own-property order: array indices ascending, then insertion order."""
    indices = [key for key in keys if key[:1].isdigit() and _is_index(key)]
    if not indices:
        return keys
    indices.sort(key=int)
    return indices + [key for key in keys if not _is_index(key)]


def _format_number(value: float) -> str:
    """Format a finite number as JS ``Number.prototype.toString`` does."""
    if value.is_integer() and abs(value) <= MAX_SAFE_INTEGER:
        return str(int(value))
    text = repr(value)
    sign = ""
    if text[0] == "-":
        sign, text = "-", text[1:]
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    count = len(digits)
    if count <= point <= 21:
        body = digits + "0" * (point - count)
    elif 0 < point <= 21:
        body = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        body = "0." + "0" * -point + digits
    else:
        power = point - 1
        body = digits[0] + ("." + digits[1:] if count > 1 else "")
        body += ("e+" if power >= 0 else "e-") + str(abs(power))
    return sign + body


def _number_text(value: float) -> str:
    if value != value:
        return '{"$":"number","v":"NaN"}'
    if value in (math.inf, -math.inf):
        return '{"$":"number","v":"Infinity"}' if value > 0 else '{"$":"number","v":"-Infinity"}'
    if value == 0 and math.copysign(1.0, value) < 0:
        return '{"$":"number","v":"-0"}'
    return _format_number(value)


def _int_text(value: int) -> str:
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return str(value)
    return f'{{"$":"bigint","v":"{value}"}}'


class _Encoder:
    """One encoding run: writes text parts and numbers objects by identity."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.ids: dict[int, int] = {}

    def value(self, value: Any) -> None:
        kind = type(value)
        if kind is str:
            self.parts.append(_encode_string(value))
        elif value is None:
            self.parts.append("null")
        elif kind is bool:
            self.parts.append("true" if value else "false")
        elif kind is int:
            self.parts.append(_int_text(value))
        elif kind is float:
            self.parts.append(_number_text(value))
        elif value is UNDEFINED:
            self.parts.append('{"$":"undefined"}')
        elif isinstance(value, JSBigInt):
            self.parts.append(f'{{"$":"bigint","v":"{int(value)}"}}')
        elif isinstance(value, (str, bool, int, float)):
            self.value(_plain_primitive(value))
        elif value is HOLE:
            raise TypeError("HOLE can only stand for a missing element of a list")
        else:
            known = self.ids.get(id(value))
            if known is not None:
                self.parts.append(f'{{"$":"ref","id":{known}}}')
            else:
                self.ids[id(value)] = len(self.ids)
                self.object(value)

    def object(self, value: Any) -> None:
        if isinstance(value, (list, tuple)):
            self.sequence(value)
        elif isinstance(value, JSMap):
            self.entries(value)
        elif isinstance(value, Mapping):
            self.mapping(value)
        elif isinstance(value, (set, frozenset, JSSet)):
            self.members(value)
        elif isinstance(value, (bytes, bytearray, memoryview)):
            data = base64.b64encode(value).decode("ascii")
            self.parts.append(f'{{"$":"arraybuffer","base64":"{data}"}}')
        elif isinstance(value, datetime):
            self.parts.append(f'{{"$":"date","v":{_datetime_ms(value)}}}')
        elif isinstance(value, JSDate):
            if not -_MAX_DATE_MS <= value.ms <= _MAX_DATE_MS:
                raise ValueError(f"JSDate out of range: {value.ms}")
            self.parts.append(f'{{"$":"date","v":{int(value.ms)}}}')
        elif value is INVALID_DATE:
            self.parts.append('{"$":"date","v":null}')
        elif isinstance(value, (JSRegExp, re.Pattern)):
            self.regexp(value)
        elif isinstance(value, JSTypedArray):
            self.parts.append(
                f'{{"$":"view","kind":"{value.kind}","byteOffset":{value.byte_offset},"length":{value.length},"buffer":'
            )
            self.value(value.buffer)
            self.parts.append("}")
        elif isinstance(value, JSError):
            self.error(value)
        elif isinstance(value, JSBoxed):
            self.boxed(value)
        elif isinstance(value, JSArray):
            self.array(value.length, value.items, value.props)
        else:
            raise TypeError(f"cannot encode a value of type {type(value).__qualname__}")

    def sequence(self, value: list[Any] | tuple[Any, ...]) -> None:
        if any(item is HOLE for item in value):
            items = {i: item for i, item in enumerate(value) if item is not HOLE}
            self.array(len(value), items, {})
            return
        self.parts.append("[")
        for i, item in enumerate(value):
            if i:
                self.parts.append(",")
            self.value(item)
        self.parts.append("]")

    def mapping(self, value: Mapping[Any, Any]) -> None:
        for key in value:
            if not isinstance(key, str):
                raise TypeError(
                    f"object keys must be str, not {type(key).__qualname__} "
                    f"({key!r}); use JSMap for a Map with other keys"
                )
        dollar = "$" in value
        if dollar:
            self.parts.append('{"$":"object","props":')
        self.props(value)
        if dollar:
            self.parts.append("}")

    def props(self, value: Mapping[str, Any]) -> None:
        self.parts.append("{")
        for i, key in enumerate(_js_key_order(list(value))):
            if i:
                self.parts.append(",")
            self.parts.append(_encode_string(str(key)) + ":")
            self.value(value[key])
        self.parts.append("}")

    def array(self, length: int, items: Mapping[int, Any], props: Mapping[str, Any]) -> None:
        bad = [key for key in props if not isinstance(key, str) or _is_index(key)]
        if bad:
            raise ValueError(f"JSArray props must be non-index str keys, got {bad[0]!r}")
        if any(not 0 <= index < length for index in items):
            raise ValueError("JSArray item index out of range of its length")
        self.parts.append(f'{{"$":"array","length":{length},"items":')
        indices = sorted(items)
        if len(indices) == length:
            self.parts.append("[")
            for index in indices:
                if index:
                    self.parts.append(",")
                self.value(items[index])
            self.parts.append("]")
        else:
            self.parts.append("{")
            for i, index in enumerate(indices):
                self.parts.append(f',"{index}":' if i else f'"{index}":')
                self.value(items[index])
            self.parts.append("}")
        if props:
            self.parts.append(',"props":')
            self.props(props)
        self.parts.append("}")

    def entries(self, value: JSMap) -> None:
        self.parts.append('{"$":"map","entries":[')
        for i, (key, item) in enumerate(value.items()):
            self.parts.append(",[" if i else "[")
            self.value(key)
            self.parts.append(",")
            self.value(item)
            self.parts.append("]")
        self.parts.append("]}")

    def members(self, value: Iterable[Any]) -> None:
        self.parts.append('{"$":"set","values":[')
        for i, member in enumerate(value):
            if i:
                self.parts.append(",")
            self.value(member)
        self.parts.append("]}")

    def regexp(self, value: JSRegExp | re.Pattern[Any]) -> None:
        if isinstance(value, re.Pattern):
            if not isinstance(value.pattern, str):
                raise TypeError("cannot encode a bytes re.Pattern")
            flags = "".join(letter for letter, bit in _REGEX_FLAGS if value.flags & bit)
            value = JSRegExp(value.pattern, flags)
        source, flags = _encode_string(value.source), _encode_string(value.flags)
        self.parts.append(f'{{"$":"regexp","source":{source},"flags":{flags}}}')

    def error(self, value: JSError) -> None:
        self.parts.append('{"$":"error","name":' + _encode_string(value.name))
        if value.message:
            self.parts.append(',"message":' + _encode_string(value.message))
        if value.stack is not None:
            self.parts.append(',"stack":' + _encode_string(value.stack))
        if value.cause is not NO_CAUSE:
            self.parts.append(',"cause":')
            self.value(value.cause)
        self.parts.append("}")

    def boxed(self, value: JSBoxed) -> None:
        inner = value.value
        if not isinstance(inner, (bool, int, float, str)):
            raise TypeError(f"JSBoxed holds a primitive, not {type(inner).__qualname__}")
        self.parts.append('{"$":"boxed","v":')
        self.value(inner)
        self.parts.append("}")


def _plain_primitive(value: str | bool | int | float) -> str | bool | int | float:
    """Strip a subclass (e.g. an enum or ``str`` subclass) down to the builtin type."""
    for builtin in (str, bool, int, float):
        if isinstance(value, builtin):
            return builtin(value)
    raise AssertionError(value)  # pragma: no cover


def _datetime_ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH) // _MS


_TOO_DEEP = (
    "The value is nested too deeply (beyond Python's recursion limit, "
    "sys.getrecursionlimit()) to be encoded or decoded."
)


def encode(value: Any) -> str:
    """Encode a value as codec v1 text.

    Args:
        value: A value built from the types listed in the module docstring.

    Returns:
        The JSON text (no raw lone surrogates, so it always encodes to UTF-8).

    Raises:
        TypeError: For a value the codec cannot represent (named in the message), or a
            dict key that is not a ``str``.
        ValueError: For an inconsistent wrapper value (e.g. a JSArray index beyond length), or
            one nested too deeply for Python's recursion limit.

    >>> encode({"n": 1, "when": datetime(2024, 1, 1)})
    '{"n":1,"when":{"$":"date","v":1704067200000}}'
    """
    encoder = _Encoder()
    try:
        encoder.value(value)
    except RecursionError:
        raise ValueError(_TOO_DEEP) from None
    text = "".join(encoder.parts)
    if _SURROGATE.search(text):
        text = _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
    return text


def encode_bytes(value: Any) -> bytes:
    """Encode a value as the UTF-8 bytes of its codec v1 text (what backends store)."""
    return encode(value).encode("utf-8")


def encoded_size(text: str) -> int:
    """The UTF-8 byte length of encoded text (checked against the 128 KiB value limit)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


# ---------------------------------------------------------------------------- decoding

_LONG_DIGITS = re.compile(r"\d{16}")
_SPECIAL_NUMBERS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "-0": -0.0}


def _parse_int(text: str) -> int | float:
    number = int(text)
    return number if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER else float(number)


def _date(ms: int | float | None) -> datetime | JSDate | _InvalidDate:
    if ms is None:
        return INVALID_DATE
    ms = int(ms)
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        return JSDate(ms)


class _Decoder:
    """One decoding run over a parsed document; numbers objects as the encoder did."""

    def __init__(self) -> None:
        self.objects: list[Any] = []
        self.open_sets: set[int] = set()
        self.pinned_sets: set[int] = set()

    def value(self, x: Any) -> Any:
        kind = type(x)
        if kind is list:
            self.objects.append(x)
            for i, item in enumerate(x):
                if type(item) in (list, dict):
                    x[i] = self.value(item)
            return x
        if kind is dict:
            tag = x.get("$")
            if tag is None:
                self.objects.append(x)
                self.fill(x)
                return x
            return self.tagged(x, tag)
        return x

    def fill(self, x: dict[str, Any]) -> None:
        for key, item in x.items():
            if type(item) in (list, dict):
                x[key] = self.value(item)

    def tagged(self, x: dict[str, Any], tag: Any) -> Any:
        if tag == "undefined":
            return UNDEFINED
        if tag == "number":
            try:
                return _SPECIAL_NUMBERS[x["v"]]
            except KeyError:
                raise ValueError(f"invalid codec document: bad number {x.get('v')!r}") from None
        if tag == "bigint":
            return JSBigInt(int(x["v"]))
        if tag == "ref":
            ref = x["id"]
            if not (isinstance(ref, int) and 0 <= ref < len(self.objects)):
                raise ValueError(f"invalid codec document: bad ref {ref!r}")
            if ref in self.open_sets:
                self.pinned_sets.add(ref)
            return self.objects[ref]
        if tag == "codec":
            if self.objects or x.get("v") != VERSION:
                raise ValueError(f"unsupported codec version {x.get('v')!r}")
            return self.value(x["value"])
        method = getattr(self, "tag_" + tag, None) if isinstance(tag, str) else None
        if method is None:
            raise ValueError(f"invalid codec document: unknown tag {tag!r}")
        return method(x)

    def primitive(self, x: Any) -> Any:
        if type(x) is dict and x.get("$") in ("number", "bigint"):
            return self.tagged(x, x["$"])
        if isinstance(x, (list, dict)):
            raise ValueError("invalid codec document: boxed value must be a primitive")
        return x

    def keep(self, value: Any) -> Any:
        self.objects.append(value)
        return value

    def tag_date(self, x: dict[str, Any]) -> Any:
        return self.keep(_date(x["v"]))

    def tag_regexp(self, x: dict[str, Any]) -> Any:
        return self.keep(JSRegExp(x["source"], x["flags"]))

    def tag_arraybuffer(self, x: dict[str, Any]) -> Any:
        return self.keep(base64.b64decode(x["base64"], validate=True))

    def tag_boxed(self, x: dict[str, Any]) -> Any:
        return self.keep(JSBoxed(self.primitive(x["v"])))

    def tag_object(self, x: dict[str, Any]) -> Any:
        props = self.keep(x["props"])
        self.fill(props)
        return props

    def tag_map(self, x: dict[str, Any]) -> Any:
        result = self.keep(JSMap())
        for raw_key, raw_value in x["entries"]:
            key = self.value(raw_key)
            result[key] = self.value(raw_value)
        return result

    def tag_set(self, x: dict[str, Any]) -> Any:
        slot = len(self.objects)
        result = self.keep(JSSet())
        self.open_sets.add(slot)
        members = [self.value(item) for item in x["values"]]
        self.open_sets.discard(slot)
        for member in members:
            result.add(member)
        if slot not in self.pinned_sets and all(isinstance(member, _PRIMITIVE_TYPES) for member in members):
            plain = set(members)
            if len(plain) == len(members):
                self.objects[slot] = plain
                return plain
        return result

    def tag_array(self, x: dict[str, Any]) -> Any:
        result = self.keep(JSArray(length=x["length"]))
        items = x["items"]
        if isinstance(items, list):
            for index, item in enumerate(items):
                result.items[index] = self.value(item)
        else:
            for key, item in items.items():
                result.items[int(key)] = self.value(item)
        for key, item in x.get("props", {}).items():
            result.props[key] = self.value(item)
        return result

    def tag_view(self, x: dict[str, Any]) -> Any:
        slot = len(self.objects)
        self.objects.append(None)
        buffer = self.value(x["buffer"])
        if not isinstance(buffer, bytes):
            raise ValueError("invalid codec document: view buffer is not an arraybuffer")
        view = JSTypedArray(x["kind"], buffer, x["byteOffset"], x["length"])
        self.objects[slot] = view
        return view

    def tag_error(self, x: dict[str, Any]) -> Any:
        error = self.keep(JSError(x["name"], x.get("message", ""), x.get("stack")))
        if "cause" in x:
            object.__setattr__(error, "cause", self.value(x["cause"]))
        return error


def decode(text: str | bytes | bytearray | memoryview) -> Any:
    """Decode codec v1 text (or its UTF-8 bytes) to Python values.

    Args:
        text: A document produced by :func:`encode` or by ``__mfCodec.encode`` in JS.

    Returns:
        The value, with the Python types listed in the module docstring.

    Raises:
        ValueError: If the text is not a valid codec v1 document (``json.JSONDecodeError``
            is a ``ValueError``).

    >>> decode('{"a":[1,{"$":"bigint","v":"7"}]}')
    {'a': [1, JSBigInt(7)]}
    """
    if not isinstance(text, str):
        text = bytes(text).decode("utf-8")
    try:
        if _LONG_DIGITS.search(text):
            document = json.loads(text, parse_int=_parse_int)
        else:
            document = json.loads(text)
        if '"$"' not in text or type(document) not in (list, dict):
            return document
        return _Decoder().value(document)
    except RecursionError:
        raise ValueError(_TOO_DEEP) from None


def decode_bytes(data: bytes | bytearray | memoryview) -> Any:
    """Decode the UTF-8 bytes of codec v1 text (what backends store)."""
    return decode(data)
