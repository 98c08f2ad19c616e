"""The storage backend protocol shared by the memory, SQLite and Redis backends.

Exceptions defined here (``BackendError`` is an :class:`mfbook.StorageError`)::

    BackendError              any failure reported by a backend
    ├── CommitConflict        a read key/alarm was written after ``read_version``
    └── BackendUnavailable    the store cannot be reached (Redis down, SQLite locked)
    BackendConfigError        (a ``ValueError``) bad ``durable_objects_persist`` value

Semantics every backend implements (see docs/ARCHITECTURE.md section 3):

- Keys are ``str`` and may contain lone surrogates; they are stored as
  ``key.encode("utf-8", "surrogatepass")`` and ordered by those bytes. Values are ``bytes``.
- Each object has a commit version: 0 before the first commit, then +1 for every commit that
  writes something. Every key written (put, or delete of an existing key) and the alarm remember
  the version of their last write, so deletions leave *tombstones*; a commit that names
  ``read_version`` fails with :class:`CommitConflict` when any ``read_keys`` (or the alarm, with
  ``read_alarm``) has a newer write version, also when written by another process.
- A commit with nothing to write only validates, and returns the current version.
- Tombstones do not pile up: once an object has gained at least ``max(TOMBSTONE_BATCH, live
  keys)`` of them since the last compaction, the commit that crosses that line drops them all
  and records its version as the object's *floor*. A validated read of a key that has no
  record then conflicts when ``read_version`` is older than the floor (the key may have been
  deleted after it was read; the winning version reported is the floor). Compaction is thus
  amortised O(1) per delete, and costs at most one extra retry to a transaction that straddles
  it.
"""

from __future__ import annotations

import abc
import builtins
import enum
import hashlib
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass

from ..errors import StorageError

#: Tombstones an object gathers before a commit compacts them (more if it has more live keys).
TOMBSTONE_BATCH = 1024

__all__ = [
    "KEEP",
    "TOMBSTONE_BATCH",
    "Backend",
    "BackendConfigError",
    "BackendError",
    "BackendUnavailable",
    "CommitBatch",
    "CommitConflict",
    "Keep",
    "ObjectStore",
    "check_limit",
    "check_reads",
    "decode_key",
    "encode_key",
    "escape_binding",
    "key_range",
    "prefix_upper_bound",
    "should_compact",
    "unescape_binding",
    "validate_object_hex",
]


class Keep(enum.Enum):
    """Type of :data:`KEEP`."""

    KEEP = "KEEP"

    def __repr__(self) -> str:
        return "KEEP"


#: ``commit(alarm=KEEP)`` leaves the alarm as it is (``None`` deletes it).
KEEP = Keep.KEEP


class BackendError(StorageError):
    """Base class of every error a storage backend raises."""


class CommitConflict(BackendError):
    """A commit's read set was written by a newer commit; nothing was written.

    Attributes:
        keys: Read keys written after ``read_version``, in request order.
        winning_version: Highest commit version among those conflicting writes.
        alarm: Whether the alarm (``read_alarm``) was one of the conflicting reads.
    """

    def __init__(self, keys: Iterable[str], winning_version: int, *, alarm: bool = False):
        self.keys: tuple[str, ...] = tuple(keys)
        self.winning_version = winning_version
        self.alarm = alarm
        what = [repr(key) for key in self.keys] + (["<alarm>"] if alarm else [])
        super().__init__(f"commit conflict: {', '.join(what)} written by version {winning_version}")


class BackendUnavailable(BackendError):
    """The backend could not be reached; a failed commit wrote nothing.

    Attributes:
        location: Where the data lives (Redis URL without password, or a file path).
    """

    def __init__(self, message: str, *, location: str):
        self.location = location
        super().__init__(message)


class OwnershipLost(BackendUnavailable):
    """A commit made by a process that no longer owns the object (its lease ran out) was refused.

    Nothing was written: another process runs the object now (see :mod:`mfbook.placement`).
    """


class BackendConfigError(ValueError):
    """The persistence option is not one of the accepted forms."""


def encode_key(key: str) -> bytes:
    """Return the stored bytes of ``key`` (UTF-8, lone surrogates passed through)."""
    return key.encode("utf-8", "surrogatepass")


def decode_key(raw: bytes) -> str:
    """Inverse of :func:`encode_key`."""
    return raw.decode("utf-8", "surrogatepass")


def prefix_upper_bound(prefix: bytes) -> bytes | None:
    """Return the smallest byte string greater than every string starting with ``prefix``.

    Returns ``None`` when there is none (empty prefix or all ``0xff``).
    """
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def key_range(start: str | None, end: str | None, prefix: str | None) -> tuple[bytes, bytes | None] | None:
    """Combine list options into one encoded range ``[low, high)``.

    Returns:
        ``(low, high)`` with ``high`` ``None`` for unbounded, or ``None`` if the range is empty.
    """
    low = encode_key(start) if start is not None else b""
    high = encode_key(end) if end is not None else None
    if prefix:
        raw_prefix = encode_key(prefix)
        low = max(low, raw_prefix)
        upper = prefix_upper_bound(raw_prefix)
        if upper is not None and (high is None or upper < high):
            high = upper
    if high is not None and high <= low:
        return None
    return low, high


