"""Durable Object ids, computed exactly as Miniflare 2 (v2.14.4) does.

An id is 32 bytes, shown as 64 lowercase hex digits. Its last 8 bytes are the first 8 bytes of
``SHA-256(binding)`` (the *namespace hash*), which ties every id to its namespace:

- ``id_from_name``: ``SHA-256(binding ‖ name)`` with the top bit of byte 0 set, then bytes
  24..31 replaced by the namespace hash.
- ``new_unique_id``: ``0x00 ‖ now_ms (8 bytes, big-endian) ‖ 15 random bytes ‖ namespace hash``;
  the top bit is clear, so unique ids never collide with named ids.
- ``id_from_string``: 64 hex digits (either case) ending in this namespace's hash, lowercased.

Strings are hashed as JavaScript's ``TextEncoder`` would encode them: surrogate pairs combine
into one code point, lone surrogates become U+FFFD.

Jurisdictions: like Miniflare 2, ``"eu"`` and ``"fedramp"`` are accepted and otherwise ignored
(the id bytes do not depend on them; the chosen jurisdiction is only remembered on the id);
anything else raises ``TypeError`` with the runtime's message.

>>> str(id_from_name("TEST", "test"))
'a856dbbd5109f5217920084de35ee0a24072ca790341ed4e94ee059335e587e5'
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "JURISDICTIONS",
    "DurableObjectId",
    "check_jurisdiction",
    "ensure_id_for",
    "id_from_name",
    "id_from_string",
    "namespace_hash",
    "new_unique_id",
]

#: Jurisdictions accepted by ``newUniqueId({jurisdiction})`` and ``namespace.jurisdiction()``.
JURISDICTIONS: tuple[str, ...] = ("eu", "fedramp")

_HEX_ID = re.compile(r"[A-Fa-f0-9]{64}")
_MSG_NOT_HEX = "Invalid Durable Object ID. Durable Object IDs must be 64 hex digits."
_MSG_WRONG_CLASS = "Invalid Durable Object ID. The ID does not match this Durable Object class."
_MSG_NOT_FOR_CLASS = "ID is not for this Durable Object class."


@dataclass(frozen=True)
class DurableObjectId:
    """The id of one Durable Object in the namespace bound as ``binding``.

    Two ids are equal when binding and hex are equal; ``name`` and ``jurisdiction`` are
    informational (``id_from_string`` ids have no name, like in the runtime).

    Attributes:
        binding: Namespace binding name the id belongs to.
        hex: 64 lowercase hex digits.
        name: The name passed to ``id_from_name``, else ``None``.
        jurisdiction: The jurisdiction passed to ``new_unique_id``, else ``None``.
    """

    binding: str
    hex: str
    name: str | None = field(default=None, compare=False)
    jurisdiction: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return self.hex

    def equals(self, other: object) -> bool:
        """Return whether ``other`` is an id with the same hex (``DurableObjectId.equals``)."""
        return isinstance(other, DurableObjectId) and other.hex == self.hex


def _js_utf8(text: str) -> bytes:
    """Encode ``text`` like JavaScript's TextEncoder (pairs combine, lone surrogates → U+FFFD)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        normalized = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return normalized.encode("utf-8")


def namespace_hash(binding: str) -> bytes:
    """Return the first 8 bytes of SHA-256 of ``binding``: the suffix of all its ids."""
    return hashlib.sha256(_js_utf8(binding)).digest()[:8]


def id_from_name(binding: str, name: str) -> DurableObjectId:
    """Return the id ``binding.idFromName(name)`` gives.

    Args:
        binding: Namespace binding name.
        name: Object name (any string).

    Returns:
        The named id; its ``name`` is ``name``.

    >>> id_from_name("TEST", "test").hex[:8]
    'a856dbbd'
    """
    digest = bytearray(hashlib.sha256(_js_utf8(binding) + _js_utf8(name)).digest())
    digest[0] |= 0x80
    digest[24:32] = namespace_hash(binding)
    return DurableObjectId(binding, digest.hex(), name)


def check_jurisdiction(jurisdiction: str | None, *, method: str = "newUniqueId") -> None:
    """Raise the runtime's ``TypeError`` unless ``jurisdiction`` is ``None`` or supported.

    Args:
        jurisdiction: Requested jurisdiction.
        method: JS method name used in the message (``newUniqueId`` or ``jurisdiction``).

    Raises:
        TypeError: ``<method> called with an unsupported jurisdiction: "<value>"``.
    """
    if jurisdiction is not None and jurisdiction not in JURISDICTIONS:
        raise TypeError(f'{method} called with an unsupported jurisdiction: "{jurisdiction}"')


def new_unique_id(
    binding: str,
    *,
    jurisdiction: str | None = None,
    clock: Callable[[], int] | None = None,
    random_bytes: Callable[[int], bytes] | None = None,
) -> DurableObjectId:
    """Return a fresh id as ``binding.newUniqueId({jurisdiction})`` does.

    Args:
        binding: Namespace binding name.
        jurisdiction: ``None``, ``"eu"`` or ``"fedramp"``; validated, does not change the bytes.
        clock: Returns the current time in integer milliseconds (default: wall clock).
        random_bytes: Returns ``n`` random bytes (default: ``os.urandom``).

    Returns:
        The new id (no name).

    Raises:
        TypeError: On an unsupported jurisdiction.
    """
    check_jurisdiction(jurisdiction)
    now_ms = clock() if clock is not None else time.time_ns() // 1_000_000
    rand = (random_bytes or os.urandom)(15)
    if len(rand) != 15:
        raise ValueError(f"random_bytes(15) returned {len(rand)} bytes")
    raw = b"\x00" + (now_ms % (1 << 64)).to_bytes(8, "big") + rand + namespace_hash(binding)
    return DurableObjectId(binding, raw.hex(), None, jurisdiction)


def id_from_string(binding: str, hex_id: str) -> DurableObjectId:
    """Parse ``hex_id`` as ``binding.idFromString(hex_id)`` does.

    Hex digits may be in either case (Miniflare 2 compared the namespace suffix before
    lowercasing and so rejected an upper-case id as another class's; the runtime does not).

    Args:
        binding: Namespace binding name.
        hex_id: 64 hex digits.

    Returns:
        The id with lowercase hex and no name.

    Raises:
        TypeError: If ``hex_id`` is not 64 hex digits, or belongs to another namespace.
    """
    if not isinstance(hex_id, str) or _HEX_ID.fullmatch(hex_id) is None:
        raise TypeError(_MSG_NOT_HEX)
    hex_id = hex_id.lower()
    if not hex_id.endswith(namespace_hash(binding).hex()):
        raise TypeError(_MSG_WRONG_CLASS)
    return DurableObjectId(binding, hex_id)


def ensure_id_for(binding: str, object_id: DurableObjectId) -> None:
    """Check that ``object_id`` may be used with namespace ``binding`` (``namespace.get``).

    Raises:
        TypeError: ``ID is not for this Durable Object class.``
    """
    if (
        not isinstance(object_id, DurableObjectId)
        or object_id.binding != binding
        or not object_id.hex.endswith(namespace_hash(binding).hex())
    ):
        raise TypeError(_MSG_NOT_FOR_CLASS)
