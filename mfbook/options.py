"""Validation of ``Miniflare(**options)``: every mistake is a ConfigError naming the option."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import codec
from .errors import ConfigError
from .modules import Bundle, build_bundle, parse_rules
from .runtime import NamespaceSpec, WorkerSpec
from .wrangler import Migration, read_config, sqlite_classes

__all__ = ["Options", "parse_options"]

WORKER_OPTIONS = frozenset(
    {
        "name",
        "script",
        "script_path",
        "modules",
        "durable_objects",
        "bindings",
        "service_bindings",
        "compatibility_date",
        "compatibility_flags",
        "durable_objects_persist",
        "modules_root",
        "modules_rules",
        "wrangler_config_path",
        "environment",
    }
)
GLOBAL_OPTIONS = frozenset(
    {
        "workers",
        "durable_objects_alarms",
        "cpu_limit_ms",
        "wall_limit_ms",
        "memory_limit_mb",
        "upstream",
        "console",
        "txn_max_attempts",
        "redis_prefix",
        "redis_options",
        "redis_lease_ms",
        "trace_maxlen",
        "websocket_hibernation_idle_ms",
    }
)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class Options:
    """Validated options of one emulator."""

    workers: list[WorkerSpec]
    persist: Any = None
    worker_persist: dict[str, Any] = field(default_factory=dict)  # worker name -> own setting
    #: Durable Object migrations from wrangler files: worker name -> (file, migrations).
    migrations: dict[str, tuple[Path, tuple[Migration, ...]]] = field(default_factory=dict)
    alarms: bool = True
    cpu_limit_ms: float = 5_000.0
    #: Wall-clock time a request (event) may stay pending, e.g. kept alive by timers.
    wall_limit_ms: float = 30_000.0
    memory_limit_mb: float = 128.0
    upstream: Callable[..., Any] | None = None
    console: Any = "print"
    txn_max_attempts: int = 50  # measured: 2 processes contending on one Redis object need up to ~20
    redis_prefix: str = "mfbook:"
    redis_options: dict[str, Any] = field(default_factory=dict)
    #: Ownership lease of an object run by one process among those sharing Redis (None: off).
    redis_lease_ms: int | None = 3_000
    trace_maxlen: int = 50_000
    #: Idle time after which an object with only hibernatable WebSockets is evicted.
    websocket_hibernation_idle_ms: float = 10_000.0


def _bad(option: str, message: str) -> ConfigError:
    return ConfigError(f"{option}: {message}", option=option)


def _namespaces(value: Any, worker_name: str, option: str = "durable_objects") -> dict[str, NamespaceSpec]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _bad(option, f"expected a dict of binding -> class name, got {type(value).__name__}")
    result = {}
    for binding, spec in value.items():
        if not isinstance(binding, str) or not binding:
            raise _bad(option, f"binding names must be non-empty strings, got {binding!r}")
        sqlite = False
        if isinstance(spec, str):
            class_name, script_name = spec, worker_name
        elif isinstance(spec, Mapping):
            unknown = set(spec) - {"class_name", "script_name", "className", "scriptName", "sqlite"}
            if unknown:
                raise _bad(option, f"unknown key {sorted(unknown)[0]!r} for binding {binding!r}")
            class_name = spec.get("class_name", spec.get("className"))
            script_name = spec.get("script_name", spec.get("scriptName")) or worker_name
            if not isinstance(class_name, str) or not class_name:
                raise _bad(option, f"binding {binding!r} needs a class_name")
            sqlite = spec.get("sqlite", False)
            if not isinstance(sqlite, bool):
                raise _bad(option, f"binding {binding!r}: sqlite must be True or False, got {sqlite!r}")
        else:
            raise _bad(option, f"binding {binding!r} must map to a class name or a dict, got {spec!r}")
        result[binding] = NamespaceSpec(binding, class_name, str(script_name), sqlite=sqlite)
    return result


def _bindings(
    options: Mapping[str, Any],
    namespaces: dict[str, NamespaceSpec],
    services: dict[str, tuple[str, str | None]],
) -> dict[str, dict[str, Any]]:
    values = options.get("bindings") or {}
    if not isinstance(values, Mapping):
        raise _bad("bindings", f"expected a dict of name -> value, got {type(values).__name__}")
    result: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        try:
            result[str(name)] = {"type": "var", "value": codec.encode(value)}
        except TypeError as error:
            raise _bad("bindings", f"{name!r} cannot be passed to JavaScript: {error}") from None
    for binding in namespaces:
        result[binding] = {"type": "durable_object", "binding": binding}
    for name, (_, entrypoint) in services.items():
        result[name] = {"type": "service"} if entrypoint is None else {"type": "service", "entrypoint": entrypoint}
    return result


def _services(value: Any) -> dict[str, tuple[str, str | None]]:
    """``service_bindings``: binding -> worker name, or -> ``{"name": worker, "entrypoint": class}``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _bad("service_bindings", "expected a dict of binding -> worker name or {name, entrypoint}")
    result: dict[str, tuple[str, str | None]] = {}
    for binding, target in value.items():
        if isinstance(target, str):
            result[str(binding)] = (target, None)
            continue
        if isinstance(target, Mapping):
            unknown = set(target) - {"name", "service", "entrypoint"}
            worker = target.get("name", target.get("service"))
            entrypoint = target.get("entrypoint")
            if not unknown and isinstance(worker, str) and (entrypoint is None or isinstance(entrypoint, str)):
                result[str(binding)] = (worker, entrypoint)
                continue
        raise _bad(
            "service_bindings",
            f'binding {binding!r} must map to a worker name or {{"name": worker, "entrypoint": class}}, got {target!r}',
        )
    return result


