"""Persistence backends for Durable Object storage, and :func:`open_backend`.

The protocol is in :mod:`mfbook.backends.base`; implementations are in ``memory``, ``sqlite``
and ``redis`` (imported lazily, so redis-py is only needed for Redis URLs).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .base import (
    KEEP,
    Backend,
    BackendConfigError,
    BackendError,
    BackendUnavailable,
    CommitConflict,
    Keep,
    ObjectStore,
    OwnershipLost,
)

__all__ = [
    "DEFAULT_PERSIST_DIRECTORY",
    "KEEP",
    "Backend",
    "BackendConfigError",
    "BackendError",
    "BackendUnavailable",
    "OwnershipLost",
    "CommitConflict",
    "Keep",
    "ObjectStore",
    "open_backend",
]

#: Directory used for ``durable_objects_persist=True``, relative to the working directory.
DEFAULT_PERSIST_DIRECTORY = Path(".mf") / "do"

_REDIS_SCHEMES = ("redis://", "rediss://")


def _bad_value(persist: object) -> BackendConfigError:
    return BackendConfigError(
        f"durable_objects_persist must be None, False, True, a directory path or a redis:// URL, got {persist!r}"
    )


def open_backend(
    persist: None | bool | str | os.PathLike[str],
    *,
    redis_prefix: str = "mfbook:",
    redis_options: Mapping[str, Any] | None = None,
) -> Backend:
    """Return the backend selected by a ``durable_objects_persist`` value.

    Args:
        persist: ``None``/``False`` for memory; ``True`` for SQLite in ``./.mf/do``; a
            ``redis://``/``rediss://`` URL for Redis; any other string or path for SQLite in
            that directory. Relative paths resolve against the current working directory now.
        redis_prefix: Prefix of every Redis key.
        redis_options: Extra keyword arguments for ``redis.Redis.from_url``.

    Returns:
        A new backend.

    Raises:
        BackendConfigError: ``persist`` is none of the accepted forms.

    >>> open_backend(None).location
    'memory'
    """
    if persist is None or persist is False:
        from .memory import MemoryBackend

        return MemoryBackend()
    if persist is True:
        from .sqlite import SqliteBackend

        return SqliteBackend(Path.cwd() / DEFAULT_PERSIST_DIRECTORY)
    if isinstance(persist, str):
        if persist.lower().startswith(_REDIS_SCHEMES):
            from .redis import RedisBackend

            return RedisBackend(persist, prefix=redis_prefix, options=redis_options)
        if not persist.strip() or "://" in persist or "\0" in persist:
            raise _bad_value(persist)
    elif not isinstance(persist, os.PathLike):
        raise _bad_value(persist)
    from .sqlite import SqliteBackend

    try:
        path = Path(persist)
    except TypeError as error:
        raise _bad_value(persist) from error
    path = path if path.is_absolute() else Path.cwd() / path
    if path.exists() and not path.is_dir():
        raise BackendConfigError(f"durable_objects_persist must be a directory, but {str(path)!r} is a file")
    return SqliteBackend(path)
