"""Export and import Durable Object storage as JSON lines (``mf.export_storage``).

The file has one JSON object per line, in binding, object id and key (UTF-8 byte) order.
Two kinds of line::

    {"binding": "COUNTER", "id": "<64 hex>", "key": "count", "value": 42}
    {"binding": "COUNTER", "id": "<64 hex>", "alarm": 1767225600000}

- A *key line* holds one stored key. ``value`` is the stored value's codec document (see
  :mod:`mfbook.codec`) as JSON, not a string of it: JSON-native values stand for themselves
  (``42``, ``"text"``, ``{"a": [1, 2]}``) and other values are the codec's tagged objects
  (``{"$": "date", "v": 1704067200000}``, ``{"$": "map", "entries": [...]}``).
- An *alarm line* holds the object's scheduled alarm in ms since the epoch; it follows the
  object's key lines. Objects without an alarm have none.
- SQLite-backed objects add *schema lines* and *row lines* for their SQL tables between
  their key lines and their alarm line (``{"binding", "id", "schema": "CREATE ..."}``,
  ``{"binding", "id", "table": "notes", "row": [1, "hello"]}``; see :mod:`mfbook.sql.transfer`).

Text is UTF-8 with non-ASCII characters kept as they are; lone surrogates (possible in keys
and strings) are written as ``\\ud800``-style escapes. The file is written to a temporary name and
renamed, so an interrupted export never leaves a half-written file behind.

Import is atomic per object: all key lines, SQL lines and the alarm of one object are written by ONE
commit, so a reader (or a crash) sees the object either before or after the import. Any
problem with the file (bad JSON, unknown binding, bad id or value) is reported with its line
number before anything is written.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from . import codec
from .backends.base import validate_object_hex
from .errors import ConfigError
from .sql.object_sql import ObjectSql
from .sql.store import SqlObjectStore
from .sql.transfer import dump_lines, load_row, load_schema
from .storage import ListOptions, ObjectStorage, sort_key

if TYPE_CHECKING:
    from .runtime import NamespaceSpec, Runtime

__all__ = ["StorageTransfer", "export_storage", "import_storage"]

_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class StorageTransfer:
    """What an export or import moved.

    Attributes:
        objects: Objects written (each with at least one key, table or an alarm).
        keys: Key lines.
        alarms: Alarm lines.
        sql: Schema and row lines (SQLite-backed objects).
    """

    objects: int
    keys: int
    alarms: int
    sql: int = 0


@dataclass
class _ObjectImport:
    namespace: NamespaceSpec
    object_hex: str
    puts: dict[str, bytes] = field(default_factory=dict)
    alarm: int | None = None
    sql: list[dict[str, Any]] = field(default_factory=list)  # schema and row lines, in file order


def _dumps(document: Any) -> str:
    """One JSON line: compact, non-ASCII kept, lone surrogates escaped (valid UTF-8)."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    if _SURROGATE.search(text):
        text = _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
    return text


def _namespaces(runtime: Runtime) -> dict[str, NamespaceSpec]:
    found: dict[str, NamespaceSpec] = {}
    for worker in runtime.workers.values():
        for binding, namespace in worker.spec.namespaces.items():
            found.setdefault(binding, namespace)
    return found


def iter_lines(runtime: Runtime) -> Iterator[dict[str, Any]]:
    """Yield the export lines of every object of every configured binding (loop thread only)."""
    namespaces = _namespaces(runtime)
    for binding in sorted(namespaces, key=sort_key):
        namespace = namespaces[binding]
        for object_hex in runtime.backend_for(namespace).list_objects(binding):
            storage = runtime.storage_for(namespace, object_hex)
            for key, value in storage.list(ListOptions()):
                yield {"binding": binding, "id": object_hex, "key": key, "value": json.loads(value.decode("utf-8"))}
            database = storage.store.database(create=False) if isinstance(storage.store, SqlObjectStore) else None
            if database is not None:
                for line in dump_lines(database):
                    yield {"binding": binding, "id": object_hex, **line}
            alarm = storage.get_alarm()
            if alarm is not None:
                yield {"binding": binding, "id": object_hex, "alarm": alarm}