def check_limit(limit: int | None) -> None:
    """Raise ``ValueError`` unless ``limit`` is ``None`` or a positive int."""
    if limit is not None and (not isinstance(limit, int) or limit <= 0):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")


_SAFE_BINDING = re.compile(rb"[A-Za-z0-9_-]")
_OBJECT_HEX = re.compile(r"[0-9a-f]{64}")


_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{name}{n}" for name in ("COM", "LPT") for n in range(1, 10)]
)
_MAX_ESCAPED = 120


def escape_binding(binding: str) -> str:
    """Return a file- and Redis-key-safe spelling of a binding name.

    Bytes of the UTF-8 (surrogatepass) encoding outside ``[A-Za-z0-9_-]`` become ``%XX``; the
    result is never empty (``""`` → ``"%"``), never ``.``/``..``, has no separators, is never a
    Windows device name (``CON`` → ``%43ON``) and stays short: past 120 characters it is cut
    and ``~`` plus 32 hex digits of its SHA-256 are appended (then it is not reversible).

    >>> escape_binding("COUNTER")
    'COUNTER'
    >>> escape_binding("../x")
    '%2E%2E%2Fx'
    """
    raw = encode_key(binding)
    if not raw:
        return "%"
    escaped = "".join(chr(byte) if _SAFE_BINDING.fullmatch(bytes([byte])) else f"%{byte:02X}" for byte in raw)
    if escaped.upper() in _WINDOWS_RESERVED:
        escaped = f"%{raw[0]:02X}{escaped[1:]}"
    if len(escaped) > _MAX_ESCAPED:
        escaped = escaped[:80] + "~" + hashlib.sha256(raw).hexdigest()[:32]
    return escaped


def unescape_binding(escaped: str) -> str:
    """Inverse of :func:`escape_binding` (``ValueError`` for shortened names)."""
    if "~" in escaped:
        raise ValueError(f"shortened binding directory name {escaped!r} is not reversible")
    if escaped == "%":
        return ""
    out = bytearray()
    index = 0
    while index < len(escaped):
        if escaped[index] == "%":
            out.append(int(escaped[index + 1 : index + 3], 16))
            index += 3
        else:
            out.append(ord(escaped[index]))
            index += 1
    return decode_key(bytes(out))


def validate_object_hex(object_hex: str) -> str:
    """Return ``object_hex`` if it is 64 lowercase hex digits.

    Raises:
        ValueError: Otherwise (it is used in file paths and Redis keys).
    """
    if not isinstance(object_hex, str) or _OBJECT_HEX.fullmatch(object_hex) is None:
        raise ValueError(f"object id must be 64 lowercase hex digits, got {object_hex!r}")
    return object_hex


@dataclass(frozen=True)
class CommitBatch:
    """One atomic batch for :meth:`ObjectStore.commit` (see its arguments)."""

    puts: Mapping[str, bytes]
    deletes: Collection[str]
    alarm: int | None | Keep = KEEP
    delete_all: bool = False
    read_keys: Collection[str] = ()
    read_alarm: bool = False
    read_version: int | None = None

    @property
    def writes(self) -> bool:
        """Whether the batch changes anything (else the commit only validates)."""
        return bool(self.puts or self.deletes or self.delete_all or self.alarm is not KEEP)


def check_reads(
    batch: CommitBatch, *, written: Callable[[bytes], int | None], alarm_version: int, floor: int
) -> None:
    """Validates a batch's reads against the write versions a store keeps (see the module docstring).

    Args:
        batch: The batch; nothing is checked when its ``read_version`` is ``None``.
        written: Write version of an encoded key, ``None`` when the store has no record of it
            (never written, or a tombstone compacted since: it counts as written at ``floor``).
        alarm_version: Write version of the alarm.
        floor: Version of the last tombstone compaction.

    Raises:
        CommitConflict: A read key, or the alarm, was written after ``read_version``.
    """
    read_version = batch.read_version
    if read_version is None:
        return
    conflicts: builtins.list[str] = []
    versions: builtins.list[int] = []
    for key in batch.read_keys:
        version = written(encode_key(key))
        version = floor if version is None else version
        if version > read_version:
            conflicts.append(key)
            versions.append(version)
    alarm_conflict = batch.read_alarm and alarm_version > read_version
    if alarm_conflict:
        versions.append(alarm_version)
    if versions:
        raise CommitConflict(conflicts, max(versions), alarm=alarm_conflict)


def should_compact(tombstones: int, live_keys: Callable[[], int]) -> bool:
    """Whether a commit that leaves ``tombstones`` should drop them all (see the module docstring).

    ``live_keys`` is called only once there are :data:`TOMBSTONE_BATCH` tombstones.
    """
    return tombstones >= TOMBSTONE_BATCH and tombstones >= live_keys()


