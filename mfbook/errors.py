"""The mfbook exception tree.

::

    MfbookError                 base of everything mfbook raises on purpose
    ├── ConfigError             a bad option or configuration file (names the option)
    ├── DisposedError           the Miniflare instance was disposed
    ├── WorkerError             a JavaScript exception escaped worker code (name, message, stack)
    │   └── LimitExceeded       the isolate hit its CPU, memory or stack limit
    └── StorageError            a storage operation failed in the emulator
        ├── ConflictError       an OCC transaction gave up after its retries
        ├── SqlError            a SQL statement of a SQLite-backed object failed (runtime's text)
        └── BackendUnavailable  the persistence backend could not be reached
            └── OwnershipLost   a commit of a process whose ownership lease of the object ran out

    KeyboardInterrupt
    └── Interrupted             Ctrl-C stopped the JavaScript of a blocking call (emulator usable)

Validation errors of the Python storage API are ``TypeError``/``RangeError``-alikes
(:class:`StorageTypeError`, :class:`StorageRangeError`) carrying the exact text that
JavaScript would see.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "envelope_from_exception",
    "ConfigError",
    "ConflictError",
    "DisposedError",
    "Interrupted",
    "LimitExceeded",
    "MfbookError",
    "SqlError",
    "StorageError",
    "StorageRangeError",
    "StorageTypeError",
    "WorkerError",
]


class MfbookError(Exception):
    """Base class of the errors mfbook raises on purpose."""


class ConfigError(MfbookError, ValueError):
    """A configuration mistake; the message names the option and the bad value."""

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class DisposedError(MfbookError, RuntimeError):
    """The emulator was disposed; create a new ``Miniflare``."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or the kernel's interrupt) stopped a blocking call's JavaScript.

    A ``KeyboardInterrupt``, so scripts stop as usual, but raised only once the engine is
    consistent again: the request that was running failed, and the emulator stays usable.
    """


class WorkerError(MfbookError):
    """A JavaScript error escaped worker code.

    Attributes:
        name: The JS error's ``name`` (``TypeError``, ``RangeError``, ...).
        js_message: The JS error's ``message``.
        stack: The JS stack with file names and line numbers of the worker's own source.
        remote: Whether the error was thrown by the callee of an RPC (its stack is the callee's).
        retryable: The runtime marked the failure as worth retrying.
        overloaded: The runtime failed the call because the object was overloaded.
    """

    def __init__(
        self,
        name: str,
        message: str,
        stack: str = "",
        *,
        remote: bool = False,
        retryable: bool = False,
        overloaded: bool = False,
    ) -> None:
        super().__init__(f"{name}: {message}" if name else message)
        self.name = name
        self.js_message = message
        self.stack = stack
        self.remote = remote
        self.retryable = retryable
        self.overloaded = overloaded

    @classmethod
    def from_envelope(cls, envelope: dict[str, Any]) -> WorkerError:
        """Builds the error from the kernel's ``{name, message, stack}`` envelope."""
        error_class = LimitExceeded if envelope.get("limit") else cls
        return error_class(
            str(envelope.get("name", "Error")),
            str(envelope.get("message", "")),
            str(envelope.get("stack", "")),
            remote=envelope.get("remote") is True,
            retryable=envelope.get("retryable") is True,
            overloaded=envelope.get("overloaded") is True,
        )


class LimitExceeded(WorkerError):
    """Worker code ran past the CPU-time, memory or stack limit of its isolate."""


class StorageError(MfbookError):
    """A storage operation failed inside the emulator."""


class ConflictError(StorageError):
    """An optimistic transaction kept conflicting and gave up.

    Attributes:
        object_id: Hex id of the Durable Object.
        keys: Keys whose newer commits invalidated the last attempt.
        txn_id: The transaction's id on the trace.
        attempts: How many times the closure ran.
    """

    def __init__(self, message: str, *, object_id: str, keys: tuple[str, ...], txn_id: int, attempts: int) -> None:
        super().__init__(message)
        self.object_id = object_id
        self.keys = keys
        self.txn_id = txn_id
        self.attempts = attempts


class SqlError(StorageError):
    """A SQL statement failed; the message is the Workers runtime's text for it.

    Attributes:
        code: SQLite's (extended) result code name, e.g. ``SQLITE_CONSTRAINT_UNIQUE``.
    """

    def __init__(self, message: str, *, code: str = "SQLITE_ERROR") -> None:
        super().__init__(message)
        self.code = code


class StorageTypeError(MfbookError, TypeError):
    """Invalid argument to the storage API (same text as the JS ``TypeError``)."""


class StorageRangeError(MfbookError, ValueError):
    """An argument outside the storage limits (same text as the JS ``RangeError``)."""


_JS_ERROR_NAMES = {TypeError: "TypeError", ValueError: "RangeError", KeyError: "Error"}


def envelope_from_exception(error: BaseException) -> dict[str, Any]:
    """Turns a Python exception into the JS error the kernel should throw."""
    if isinstance(error, WorkerError):
        return {"name": error.name, "message": error.js_message, "stack": error.stack}
    name = "Error"
    for kind, js_name in _JS_ERROR_NAMES.items():
        if isinstance(error, kind):
            name = js_name
            break
    if isinstance(error, StorageTypeError):
        name = "TypeError"
    elif isinstance(error, StorageRangeError):
        name = "RangeError"
    elif isinstance(error, StorageError) or not isinstance(error, (TypeError, ValueError)):
        name = "Error"
    return {"name": name, "message": str(error)}