def export_storage(runtime: Runtime, destination: str | os.PathLike[str] | IO[str]) -> StorageTransfer:
    """Write every object's keys and alarm as JSON lines (runs on the emulator thread).

    Args:
        runtime: The emulator core.
        destination: A file path (replaced atomically) or a text stream.

    Returns:
        How many objects, keys and alarms were written.
    """
    if not isinstance(destination, (str, os.PathLike)):
        return _write(runtime, destination)
    path = Path(destination)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            summary = _write(runtime, stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return summary


def _write(runtime: Runtime, stream: IO[str]) -> StorageTransfer:
    objects: set[tuple[str, str]] = set()
    keys = alarms = sql = 0
    for line in iter_lines(runtime):
        stream.write(_dumps(line) + "\n")
        objects.add((line["binding"], line["id"]))
        if "alarm" in line:
            alarms += 1
        elif "key" in line:
            keys += 1
        else:
            sql += 1
    return StorageTransfer(objects=len(objects), keys=keys, alarms=alarms, sql=sql)


def _is_sql_line(line: dict[str, Any]) -> bool:
    schema = isinstance(line.get("schema"), str)
    return schema or (isinstance(line.get("table"), str) and isinstance(line.get("row"), list))


def _parse(runtime: Runtime, lines: Iterable[str], source: str) -> list[_ObjectImport]:
    namespaces = _namespaces(runtime)
    objects: dict[tuple[str, str], _ObjectImport] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = f"{source}:{number}"
        try:
            line = json.loads(raw)
        except ValueError as error:
            raise ValueError(f"{where}: not a JSON object: {error}") from None
        if (
            not isinstance(line, dict)
            or not isinstance(line.get("binding"), str)
            or not isinstance(line.get("id"), str)
        ):
            raise ValueError(f'{where}: expected {{"binding", "id", "key", "value"}} or {{"binding", "id", "alarm"}}')
        binding, object_hex = line["binding"], line["id"]
        namespace = namespaces.get(binding)
        if namespace is None:
            known = ", ".join(sorted(namespaces)) or "none"
            raise ConfigError(
                f"{where}: no Durable Object binding {binding!r} in this emulator (bindings: {known})",
                option="durable_objects",
            )
        try:
            validate_object_hex(object_hex)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        entry = objects.setdefault((binding, object_hex), _ObjectImport(namespace, object_hex))
        if "alarm" in line and "key" not in line:
            alarm = line["alarm"]
            if isinstance(alarm, bool) or not isinstance(alarm, int):
                raise ValueError(f"{where}: alarm must be an integer number of ms since the epoch, got {alarm!r}")
            entry.alarm = alarm
        elif isinstance(line.get("key"), str) and "value" in line:
            try:
                value = codec.encode(codec.decode(_dumps(line["value"])))
            except (TypeError, ValueError) as error:
                raise ValueError(f"{where}: value is not a codec document: {error}") from None
            entry.puts[line["key"]] = value.encode("utf-8")
        elif _is_sql_line(line):
            if not namespace.sqlite:
                raise ValueError(f"{where}: SQL lines need a SQLite-backed class, and {binding!r} is not one")
            entry.sql.append(line)
        else:
            raise ValueError(f'{where}: expected {{"binding", "id", "key", "value"}} or {{"binding", "id", "alarm"}}')
    return list(objects.values())


def import_storage(
    runtime: Runtime, source: str | os.PathLike[str] | IO[str], *, replace: bool = False
) -> StorageTransfer:
    """Write the objects of an export into storage, one atomic commit per object.

    Args:
        runtime: The emulator core.
        source: A file path or a text stream of export lines.
        replace: Delete each imported object's existing keys (and alarm) in the same commit;
            otherwise the imported keys are written over the existing ones.

    Returns:
        How many objects, keys and alarms were imported.

    Raises:
        ValueError: A malformed line (the message names the line); nothing was written.
        ConfigError: A line names a binding this emulator does not have; nothing was written.
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, encoding="utf-8") as stream:
            objects = _parse(runtime, stream, str(source))
    else:
        objects = _parse(runtime, source, getattr(source, "name", "<stream>"))
    keys = alarms = sql = 0
    for entry in objects:
        storage = runtime.storage_for(entry.namespace, entry.object_hex)
        storage.flush()
        if isinstance(storage.store, SqlObjectStore):
            _load_sql(storage, entry, replace=replace)
        elif replace:
            storage.delete_all()
        storage.put(entry.puts.items())
        if entry.alarm is not None:
            storage.set_alarm(entry.alarm)
        elif replace:
            storage.set_alarm(None)
        try:
            storage.flush()
        except Exception:
            storage.discard_staged()
            raise
        keys += len(entry.puts)
        alarms += entry.alarm is not None
        sql += len(entry.sql)
    return StorageTransfer(objects=len(objects), keys=keys, alarms=alarms, sql=sql)


def _load_sql(storage: ObjectStorage, entry: _ObjectImport, *, replace: bool) -> None:
    """Writes an object's SQL lines into its implicit transaction (the flush commits them)."""
    sql = ObjectSql.of(storage)
    if replace:
        sql.delete_all()  # now, so that the tables created below stay
    sql.store.begin()
    try:
        for line in entry.sql:
            if "schema" in line:
                load_schema(sql.database, line["schema"])
            else:
                load_row(sql.database, line["table"], line["row"])
    except BaseException:
        sql.abort()
        storage.discard_staged()
        raise
