"""Wrangler configuration files (``wrangler.toml``, ``wrangler.json``, ``wrangler.jsonc``).

:func:`read_config` turns one file (and optionally one ``[env.<name>]`` section) into the
keyword options of one mfbook worker, plus the file's Durable Object migrations, which
:func:`check_migrations` checks against the worker's exports once its script has run.

Environments follow wrangler: *inheritable* keys (``name``, ``main``,
``compatibility_date``, ``compatibility_flags``, ``migrations``, ``rules``, ``base_dir``,
``build``) come from the top level unless the environment sets them (the name becomes
``<name>-<env>``); *non-inheritable* keys (``vars``, ``durable_objects``, ``services``) come
only from the environment's own section. Keys mfbook does not emulate (routes, KV, ...) are
ignored. Relative paths resolve against the file's directory.

>>> options, migrations = read_config("wrangler.toml", environment="staging")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["Migration", "WranglerConfig", "check_migrations", "read_config", "sqlite_classes"]

INHERITABLE = ("name", "main", "compatibility_date", "compatibility_flags", "migrations", "rules", "base_dir", "build")
NON_INHERITABLE = ("vars", "durable_objects", "services")


@dataclass(frozen=True)
class Migration:
    """One ``[[migrations]]`` entry."""

    tag: str
    new_classes: tuple[str, ...] = ()
    new_sqlite_classes: tuple[str, ...] = ()
    renamed_classes: tuple[tuple[str, str], ...] = ()  # (from, to)
    deleted_classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class WranglerConfig:
    """A wrangler file resolved for one environment.

    Attributes:
        path: The file read.
        environment: The ``[env.<name>]`` section applied, or None.
        options: mfbook worker options (``name``, ``script_path``, ``modules``, ``bindings``, ...).
        migrations: The migrations in force for that environment.
    """

    path: Path
    environment: str | None
    options: dict[str, Any] = field(default_factory=dict)
    migrations: tuple[Migration, ...] = ()

    @property
    def sqlite_classes(self) -> frozenset[str]:
        """Classes created by ``new_sqlite_classes`` (and still alive under their last name)."""
        return sqlite_classes(self.migrations, self.path)


def sqlite_classes(migrations: tuple[Migration, ...], path: Path) -> frozenset[str]:
    """The live classes that ``new_sqlite_classes`` created, after renames and deletions."""
    return frozenset(_walk(migrations, path)[1])


def _error(path: Path, message: str) -> ConfigError:
    return ConfigError(f"{path.name}: {message}", option="wrangler_config_path")


def _load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except OSError as error:
        raise ConfigError(
            f"wrangler_config_path: {str(path)!r} cannot be read: {error.strerror}", option="wrangler_config_path"
        ) from None
    except UnicodeDecodeError as error:
        raise _error(path, f"not valid UTF-8 (byte {error.start}: {error.reason})") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            raw = tomllib.loads(text)
        elif suffix in (".json", ".jsonc"):
            # wrangler reads both with a JSONC parser (comments, trailing commas); JSON5 is a superset.
            import json5

            raw = json5.loads(text)
        else:
            raise _error(path, "expected a .toml, .json or .jsonc file")
    except tomllib.TOMLDecodeError as error:
        raise _error(path, f"invalid TOML: {error}") from None
    except ValueError as error:
        if isinstance(error, ConfigError):
            raise
        raise _error(path, f"invalid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise _error(path, "the top level must be a table/object")
    return raw


def _section(raw: dict[str, Any], environment: str | None, path: Path) -> dict[str, Any]:
    """The effective configuration of ``environment`` (wrangler's inheritance rules)."""
    if environment is None:
        return raw
    envs = raw.get("env") or {}
    if not isinstance(envs, dict) or environment not in envs:
        known = ", ".join(sorted(envs)) if isinstance(envs, dict) and envs else "none"
        raise _error(
            path,
            f'No environment found in configuration with name "{environment}" (environments: {known}).',
        )
    section = envs[environment]
    if not isinstance(section, dict):
        raise _error(path, f"[env.{environment}] must be a table")
    resolved: dict[str, Any] = {}
    for key in INHERITABLE:
        if key in section:
            resolved[key] = section[key]
        elif key in raw:
            resolved[key] = f"{raw[key]}-{environment}" if key == "name" else raw[key]
    for key in NON_INHERITABLE:
        if key in section:
            resolved[key] = section[key]
    return resolved


def _strings(value: Any, where: str, path: Path) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _error(path, f"{where} must be a list of strings")
    return tuple(value)


def _migrations(value: Any, path: Path) -> tuple[Migration, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _error(path, "migrations must be a list of [[migrations]] tables")
    result = []
    tags: set[str] = set()
    for index, entry in enumerate(value):
        if not isinstance(entry, dict) or not isinstance(entry.get("tag"), str):
            raise _error(path, f"migration {index + 1} needs a tag")
        tag = entry["tag"]
        if tag in tags:
            raise _error(path, f'migration tag "{tag}" is used twice')
        tags.add(tag)
        renamed = []
        for item in entry.get("renamed_classes") or []:
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("from"), str)
                or not isinstance(item.get("to"), str)
            ):
                raise _error(path, f'migration "{tag}": renamed_classes entries need "from" and "to"')
            renamed.append((item["from"], item["to"]))
        result.append(
            Migration(
                tag=tag,
                new_classes=_strings(entry.get("new_classes"), f'migration "{tag}" new_classes', path),
                new_sqlite_classes=_strings(
                    entry.get("new_sqlite_classes"), f'migration "{tag}" new_sqlite_classes', path
                ),
                renamed_classes=tuple(renamed),
                deleted_classes=_strings(entry.get("deleted_classes"), f'migration "{tag}" deleted_classes', path),
            )
        )
    return tuple(result)


