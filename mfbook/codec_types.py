"""Python types for JavaScript values that have no natural Python twin (see :mod:`mfbook.codec`).

``UNDEFINED``, sparse-array holes, invalid dates, BigInts (an ``int`` subclass, so they stay
BigInts on the way back), RegExps, Errors, boxed primitives, typed arrays, and the ``JSMap`` /
``JSSet`` containers that keep keys Python could not put in a dict or set.
"""

from __future__ import annotations

import enum
import re
import struct
from collections.abc import Hashable, Iterable, Iterator, Mapping, MutableMapping, MutableSet
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "HOLE",
    "INVALID_DATE",
    "NO_CAUSE",
    "UNDEFINED",
    "JSArray",
    "JSBigInt",
    "JSBoxed",
    "JSDate",
    "JSError",
    "JSMap",
    "JSRegExp",
    "JSSet",
    "JSStubRef",
    "JSTypedArray",
]

MAX_SAFE_INTEGER = 2**53
_MAX_DATE_MS = 8_640_000_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


# ---------------------------------------------------------------------------- sentinels


class _Undefined(enum.Enum):
    UNDEFINED = "undefined"

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "undefined"


class _Hole(enum.Enum):
    HOLE = "hole"

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<hole>"


class _InvalidDate(enum.Enum):
    INVALID_DATE = "Invalid Date"

    def __repr__(self) -> str:
        return "INVALID_DATE"


class _NoCause(enum.Enum):
    NO_CAUSE = "no cause"

    def __repr__(self) -> str:
        return "NO_CAUSE"


UNDEFINED = _Undefined.UNDEFINED
"""JS ``undefined`` (falsy)."""
HOLE = _Hole.HOLE
"""A missing element of a sparse JS array."""
INVALID_DATE = _InvalidDate.INVALID_DATE
"""A JS Date whose time value is NaN."""
NO_CAUSE = _NoCause.NO_CAUSE
"""``JSError.cause`` when the error has no own ``cause`` property."""


# ---------------------------------------------------------------------------- value types


class JSBigInt(int):
    """A JS BigInt: an ``int`` that encodes as BigInt whatever its size.

    >>> decode(encode(JSBigInt(5)))
    JSBigInt(5)
    """

    def __repr__(self) -> str:
        return f"JSBigInt({int(self)})"


@dataclass(frozen=True)
class JSDate:
    """A JS Date outside the range of ``datetime`` (years 1-9999).

    Attributes:
        ms: Milliseconds since the Unix epoch (``|ms| <= 8.64e15``).
    """

    ms: int


@dataclass(frozen=True)
class JSRegExp:
    """A JS RegExp, kept in JS syntax.

    Attributes:
        source: The pattern source, as ``RegExp.prototype.source`` gives it.
        flags: The flags, e.g. ``"gi"``.
    """

    source: str
    flags: str = ""

    def to_python(self) -> re.Pattern[str]:
        """Compile a best-effort Python equivalent (flags ``i``, ``m``, ``s`` map over).

        Returns:
            The compiled pattern.

        Raises:
            re.error: If the JS source is not valid Python regex syntax.
        """
        flags = 0
        for letter, value in (("i", re.IGNORECASE), ("m", re.MULTILINE), ("s", re.DOTALL)):
            if letter in self.flags:
                flags |= value
        return re.compile(self.source, flags)


@dataclass(frozen=True)
class JSError:
    """A JS Error value (a clone of one, not a Python exception).

    Attributes:
        name: ``"Error"``, ``"TypeError"``, ... (other names decode in JS as ``Error``
            with an own ``name``).
        message: The message (``""`` when the error has none).
        stack: The JS stack text, if it had one.
        cause: The ``cause`` value, or :data:`NO_CAUSE`.
    """

    name: str
    message: str = ""
    stack: str | None = None
    cause: Any = NO_CAUSE


