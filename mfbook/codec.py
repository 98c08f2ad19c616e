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

from .codec_decode import VERSION, decode, decode_bytes
from .codec_encode import encode, encode_bytes, encoded_size
from .codec_types import (
    HOLE,
    INVALID_DATE,
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

