"""The decoding half of the value codec (codec v1): tagged JSON text to Python values.

The format is described in :mod:`mfbook.codec`, which re-exports :func:`decode`; this
module is only the reader.
"""

from __future__ import annotations

import base64
import json
import math
import re
from datetime import datetime, timedelta
from typing import Any

from .codec_encode import _PRIMITIVE_TYPES, _TOO_DEEP
from .codec_types import (
    _EPOCH,
    INVALID_DATE,
    MAX_SAFE_INTEGER,
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
    _InvalidDate,
)

__all__ = ["VERSION", "decode", "decode_bytes"]

#: The codec version this reader accepts in a ``{"$": "codec", "v": ...}`` envelope.
VERSION = 1

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

    def tag_stub(self, x: dict[str, Any]) -> Any:
        return JSStubRef(x)  # takes no object id, as in JS

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
