"""The encoding half of the value codec (codec v1): Python values to tagged JSON text.

The format is described in :mod:`mfbook.codec`, which re-exports :func:`encode` and its
friends; this module is only the writer.
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
from datetime import datetime, timezone
from typing import Any

from .codec_types import (
    _EPOCH,
    _MAX_DATE_MS,
    _MS,
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
    JSStubRef,
    JSTypedArray,
    _Undefined,
)

__all__ = ["encode", "encode_bytes", "encoded_size"]

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
        elif isinstance(value, JSStubRef):  # passed back as it came; takes no object id
            self.parts.append(json.dumps({**value.node, "$": "stub"}, separators=(",", ":")))
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