class ObjectStore(abc.ABC):
    """Persistent state of one Durable Object. Synchronous; safe to call from any thread."""

    @abc.abstractmethod
    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """Return the values of the keys that exist (missing keys are left out)."""

    def list(
        self,
        *,
        start: str | None = None,
        end: str | None = None,
        prefix: str | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> builtins.list[tuple[str, bytes]]:
        """Return ``(key, value)`` pairs in encoded-key byte order.

        Args:
            start: Inclusive lower bound.
            end: Exclusive upper bound.
            prefix: Only keys starting with this.
            reverse: Descending order (``limit`` then takes the greatest keys).
            limit: At most this many pairs (``None``: all).
        """
        check_limit(limit)
        bounds = key_range(start, end, prefix)
        if bounds is None:
            return []
        return self._list_range(bounds[0], bounds[1], reverse=reverse, limit=limit)

    @abc.abstractmethod
    def _list_range(
        self, low: bytes, high: bytes | None, *, reverse: bool, limit: int | None
    ) -> builtins.list[tuple[str, bytes]]:
        """Pairs whose encoded key is in ``[low, high)`` (``high`` None: unbounded), in byte order."""

    def commit(
        self,
        *,
        puts: Mapping[str, bytes],
        deletes: Collection[str],
        alarm: int | None | Keep = KEEP,
        delete_all: bool = False,
        read_keys: Collection[str] | None = None,
        read_alarm: bool = False,
        read_version: int | None = None,
    ) -> int:
        """Apply one atomic batch: ``delete_all`` first, then ``deletes``, then ``puts``.

        Args:
            puts: Keys to write.
            deletes: Keys to delete.
            alarm: New alarm time in ms, ``None`` to delete it, :data:`KEEP` to leave it.
            delete_all: Delete every key first (the alarm is not touched).
            read_keys: Keys whose write versions are checked against ``read_version``.
            read_alarm: Also check the alarm's write version.
            read_version: Version the reads were made at; ``None`` disables the check.

        Returns:
            The object's version after the commit.

        Raises:
            CommitConflict: A checked key or the alarm was written after ``read_version``.
            BackendUnavailable: The store could not be reached.
        """
        batch = CommitBatch(
            puts=puts,
            deletes=deletes,
            alarm=alarm,
            delete_all=delete_all,
            read_keys=read_keys or (),
            read_alarm=read_alarm,
            read_version=read_version,
        )
        return self._commit(batch)

    @abc.abstractmethod
    def _commit(self, batch: CommitBatch) -> int:
        """:meth:`commit` as each store implements it (same returns and errors)."""

    @abc.abstractmethod
    def version(self) -> int:
        """Return the latest commit version (0 for an object never written)."""

    @abc.abstractmethod
    def get_alarm(self) -> int | None:
        """Return the scheduled alarm time in ms, or ``None``."""

    @abc.abstractmethod
    def count(self) -> int:
        """Return the number of stored keys."""

    @abc.abstractmethod
    def size_bytes(self) -> int:
        """Return the total size of encoded keys plus values."""

    def in_transaction(self) -> bool:
        """Whether writes made outside :meth:`commit` wait for it (the SQL API's implicit transaction)."""
        return False

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; the store reopens lazily if used again."""


class Backend(abc.ABC):
    """A place where Durable Object stores live: one per emulator."""

    #: Short human-readable description (``"memory"``, a path, a URL without password).
    location: str
    #: Whether objects may keep a JS read cache: true when every writer other than the object
    #: itself is either this emulator's Python side (which drops the cache) or announced by
    #: :meth:`changed_elsewhere` before the object's code runs again.
    read_cache: bool = False
    #: Whether every operation is a network round trip (Redis): the kernel then asks for
    #: storage asynchronously, so the engine lock can be let go while it waits.
    remote: bool = False
    #: Set by the emulator: ``io_window(scope)`` is a context manager a remote backend wraps
    #: around a network round trip for object ``scope`` (``"binding:hex"``), so the engine
    #: lock is not held while it waits (see :mod:`mfbook.backend_waits`).
    io_window: Callable[[str], AbstractContextManager[None]] | None = None
    #: Set by the emulator when objects have owners (mfbook/placement): ``fence_for(scope)``
    #: is the lease value a commit of that object must still find in Redis, or None.
    fence_for: Callable[[str], str | None] | None = None

    def changed_elsewhere(self) -> bool:
        """True (once) after someone outside this emulator committed; checked before each delivery."""
        return False

    @abc.abstractmethod
    def open(self, binding: str, object_hex: str) -> ObjectStore:
        """Return the store of object ``object_hex`` in namespace ``binding``.

        Raises:
            ValueError: If ``object_hex`` is not 64 lowercase hex digits.
        """

    @abc.abstractmethod
    def list_objects(self, binding: str) -> builtins.list[str]:
        """Return the sorted hex ids of objects in ``binding`` with keys or an alarm."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close every open store and connection."""