def _with_wrangler(options: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[Path, tuple[Migration, ...]] | None]:
    """Merges a worker's wrangler file under its explicit options (explicit ones win).

    ``bindings`` merge key by key over the file's ``vars``; every other option replaces the
    file's value as a whole; an explicit ``script`` replaces the file's ``main``.
    """
    path = options.get("wrangler_config_path")
    environment = options.get("environment")
    explicit = {key: value for key, value in options.items() if key not in ("wrangler_config_path", "environment")}
    if path is None:
        if environment is not None:
            raise _bad("environment", "environment= selects a section of a wrangler file: pass wrangler_config_path=")
        return explicit, None
    if environment is not None and not isinstance(environment, str):
        raise _bad("environment", f"expected an environment name, got {environment!r}")
    config = read_config(path, environment=environment)
    merged = dict(config.options)
    if "script" in explicit:
        merged.pop("script_path", None)
    if "script_path" in explicit:
        merged.pop("modules_root", None)
    if "bindings" in explicit and isinstance(explicit["bindings"], Mapping):
        explicit["bindings"] = {**merged.get("bindings", {}), **explicit["bindings"]}
    merged.update(explicit)
    if "modules" not in explicit and ("script" in explicit or "script_path" in explicit):
        # As wrangler does, the format of a script passed beside a wrangler file is inferred.
        merged["modules"] = _has_module_syntax(explicit.get("script"), explicit.get("script_path"))
    return merged, (config.path, config.migrations)


def _has_module_syntax(script: Any, script_path: Any) -> bool:
    from .modules import has_module_syntax

    try:
        text = script if isinstance(script, str) else Path(script_path).read_text("utf-8")
    except (OSError, TypeError, UnicodeDecodeError):
        return False  # reported by the script / script_path checks
    return has_module_syntax(text)


def _worker(
    options: Mapping[str, Any],
    *,
    index: int,
    default_name: str,
    migrations: dict[str, tuple[Path, tuple[Migration, ...]]] | None = None,
) -> tuple[WorkerSpec, Any]:
    unknown = set(options) - WORKER_OPTIONS
    if unknown:
        raise _bad(sorted(unknown)[0], "unknown worker option")
    options, found_migrations = _with_wrangler(options)
    name = options.get("name") or default_name
    if not isinstance(name, str):
        raise _bad("name", f"worker names must be strings, got {name!r}")
    script = options.get("script")
    script_path = options.get("script_path")
    if script is not None and script_path is not None:
        raise _bad("script", "pass either script= or script_path=, not both")
    if script is None and script_path is None:
        raise _bad("script", f"worker {name!r} needs script= (source text) or script_path= (a file)")
    if script is not None and not isinstance(script, str):
        raise _bad("script", f"expected JavaScript source as a str, got {type(script).__name__}")
    path = Path(script_path) if script_path is not None else None
    if path is not None and not path.is_file():
        raise _bad("script_path", f"{str(path)!r} is not a file")
    modules = options.get("modules", False)
    if not isinstance(modules, bool):
        raise _bad("modules", f"expected True or False, got {modules!r}")
    date = options.get("compatibility_date")
    if date is not None and (not isinstance(date, str) or not _DATE.fullmatch(date)):
        raise _bad("compatibility_date", f"expected YYYY-MM-DD, got {date!r}")
    flags = options.get("compatibility_flags") or []
    if not isinstance(flags, (list, tuple)) or not all(isinstance(flag, str) for flag in flags):
        raise _bad("compatibility_flags", "expected a list of strings")
    namespaces = _namespaces(options.get("durable_objects"), name)
    services = _services(options.get("service_bindings"))
    if namespaces and not modules:
        local = [spec for spec in namespaces.values() if spec.script_name == name]
        if local:
            raise _bad("modules", "Durable Object classes must be exported from an ES module worker: pass modules=True")
    root = options.get("modules_root")
    rules = parse_rules(options.get("modules_rules"))
    bundle: Bundle = build_bundle(
        script=script, script_path=path, modules=modules, root=Path(root) if root else None, rules=rules
    )
    spec = WorkerSpec(
        name=name,
        bundle=bundle,
        bindings=_bindings(options, namespaces, services),
        namespaces=namespaces,
        services={binding: worker for binding, (worker, _) in services.items()},
    )
    if found_migrations is not None and migrations is not None:
        migrations[name] = found_migrations
    return spec, options.get("durable_objects_persist", _UNSET)