def _modules_flag(raw: dict[str, Any], main: Path) -> bool:
    upload = ((raw.get("build") or {}).get("upload") or {}) if isinstance(raw.get("build"), dict) else {}
    fmt = upload.get("format") if isinstance(upload, dict) else None
    if fmt is not None:
        return bool(fmt == "modules")
    from .modules import has_module_syntax

    try:
        return has_module_syntax(main.read_text("utf-8"))
    except (OSError, UnicodeDecodeError):
        return True  # the missing file is reported by the script_path check


def read_config(path: str | Path, *, environment: str | None = None) -> WranglerConfig:
    """Reads a wrangler file into mfbook worker options.

    Args:
        path: ``wrangler.toml``, ``wrangler.json`` or ``wrangler.jsonc``.
        environment: Name of an ``[env.<name>]`` section to apply.

    Returns:
        The options and migrations of that worker.

    Raises:
        ConfigError: The file cannot be read or parsed, or has a bad value (named in the message).
    """
    path = Path(path)
    raw = _load(path)
    config = _section(raw, environment, path)
    base = path.resolve().parent
    options: dict[str, Any] = {}
    if "name" in config:
        if not isinstance(config["name"], str):
            raise _error(path, "name must be a string")
        options["name"] = config["name"]
    if "main" in config:
        if not isinstance(config["main"], str):
            raise _error(path, "main must be a path string")
        main = (base / config["main"]).resolve()
        options["script_path"] = main
        options["modules"] = _modules_flag(config, main)
    if "base_dir" in config:
        options["modules_root"] = (base / str(config["base_dir"])).resolve()
    for key in ("compatibility_date", "compatibility_flags"):
        if key in config:
            options[key] = config[key]
    variables = config.get("vars")
    if variables is not None:
        if not isinstance(variables, dict):
            raise _error(path, "vars must be a table of name = value")
        options["bindings"] = dict(variables)
    durable_objects = config.get("durable_objects")
    if durable_objects is not None:
        bindings = durable_objects.get("bindings") if isinstance(durable_objects, dict) else None
        if not isinstance(bindings, list):
            raise _error(path, "durable_objects.bindings must be a list of {name, class_name, script_name?}")
        objects: dict[str, Any] = {}
        for item in bindings:
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("name"), str)
                or not isinstance(item.get("class_name"), str)
            ):
                raise _error(path, f"each durable_objects binding needs name and class_name, got {json.dumps(item)}")
            spec = {"class_name": item["class_name"]}
            if item.get("script_name"):
                spec["script_name"] = str(item["script_name"])
            objects[item["name"]] = spec
        options["durable_objects"] = objects
    services = config.get("services")
    if services is not None:
        if not isinstance(services, list):
            raise _error(path, "services must be a list of {binding, service, entrypoint?}")
        service_bindings: dict[str, Any] = {}
        for item in services:
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("binding"), str)
                or not isinstance(item.get("service"), str)
            ):
                raise _error(path, f"each services entry needs binding and service, got {json.dumps(item)}")
            target: dict[str, Any] = {"name": item["service"]}
            if item.get("entrypoint"):
                target["entrypoint"] = str(item["entrypoint"])
            service_bindings[item["binding"]] = target
        options["service_bindings"] = service_bindings
    rules = config.get("rules")
    if rules is not None:
        if not isinstance(rules, list):
            raise _error(path, "rules must be a list of {type, globs}")
        options["modules_rules"] = [
            {"type": rule.get("type"), "include": rule.get("globs", []), "fallthrough": rule.get("fallthrough", False)}
            for rule in rules
            if isinstance(rule, dict)
        ]
    migrations = _migrations(config.get("migrations"), path)
    _walk(migrations, path)  # structural errors (renaming an unknown class, ...) surface now
    return WranglerConfig(path=path, environment=environment, options=options, migrations=migrations)


