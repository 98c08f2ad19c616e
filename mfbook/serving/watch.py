"""``mfbook serve --watch``: notices when the files of a served project change.

Polling modification times is enough here (a project is a handful of files) and needs no
extra dependency: :class:`FileWatcher` remembers ``(mtime_ns, size)`` of the watched files
and reports when any appears, disappears or changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["FileWatcher", "project_files"]

#: Suffixes of files a worker project is built from.
WATCHED_SUFFIXES = frozenset(
    {".js", ".mjs", ".cjs", ".ts", ".mts", ".wasm", ".toml", ".json", ".jsonc", ".txt", ".html"}
)
_SKIPPED_DIRS = frozenset({"node_modules", ".git", ".mf", ".wrangler", "__pycache__", ".venv"})
_MAX_FILES = 2_000


def project_files(roots: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The files to watch: each root file itself, and the project files under each root directory."""
    found: list[Path] = []
    for root in roots:
        path = Path(root)
        if path.is_file():
            found.append(path)
            continue
        for directory, subdirs, files in os.walk(path):
            subdirs[:] = sorted(d for d in subdirs if d not in _SKIPPED_DIRS and not d.startswith("."))
            for name in sorted(files):
                if Path(name).suffix in WATCHED_SUFFIXES:
                    found.append(Path(directory) / name)
                    if len(found) >= _MAX_FILES:
                        return found
    return found


def _stamp(paths: Iterable[Path]) -> dict[Path, tuple[int, int]]:
    stamps = {}
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            continue
        stamps[path] = (info.st_mtime_ns, info.st_size)
    return stamps


class FileWatcher:
    """Reports changes to the project files under ``roots`` (files or directories).

    >>> watcher = FileWatcher(["worker.js"])   # doctest: +SKIP
    >>> watcher.changed()                      # doctest: +SKIP
    False
    """

    def __init__(self, roots: Iterable[str | os.PathLike[str]]) -> None:
        self._roots = list(roots)
        self._stamps = _stamp(project_files(self._roots))

    def changed(self) -> bool:
        """Whether any watched file changed, appeared or disappeared since the last call."""
        stamps = _stamp(project_files(self._roots))
        if stamps == self._stamps:
            return False
        self._stamps = stamps
        return True