_UNSET = object()


def parse_options(options: Mapping[str, Any]) -> Options:
    """Validates the keyword options of ``Miniflare``.

    Raises:
        ConfigError: An unknown option or a bad value (the message names it).
    """
    unknown = set(options) - WORKER_OPTIONS - GLOBAL_OPTIONS
    if unknown:
        name = sorted(unknown)[0]
        raise ConfigError(
            f"{name}: unknown option (known: {', '.join(sorted(WORKER_OPTIONS | GLOBAL_OPTIONS))})", option=name
        )
    workers_option = options.get("workers")
    top = {key: value for key, value in options.items() if key in WORKER_OPTIONS}
    entries: list[Mapping[str, Any]] = []
    if workers_option is not None:
        if not isinstance(workers_option, (list, tuple)) or not workers_option:
            raise _bad("workers", "expected a non-empty list of worker option dicts")
        if "script" in top or "script_path" in top:
            raise _bad("workers", "pass the entry worker's script inside workers=[...], not next to it")
        for index, entry in enumerate(workers_option):
            if not isinstance(entry, Mapping):
                raise _bad("workers", f"entry {index} must be a dict of worker options, got {entry!r}")
        entries = [dict(entry) for entry in workers_option]
    else:
        entries = [top]
    specs: list[WorkerSpec] = []
    persist_values = []
    migrations: dict[str, tuple[Path, tuple[Migration, ...]]] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise _bad("workers", f"entry {index} must be a dict of worker options")
        spec, persist = _worker(
            entry, index=index, default_name="worker" if index == 0 else f"worker{index}", migrations=migrations
        )
        specs.append(spec)
        persist_values.append(persist)
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise _bad("workers", f"worker names must be unique, got {names}")
    _check_classes(specs)
    _mark_sqlite_classes(specs, migrations)
    _assign_object_names(specs)
    # Workers share the parent's durable_objects_persist unless they set their own.
    if workers_option is None:
        persist = persist_values[0] if persist_values[0] is not _UNSET else None
        worker_persist: dict[str, Any] = {}
    else:
        persist = options.get("durable_objects_persist", None)
        worker_persist = {
            spec.name: value for spec, value in zip(specs, persist_values, strict=True) if value is not _UNSET
        }
    parsed = Options(workers=specs, persist=persist, worker_persist=worker_persist, migrations=migrations)
    parsed.alarms = bool(options.get("durable_objects_alarms", True))
    cpu = options.get("cpu_limit_ms", 5_000.0)
    if isinstance(cpu, bool) or not isinstance(cpu, (int, float)) or cpu <= 0:
        raise _bad("cpu_limit_ms", f"expected a positive number of milliseconds, got {cpu!r}")
    parsed.cpu_limit_ms = float(cpu)
    wall = options.get("wall_limit_ms", 30_000.0)
    if isinstance(wall, bool) or not isinstance(wall, (int, float)) or not 0 < wall < float("inf"):
        raise _bad("wall_limit_ms", f"expected a positive number of milliseconds, got {wall!r}")
    parsed.wall_limit_ms = float(wall)
    idle = options.get("websocket_hibernation_idle_ms", 10_000.0)
    if isinstance(idle, bool) or not isinstance(idle, (int, float)) or not 0 <= idle < float("inf"):
        raise _bad("websocket_hibernation_idle_ms", f"expected a number of milliseconds >= 0, got {idle!r}")
    parsed.websocket_hibernation_idle_ms = float(idle)
    memory = options.get("memory_limit_mb", 128.0)
    if isinstance(memory, bool) or not isinstance(memory, (int, float)) or memory < 8:
        raise _bad("memory_limit_mb", f"expected a number of megabytes >= 8, got {memory!r}")
    parsed.memory_limit_mb = float(memory)
    upstream = options.get("upstream")
    if upstream is not None and not callable(upstream):
        raise _bad("upstream", "expected a callable taking the request wire dict and returning an mfbook.Response")
    parsed.upstream = upstream
    console = options.get("console", "print")
    if console not in ("print", "log", None) and not callable(console):
        raise _bad("console", f"expected 'print', 'log', None or a callable(level, text), got {console!r}")
    parsed.console = console
    attempts = options.get("txn_max_attempts", 50)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise _bad("txn_max_attempts", f"expected a positive int, got {attempts!r}")
    parsed.txn_max_attempts = attempts
    prefix = options.get("redis_prefix", "mfbook:")
    if not isinstance(prefix, str):
        raise _bad("redis_prefix", f"expected a str, got {type(prefix).__name__} {prefix!r}")
    parsed.redis_prefix = prefix
    redis_options = options.get("redis_options") or {}
    if not isinstance(redis_options, Mapping) or not all(isinstance(key, str) for key in redis_options):
        raise _bad("redis_options", f"expected a dict of redis-py client options, got {redis_options!r}")
    parsed.redis_options = dict(redis_options)
    lease_ms = options.get("redis_lease_ms", 3_000)
    if lease_ms is not None and (isinstance(lease_ms, bool) or not isinstance(lease_ms, int) or lease_ms < 100):
        raise _bad("redis_lease_ms", f"expected an int >= 100 (milliseconds) or None (no ownership), got {lease_ms!r}")
    parsed.redis_lease_ms = lease_ms
    maxlen = options.get("trace_maxlen", 50_000)
    if isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 0:
        raise _bad("trace_maxlen", f"expected an int >= 0 (events kept), got {maxlen!r}")
    parsed.trace_maxlen = maxlen
    return parsed


