"""Where the ``miniflare`` fixture finds its options: a marker, ``[tool.mfbook]``, a wrangler file.

The first source that exists wins (they are not merged):

1. ``@pytest.mark.miniflare(script_path="worker.js", modules=True, ...)`` on the test, its class
   or its module (``pytestmark``); relative paths are relative to the test file's directory.
2. ``[tool.mfbook]`` in the ``pyproject.toml`` of pytest's root directory; relative paths are
   relative to that file.
3. ``wrangler.json``, ``wrangler.jsonc`` or ``wrangler.toml`` in the root directory (wrangler's
   own order), as ``wrangler_config_path``.

Every key is a :class:`~mfbook.Miniflare` option, plus ``seed``: an export file
(``mf.export_storage``) imported when the emulator starts, so every test begins with it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["PATH_OPTIONS", "WRANGLER_FILES", "find_project_options", "resolve_paths"]

#: Options holding a file or directory path (resolved against the source's directory).
PATH_OPTIONS = ("script_path", "wrangler_config_path", "modules_root", "seed", "durable_objects_persist")
#: Wrangler's configuration file names, in the order wrangler itself looks for them.
WRANGLER_FILES = ("wrangler.json", "wrangler.jsonc", "wrangler.toml")


def _resolve(name: str, value: Any, base: Path) -> Any:
    if not isinstance(value, str) or (name == "durable_objects_persist" and "://" in value):
        return value  # True/False/None, or a redis:// URL
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def resolve_paths(options: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """A copy of ``options`` whose relative paths (also in ``workers=[...]``) start at ``base``."""
    resolved = {name: _resolve(name, value, base) if name in PATH_OPTIONS else value for name, value in options.items()}
    workers = resolved.get("workers")
    if isinstance(workers, list):
        resolved["workers"] = [
            resolve_paths(worker, base) if isinstance(worker, Mapping) else worker for worker in workers
        ]
    return resolved


def find_project_options(root: Path) -> tuple[dict[str, Any], str] | None:
    """Options from ``[tool.mfbook]`` or a wrangler file under ``root`` and where they came from.

    Raises:
        ConfigError: ``pyproject.toml`` is not valid TOML, or ``[tool.mfbook]`` is not a table.
    """
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{pyproject}: {error}", option="tool.mfbook") from None
        section = document.get("tool", {}).get("mfbook")
        if section is not None:
            if not isinstance(section, dict):
                raise ConfigError(
                    f"{pyproject}: [tool.mfbook] must be a table of Miniflare options", option="tool.mfbook"
                )
            return resolve_paths(section, root), f"[tool.mfbook] in {pyproject}"
    for name in WRANGLER_FILES:
        candidate = root / name
        if candidate.is_file():
            return {"wrangler_config_path": str(candidate)}, str(candidate)
    return None
