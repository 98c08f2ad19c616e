"""The size of a stored value as V8's serializer writes it (the 128 KiB value limit).

The Workers runtime (and Miniflare 2, through Node's ``v8.serialize``) measures a value for
the storage limit by serializing it with V8's ``ValueSerializer``. mfbook stores values as
codec text (:mod:`mfbook.codec`), which would count binary data at its base64 size, so the
limit is checked on this module's computation instead: the exact byte count of the V8 wire
format (version 15, as Node writes it, typed arrays and DataViews as Node's host objects)
for the value a codec document stands for. ``js/v8size.js`` implements the same walk
(``__mfCodec.v8Size``) for the synchronous check of ``put()`` in JS; a test holds the two to
sizes measured with Node.

The walk follows the document in order and tracks the offset, because V8 pads a two-byte
string so that its characters start at an even offset.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["v8_size", "v8_size_of_text"]

_HEADER = 2  # 0xFF, version varint
_SMI_MIN = -(2**31)
_SMI_MAX = 2**31 - 1
_MAX_INDEX = 2**32 - 2
_ERROR_PROTOTYPES = frozenset({"EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError"})
_REGEXP_FLAGS = {"g": 1, "i": 2, "m": 4, "y": 8, "u": 16, "s": 32, "d": 128, "v": 256}
_VIEW_ITEM_BYTES = {
    "Int8Array": 1,
    "Uint8Array": 1,
    "Uint8ClampedArray": 1,
    "Int16Array": 2,
    "Uint16Array": 2,
    "Float16Array": 2,
    "Int32Array": 4,
    "Uint32Array": 4,
    "Float32Array": 4,
    "Float64Array": 8,
    "BigInt64Array": 8,
    "BigUint64Array": 8,
    "DataView": 1,
}


def v8_size_of_text(text: str | bytes) -> int:
    """The V8 serialization size of the value encoded as codec ``text``."""
    return v8_size(json.loads(text))


def v8_size(document: Any) -> int:
    """The V8 serialization size of the value a parsed codec document stands for."""
    sizer = _Sizer()
    sizer.value(document)
    return sizer.offset


def _varint(n: int) -> int:
    size = 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return size


def _is_index(key: str) -> bool:
    return key.isdigit() and key.isascii() and (key == "0" or key[0] != "0") and int(key) <= _MAX_INDEX


class _Sizer:
    def __init__(self) -> None:
        self.offset = _HEADER

    # ---------------------------------------------------------------- primitives
    def string(self, text: str) -> None:
        if text.isascii() or all(ord(ch) <= 0xFF for ch in text):
            self.offset += 1 + _varint(len(text)) + len(text)
            return
        units = len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)
        byte_length = 2 * units
        if (self.offset + 1 + _varint(byte_length)) & 1:
            self.offset += 1  # padding tag: the characters start at an even offset
        self.offset += 1 + _varint(byte_length) + byte_length

    def number(self, n: float | int) -> None:
        if _SMI_MIN <= n <= _SMI_MAX and float(n).is_integer():  # -0 is tagged, never bare
            value = int(n)
            self.offset += 1 + _varint(((value << 1) ^ (value >> 31)) & 0xFFFFFFFF)
        else:
            self.offset += 9

    def bigint_body(self, text: str) -> None:
        magnitude = abs(int(text))
        digits = (magnitude.bit_length() + 63) // 64
        self.offset += _varint(digits * 8 * 2) + digits * 8

    def key(self, key: str) -> None:
        if _is_index(key):
            self.number(int(key))
        else:
            self.string(key)

    # ---------------------------------------------------------------- values
    def value(self, x: Any) -> None:
        if x is None or x is True or x is False:
            self.offset += 1
        elif isinstance(x, str):
            self.string(x)
        elif isinstance(x, (int, float)):
            self.number(x)
        elif isinstance(x, list):
            self.dense(x, {})
        elif isinstance(x, dict):
            tag = x.get("$")
            if tag is None:
                self.plain(x)
            else:
                self.tagged(str(tag), x)
        else:
            raise TypeError(f"not a codec document node: {type(x).__name__}")

    def plain(self, props: dict[str, Any]) -> None:
        self.offset += 1  # 'o'
        for key, item in props.items():
            self.key(key)
            self.value(item)
        self.offset += 1 + _varint(len(props))  # '{' count

    def dense(self, items: list[Any], props: dict[str, Any]) -> None:
        self.offset += 1 + _varint(len(items))  # 'A' length
        for item in items:
            self.value(item)
        for key, item in props.items():
            self.key(key)
            self.value(item)
        self.offset += 1 + _varint(len(props)) + _varint(len(items))  # '$' properties length

    def sparse(self, length: int, items: dict[str, Any], props: dict[str, Any]) -> None:
        self.offset += 1 + _varint(length)  # 'a' length
        for key, item in (*items.items(), *props.items()):
            self.key(key)
            self.value(item)
        self.offset += 1 + _varint(len(items) + len(props)) + _varint(length)  # '@' properties length

    def tagged(self, tag: str, x: dict[str, Any]) -> None:
        handler = _TAGS.get(tag)
        if handler is None:
            raise ValueError(f"unknown codec tag {tag!r}")
        handler(self, x)

    def _undefined(self, x: dict[str, Any]) -> None:
        self.offset += 1

    def _number(self, x: dict[str, Any]) -> None:
        self.offset += 9

    def _bigint(self, x: dict[str, Any]) -> None:
        self.offset += 1
        self.bigint_body(x["v"])

    def _ref(self, x: dict[str, Any]) -> None:
        self.offset += 1 + _varint(int(x["id"]))

    def _date(self, x: dict[str, Any]) -> None:
        self.offset += 9

    def _regexp(self, x: dict[str, Any]) -> None:
        self.offset += 1
        self.string(x["source"])
        self.offset += _varint(sum(_REGEXP_FLAGS.get(flag, 0) for flag in x["flags"]))

    def _map(self, x: dict[str, Any]) -> None:
        self.offset += 1
        for key, item in x["entries"]:
            self.value(key)
            self.value(item)
        self.offset += 1 + _varint(2 * len(x["entries"]))

    def _set(self, x: dict[str, Any]) -> None:
        self.offset += 1
        for item in x["values"]:
            self.value(item)
        self.offset += 1 + _varint(len(x["values"]))

    def _array(self, x: dict[str, Any]) -> None:
        items, props = x.get("items", []), x.get("props", {})
        if isinstance(items, list) and len(items) == x["length"]:
            self.dense(items, props)
        else:
            items = dict(enumerate(items)) if isinstance(items, list) else items
            self.sparse(int(x["length"]), {str(k): v for k, v in items.items()}, props)

    def _object(self, x: dict[str, Any]) -> None:
        self.plain(x["props"])

    def _arraybuffer(self, x: dict[str, Any]) -> None:
        length = _base64_length(x["base64"])
        self.offset += 1 + _varint(length) + length

    def _view(self, x: dict[str, Any]) -> None:
        kind = x["kind"]
        byte_length = int(x["length"]) * _VIEW_ITEM_BYTES.get(kind, 1)
        # Node writes a view as a host object: type index, byte length, the view's bytes.
        self.offset += 1 + 1 + _varint(byte_length) + byte_length

    def _error(self, x: dict[str, Any]) -> None:
        self.offset += 1  # 'r'
        if x.get("name") in _ERROR_PROTOTYPES:
            self.offset += 1
        self.offset += 1  # 'm': an empty message is Error.prototype's, which V8 writes too
        self.string(x.get("message", ""))
        if isinstance(x.get("stack"), str):
            self.offset += 1
            self.string(x["stack"])
        if "cause" in x:
            self.offset += 1
            self.value(x["cause"])
        self.offset += 1  # '.'

    def _boxed(self, x: dict[str, Any]) -> None:
        inner = x["v"]
        if inner is True or inner is False:
            self.offset += 1
        elif isinstance(inner, str):
            self.offset += 1
            self.string(inner)
        elif isinstance(inner, dict) and inner.get("$") == "bigint":
            self.offset += 1
            self.bigint_body(inner["v"])
        else:
            self.offset += 9

    def _codec(self, x: dict[str, Any]) -> None:
        self.value(x["value"])


def _base64_length(text: str) -> int:
    stripped = text.rstrip("=")
    return len(stripped) * 3 // 4


_TAGS = {
    "undefined": _Sizer._undefined,
    "number": _Sizer._number,
    "bigint": _Sizer._bigint,
    "ref": _Sizer._ref,
    "date": _Sizer._date,
    "regexp": _Sizer._regexp,
    "map": _Sizer._map,
    "set": _Sizer._set,
    "array": _Sizer._array,
    "object": _Sizer._object,
    "arraybuffer": _Sizer._arraybuffer,
    "view": _Sizer._view,
    "error": _Sizer._error,
    "boxed": _Sizer._boxed,
    "codec": _Sizer._codec,
}
