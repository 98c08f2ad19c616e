"""Engine exceptions -> one clear ``UsageError`` message (the magics layer only).

IPython prints a ``UsageError`` as ``UsageError: <message>`` without a traceback, but prints a
subclass with a full traceback, so magics raise exactly ``UsageError``. Each message names the
problem and the fix on its first line; JS errors add their stack mapped to cell lines.
"""

from __future__ import annotations

import re

from IPython.core.error import UsageError

from ..errors import (
    ConfigError,
    ConflictError,
    DisposedError,
    LimitExceeded,
    SqlError,
    StorageRangeError,
    StorageTypeError,
    WorkerError,
)
from .cells import WorkerCell, frame_location, map_stack, point_at

__all__ = ["ENGINE_ERRORS", "usage_error", "worker_error_block"]

#: What the magics translate; anything else is a bug and keeps its traceback.
ENGINE_ERRORS = (ConfigError, WorkerError, StorageTypeError, StorageRangeError, ConflictError, DisposedError, SqlError)

_SYNTAX = re.compile(r"SyntaxError in (?P<file>\S+?):(?P<line>\d+):(?P<column>\d+): (?P<detail>.*)", re.S)
_START = "The worker failed to start: "


def worker_error_block(error: WorkerError, cell: WorkerCell | None) -> str:
    """``Name: message`` and the JS stack with cell lines, as one block of text."""
    header = f"{error.name}: {error.js_message}" if error.js_message else error.name
    stack = error.stack or ""
    if stack.startswith(header):
        stack = stack[len(header) :].lstrip("\n")
    block = header + ("\n" + map_stack(stack, cell) if stack.strip() else "")
    if isinstance(error, LimitExceeded):
        block += "\n(The emulator is still usable; raise the limit with %config MfbookMagics.cpu_limit_ms = ...)"
    return block


def _config_message(error: ConfigError, cell: WorkerCell | None) -> str:
    text = str(error)
    syntax = _SYNTAX.match(text)
    if syntax and cell is not None:
        line, column = int(syntax["line"]), int(syntax["column"])
        return (
            f"SyntaxError in %%worker {cell.name}, cell line {line + 1} ({syntax['file']}:{line}:{column}): "
            f"{syntax['detail']} - fix the cell and run it again.\n{point_at(cell, line, column)}"
        ).rstrip()
    if text.startswith(_START) and cell is not None:
        detail = text[len(_START) :]
        first, _, stack = detail.partition("\n")
        location = frame_location(stack)
        where = f" at cell line {location[0] + 1}" if location else ""
        return (
            f"worker {cell.name!r} failed to start{where}: {first} - fix the cell and run it again "
            f"(the previous version keeps running).\n{map_stack(stack, cell)}"
        ).rstrip()
    if error.option == "durable_objects":
        return f"{text} - check the --do BINDING=Class[@worker] options and the exported class names."
    if error.option == "durable_objects_persist":
        return f"{text} - use --persist with a directory path or a redis:// URL."
    return text


def usage_error(error: BaseException, *, magic: str, cell: WorkerCell | None = None) -> UsageError:
    """The ``UsageError`` to raise for an engine exception caught in ``%magic``.

    Args:
        error: One of :data:`ENGINE_ERRORS`.
        magic: The magic's name, for the message.
        cell: The worker cell whose code ran (maps JS stacks and syntax errors to its lines).
    """
    if isinstance(error, WorkerError):
        return UsageError(
            f"%{magic}: uncaught JS error in worker {cell.name if cell else '?'!r}: " + worker_error_block(error, cell)
        )
    if isinstance(error, ConfigError):
        return UsageError(f"%{magic}: {_config_message(error, cell)}")
    if isinstance(error, ConflictError):
        return UsageError(f"%{magic}: {error} Retry it, or write to those keys less often while it runs.")
    if isinstance(error, DisposedError):
        return UsageError(
            f"%{magic}: the emulator was disposed - "
            "run a %%worker cell (or %mf_reset --keep-workers) to start a new one."
        )
    if isinstance(error, (StorageTypeError, StorageRangeError)):
        return UsageError(f"%{magic}: {error}")
    if isinstance(error, SqlError):
        return UsageError(f"%{magic}: SQL error: {error}")
    return UsageError(f"%{magic}: {type(error).__name__}: {error}")