@dataclass(frozen=True)
class JSStubRef:
    """An RPC stub in a message: a function or ``RpcTarget`` that stayed with its owner.

    Only RPC messages carry them (``{"$": "stub", ...}``, see ``mfbook/js/kernel/rpc_targets.js``);
    :mod:`mfbook.rpc_proxy` turns them into callable proxies for Python.

    Attributes:
        node: The stub node as the owner's isolate wrote it (``w``, ``x``, ``k``, ``o`` or ``n``).
    """

    node: dict[str, Any] = field(hash=False)

    @property
    def is_function(self) -> bool:
        """Whether the stub stands for a function (else for an ``RpcTarget``)."""
        return bool(self.node.get("k") == "f")


@dataclass(frozen=True)
class JSBoxed:
    """A boxed primitive: ``new Number(1)``, ``new String("a")``, ``Object(1n)``...

    Attributes:
        value: The primitive inside (``bool``, ``int``, ``float``, ``str`` or JSBigInt).
    """

    value: bool | int | float | str


_VIEW_FORMATS = {
    "Int8Array": "b",
    "Uint8Array": "B",
    "Uint8ClampedArray": "B",
    "Int16Array": "h",
    "Uint16Array": "H",
    "Int32Array": "i",
    "Uint32Array": "I",
    "Float16Array": "e",
    "Float32Array": "f",
    "Float64Array": "d",
    "BigInt64Array": "q",
    "BigUint64Array": "Q",
    "DataView": "B",
}