def _check_classes(specs: list[WorkerSpec]) -> None:
    """Checks that every Durable Object binding points at a script that exists.

    Class existence is checked once the scripts have run (exports are only known then).
    """
    names = {spec.name for spec in specs}
    for spec in specs:
        for binding, namespace in spec.namespaces.items():
            if namespace.script_name not in names:
                raise ConfigError(
                    f'Script "{namespace.script_name}" for Durable Object "{binding}" not found.\n'
                    f'Make sure "{namespace.script_name}" is mounted so Miniflare knows where to find it.',
                    option="durable_objects",
                )
        for binding, target in spec.services.items():
            if target not in names:
                raise ConfigError(
                    f'Service "{target}" for binding "{binding}" not found.\n'
                    f'Make sure "{target}" is mounted so Miniflare knows where to find it.',
                    option="service_bindings",
                )


def _mark_sqlite_classes(specs: list[WorkerSpec], migrations: dict[str, tuple[Path, tuple[Migration, ...]]]) -> None:
    """Makes every binding to a SQLite-backed class SQLite-backed.

    A class is SQLite-backed when its worker's wrangler migrations create it with
    ``new_sqlite_classes`` (following renames and deletions), or when any binding to it says
    ``{"sqlite": True}``.
    """
    sqlite: set[tuple[str, str]] = set()
    for worker_name, (path, steps) in migrations.items():
        sqlite.update((worker_name, name) for name in sqlite_classes(steps, path))
    for spec in specs:
        sqlite.update((ns.script_name, ns.class_name) for ns in spec.namespaces.values() if ns.sqlite)
    for spec in specs:
        for binding, namespace in list(spec.namespaces.items()):
            if (namespace.script_name, namespace.class_name) in sqlite and not namespace.sqlite:
                spec.namespaces[binding] = replace(namespace, sqlite=True)


def _assign_object_names(specs: list[WorkerSpec]) -> None:
    """Gives every Durable Object class one *object name*, shared by all bindings to it.

    The object name is what ids hash and what storage is keyed by (Miniflare 2's
    ``objectName``), so two workers' bindings to one class reach the same objects. It is the
    class's own worker's binding name when that worker binds it, else the first binding name
    (in worker order); so when every binding to a class has the same name it is that name,
    as in Miniflare 2. Should two classes want the same name, the later one is called
    ``Class@script``. ``NamespaceSpec.binding`` holds the object name from here on; the env
    binding name stays the key of ``WorkerSpec.namespaces``.
    """
    preferred: dict[tuple[str, str], str] = {}
    for spec in specs:
        for binding, namespace in spec.namespaces.items():
            if namespace.script_name == spec.name:
                preferred.setdefault((namespace.script_name, namespace.class_name), binding)
    for spec in specs:
        for binding, namespace in spec.namespaces.items():
            preferred.setdefault((namespace.script_name, namespace.class_name), binding)
    chosen: dict[tuple[str, str], str] = {}
    taken: set[str] = set()
    for (script_name, class_name), name in preferred.items():
        if name in taken:
            name = f"{class_name}@{script_name}"
        taken.add(name)
        chosen[(script_name, class_name)] = name
    for spec in specs:
        for binding, namespace in list(spec.namespaces.items()):
            object_name = chosen[(namespace.script_name, namespace.class_name)]
            spec.namespaces[binding] = replace(namespace, binding=object_name)
            spec.bindings[binding] = {"type": "durable_object", "binding": object_name}
