"""Ownership leases in Redis: which emulator process runs a Durable Object now.

One string key per object, in the object's hash tag (so it lives in the slot, and on the node,
of the object's data and commit script)::

    P{B:H}:lease       "<owner id>|<n>"  with a time to live (the lease time)
    P{B:H}:lease_seq   n, incremented at every new lease (never reset)

The value names the owner and the lease's sequence number: a lease taken over after it expired
has a new value even if the same process takes it again, so a write fenced with the old value
(:class:`~mfbook.backends.redis.RedisObjectStore` checks it inside the commit script) is
refused. Every operation is one Lua script, atomic on the server:

- :meth:`LeaseTable.acquire` takes a free (or expired) lease, renews our own, or names the
  holder and the time it has left;
- :meth:`LeaseTable.renew` extends a lease only while it still has our value;
- :meth:`LeaseTable.release` deletes it only while it still has our value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..backends.base import escape_binding

__all__ = ["Lease", "LeaseTable", "lease_key"]

_ACQUIRE = """\
local current = redis.call('GET', KEYS[1])
if current then
  local bar = string.find(current, '|', 1, true)
  if bar and string.sub(current, 1, bar - 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, current, tonumber(ARGV[2])}
  end
  return {0, current, redis.call('PTTL', KEYS[1])}
end
local value = ARGV[1] .. '|' .. redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return {1, value, tonumber(ARGV[2])}
"""

_RENEW = """\
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """\
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


def lease_key(prefix: str, binding: str, object_hex: str) -> str:
    """The lease key of one object (same hash tag as its data keys)."""
    return f"{prefix}{{{escape_binding(binding)}:{object_hex}}}:lease"


def owner_of(value: str) -> str:
    """The owner id part of a lease value ``"<owner>|<n>"``."""
    return value.rsplit("|", 1)[0]


@dataclass(frozen=True)
class Lease:
    """What :meth:`LeaseTable.acquire` found."""

    ours: bool
    value: str  # "<owner id>|<n>"
    ttl_ms: int

    @property
    def owner(self) -> str:
        return owner_of(self.value)


class LeaseTable:
    """The lease scripts of one key prefix, run through a redis-py client."""

    def __init__(self, client: Any, prefix: str, *, lease_ms: int) -> None:
        self._client = client
        self._prefix = prefix
        self.lease_ms = lease_ms
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def key(self, binding: str, object_hex: str) -> str:
        return lease_key(self._prefix, binding, object_hex)

    def acquire(self, binding: str, object_hex: str, owner: str) -> Lease:
        """Takes the lease for ``owner`` if it is free or ours; else says who holds it."""
        key = self.key(binding, object_hex)
        ours, value, ttl = self._acquire(keys=[key, key + "_seq"], args=[owner, self.lease_ms])
        return Lease(bool(ours), _text(value), int(ttl))

    def renew(self, binding: str, object_hex: str, value: str) -> bool:
        """Extends the lease if it still has ``value``; False once it was lost."""
        return bool(self._renew(keys=[self.key(binding, object_hex)], args=[value, self.lease_ms]))

    def release(self, binding: str, object_hex: str, value: str) -> bool:
        """Gives the lease up if it still has ``value``."""
        return bool(self._release(keys=[self.key(binding, object_hex)], args=[value]))

    def holder(self, binding: str, object_hex: str) -> str | None:
        """The lease's value now (``None``: nobody holds it)."""
        value = self._client.get(self.key(binding, object_hex))
        return None if value is None else _text(value)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