@dataclass(frozen=True)
class JSTypedArray:
    """A typed array (``Uint8Array``, ``Float64Array``, ...) or a ``DataView``.

    The view keeps its whole ArrayBuffer: views decoded from one shared buffer hold the same
    ``buffer`` object, and encoding them again shares one ArrayBuffer in JS.

    Attributes:
        kind: The JS class name, e.g. ``"Int16Array"`` or ``"DataView"``.
        buffer: The bytes of the whole underlying ArrayBuffer.
        byte_offset: Where the view starts in ``buffer``.
        length: Elements in the view (bytes for a DataView); ``None`` means up to the end.

    >>> JSTypedArray.from_values("Int16Array", [1, -2]).values()
    [1, -2]
    """

    kind: str
    buffer: bytes
    byte_offset: int = 0
    length: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in _VIEW_FORMATS:
            raise ValueError(f"unknown typed array kind {self.kind!r}")
        size = self.item_size
        if self.length is None:
            object.__setattr__(self, "length", (len(self.buffer) - self.byte_offset) // size)
        if self.byte_offset % size or self.byte_offset < 0:
            raise ValueError(f"{self.kind} byte_offset must be a multiple of {size}")
        if self.byte_offset + self.byte_length > len(self.buffer):
            raise ValueError(f"{self.kind} view is out of bounds of its buffer")

    @classmethod
    def from_values(cls, kind: str, values: Iterable[int | float]) -> JSTypedArray:
        """Build a view over a fresh buffer holding ``values`` (little-endian)."""
        items = list(values)
        data = struct.pack(f"<{len(items)}{_VIEW_FORMATS[kind]}", *items)
        return cls(kind, data)

    @property
    def item_size(self) -> int:
        """Bytes per element."""
        return struct.calcsize(_VIEW_FORMATS[self.kind])

    @property
    def byte_length(self) -> int:
        """Bytes covered by the view."""
        return (self.length or 0) * self.item_size

    @property
    def data(self) -> bytes:
        """The bytes the view covers."""
        return self.buffer[self.byte_offset : self.byte_offset + self.byte_length]

    def values(self) -> list[int | float]:
        """The elements as numbers (bytes for a DataView)."""
        return list(struct.unpack(f"<{self.length}{_VIEW_FORMATS[self.kind]}", self.data))


@dataclass(eq=False)
class JSArray:
    """A JS Array a ``list`` cannot hold: one with holes or non-index properties.

    Attributes:
        length: The array's ``length``.
        items: Present elements by index.
        props: Non-index own enumerable properties, in order.
    """

    length: int = 0
    items: dict[int, Any] = field(default_factory=dict)
    props: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < self.length:
            raise IndexError(index)
        return self.items.get(index, HOLE)

    def to_list(self) -> list[Any]:
        """The elements as a list, holes as :data:`HOLE` (props are dropped)."""
        return [self.items.get(i, HOLE) for i in range(self.length)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JSArray):
            return NotImplemented
        return (self.length, self.items, self.props) == (other.length, other.items, other.props)

    __hash__ = None  # type: ignore[assignment]


def _key_of(value: Any) -> Hashable:
    """The JS Map/Set identity of ``value``: SameValueZero for primitives, else identity."""
    kind = type(value)
    if kind is str:
        return str(value)
    if kind is bool or value is None or value is UNDEFINED:
        return (kind, value)
    if isinstance(value, JSBigInt):
        return ("bigint", int(value))
    if isinstance(value, int) and not isinstance(value, bool):
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return ("number", float(value))
        return ("bigint", int(value))
    if isinstance(value, float):
        return ("nan",) if value != value else ("number", float(value))
    if isinstance(value, str):
        return str(value)
    return ("object", id(value))


def _normalize_zero(value: Any) -> Any:
    """Map keys and Set members store -0 as +0, as in JS."""
    return 0.0 if type(value) is float and value == 0 else value


class JSMap(MutableMapping[Any, Any]):
    """A JS Map: insertion ordered, any keys.

    Primitive keys (str, numbers, bool, None, UNDEFINED, JSBigInt) match by value as in JS
    (``1`` and ``1.0`` are one key, ``1`` and ``True`` two; ``-0.0`` is stored as ``0.0``);
    other keys match by identity.

    >>> m = JSMap([(1, "a"), ([2], "b")])
    >>> m[1], len(m)
    ('a', 2)
    """

    def __init__(self, entries: Mapping[Any, Any] | Iterable[tuple[Any, Any]] = ()) -> None:
        self._entries: dict[Hashable, tuple[Any, Any]] = {}
        pairs = entries.items() if isinstance(entries, Mapping) else entries
        for key, value in pairs:
            self[key] = value

    def __getitem__(self, key: Any) -> Any:
        try:
            return self._entries[_key_of(key)][1]
        except KeyError:
            raise KeyError(key) from None

    def __setitem__(self, key: Any, value: Any) -> None:
        key = _normalize_zero(key)
        slot = _key_of(key)
        old = self._entries.get(slot)
        self._entries[slot] = (key if old is None else old[0], value)

    def __delitem__(self, key: Any) -> None:
        try:
            del self._entries[_key_of(key)]
        except KeyError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[Any]:
        return (key for key, _ in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, JSMap):
            return list(self._entries.values()) == list(other._entries.values())
        if isinstance(other, Mapping):
            return len(self) == len(other) and all(k in self and self[k] == v for k, v in other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"JSMap({list(self._entries.values())!r})"


class JSSet(MutableSet[Any]):
    """A JS Set that a Python ``set`` cannot hold (objects, or ``1`` next to ``True``).

    Membership follows JS: primitives by value, other members by identity. Two JSSets are
    equal if they hold the same members, or equal members in the same order.
    """

    def __init__(self, members: Iterable[Any] = ()) -> None:
        self._members: dict[Hashable, Any] = {}
        for member in members:
            self.add(member)

    def __contains__(self, member: object) -> bool:
        return _key_of(member) in self._members

    def __iter__(self) -> Iterator[Any]:
        return iter(self._members.values())

    def __len__(self) -> int:
        return len(self._members)

    def add(self, value: Any) -> None:
        """Add ``value`` unless an equal (JS SameValueZero / same object) member exists."""
        value = _normalize_zero(value)
        self._members.setdefault(_key_of(value), value)

    def discard(self, value: Any) -> None:
        """Remove ``value`` if present."""
        self._members.pop(_key_of(value), None)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (JSSet, set, frozenset)):
            return NotImplemented
        if len(self) != len(other):
            return False
        if all(member in self for member in other):
            return True
        return isinstance(other, JSSet) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"JSSet({list(self)!r})"