def _walk(migrations: tuple[Migration, ...], path: Path) -> tuple[dict[str, str], set[str], dict[str, str]]:
    """Applies the migrations in order.

    Returns:
        ``(live, sqlite, gone)``: live class -> tag that created it (or renamed to it); the live
        SQLite-backed classes; removed class -> description of what removed it.
    """
    live: dict[str, str] = {}
    sqlite: set[str] = set()
    gone: dict[str, str] = {}
    for migration in migrations:
        tag = migration.tag
        for name in migration.new_classes + migration.new_sqlite_classes:
            if name in live:
                raise _error(
                    path, f'migration "{tag}" creates class "{name}", which migration "{live[name]}" already created'
                )
            live[name] = tag
            gone.pop(name, None)
            if name in migration.new_sqlite_classes:
                sqlite.add(name)
        for old, new in migration.renamed_classes:
            if old not in live:
                raise _error(path, f'migration "{tag}" renames class "{old}", which no earlier migration created')
            if new in live:
                raise _error(path, f'migration "{tag}" renames "{old}" to "{new}", but class "{new}" already exists')
            del live[old]
            live[new] = tag
            gone[old] = f'migration "{tag}" renamed it to "{new}"'
            if old in sqlite:
                sqlite.discard(old)
                sqlite.add(new)
        for name in migration.deleted_classes:
            if name not in live:
                raise _error(path, f'migration "{tag}" deletes class "{name}", which no earlier migration created')
            del live[name]
            sqlite.discard(name)
            gone[name] = f'migration "{tag}" deleted it'
    return live, sqlite, gone


def check_migrations(
    path: Path,
    worker_name: str,
    migrations: tuple[Migration, ...],
    *,
    classes: Collection[str],
    bindings: Mapping[str, str],
) -> None:
    """Checks a worker's migrations against what its script exports and what is bound.

    Args:
        path: The wrangler file (for messages).
        worker_name: The worker whose script the migrations describe.
        migrations: Its migrations (nothing is checked when there are none).
        classes: Names of the classes the worker's main module exports.
        bindings: Durable Object binding name -> class name, for every binding (in any
            worker) to a class of this worker.

    Raises:
        ConfigError: A created class is not exported, or a binding uses a class that was
            deleted, renamed or never created.
    """
    if not migrations:
        return
    live, _, gone = _walk(migrations, path)
    for name, tag in live.items():
        if name not in classes:
            raise _error(
                path,
                f'migration "{tag}" declares Durable Object class "{name}", but worker "{worker_name}" '
                f"does not export a class with that name (exported classes: {', '.join(sorted(classes)) or 'none'})",
            )
    for binding, class_name in bindings.items():
        if class_name in live:
            continue
        if class_name in gone:
            raise _error(
                path,
                f'Durable Object binding "{binding}" uses class "{class_name}" of worker "{worker_name}", '
                f"but {gone[class_name]}",
            )
        raise _error(
            path,
            f'Durable Object binding "{binding}" uses class "{class_name}" of worker "{worker_name}", '
            "but no migration creates it: add it to new_classes (or new_sqlite_classes) in a [[migrations]] entry",
        )
