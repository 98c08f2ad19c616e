"""Worker cells: what each ``%%worker`` cell defined, and the emulator options they add up to.

Every ``%%worker NAME`` cell is kept in a :class:`WorkerRegistry` keyed by worker name; the
emulator is always built from *all* cells defined so far (the first one defined is the entry
worker unless a cell says ``--entry``). The cell body is the module source, so line N of a JS
stack frame in ``worker.js`` is line N of the cell body; :func:`map_stack` adds the cell line
and its text to each frame.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["WorkerCell", "WorkerRegistry", "map_stack", "parse_do", "parse_var"]

_FRAME = re.compile(r"(?P<file>[\w.\-/]+\.m?js):(?P<line>\d+)(?::(?P<column>\d+))?")
_BINDING = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def parse_do(spec: str) -> tuple[str, str, str | None]:
    """Parses ``BINDING=Class[@script]``.

    Raises:
        ValueError: Not of that form (the message says what is expected).
    """
    binding, equals, target = spec.partition("=")
    class_name, _, script = target.partition("@")
    if (
        not equals
        or not _BINDING.fullmatch(binding)
        or not _BINDING.fullmatch(class_name)
        or (script == "" and "@" in target)
    ):
        raise ValueError(f"--do {spec!r}: expected BINDING=Class or BINDING=Class@worker, e.g. --do COUNTER=Counter")
    return binding, class_name, script or None


def parse_var(spec: str) -> tuple[str, str]:
    """Parses ``KEY=VALUE`` (the value is a string, as Wrangler ``vars`` are).

    Raises:
        ValueError: No ``=`` or a key that is not a JS identifier.
    """
    key, equals, value = spec.partition("=")
    if not equals or not _BINDING.fullmatch(key):
        raise ValueError(f"--var {spec!r}: expected KEY=VALUE, e.g. --var GREETING=hello")
    return key, value


@dataclass(frozen=True)
class WorkerCell:
    """One ``%%worker`` cell.

    Attributes:
        name: Worker name (``worker`` unless the cell names one).
        source: The cell body: the worker's module (or service-worker script) source.
        modules: ES module syntax (False with ``--service-worker``).
        durable_objects: Binding -> (class name, worker exporting it or None for this one).
        bindings: Plain-text variables (``--var``).
        compatibility_date: ``--compat-date``.
        persist: ``--persist`` value, or None when the cell does not say.
        entry: ``--entry``: this worker receives ``%do_fetch URL``.
        sqlite: ``--sqlite``: the classes this cell exports are SQLite-backed.
    """

    name: str
    source: str
    modules: bool = True
    durable_objects: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    bindings: dict[str, str] = field(default_factory=dict)
    compatibility_date: str | None = None
    persist: str | bool | None = None
    entry: bool = False
    sqlite: bool = False

    def worker_options(self) -> dict[str, Any]:
        """This worker's entry for ``Miniflare(workers=[...])``."""
        options: dict[str, Any] = {"name": self.name, "script": self.source, "modules": self.modules}
        if self.durable_objects:
            options["durable_objects"] = {
                binding: {"class_name": class_name, "script_name": script or self.name}
                for binding, (class_name, script) in self.durable_objects.items()
            }
            if self.sqlite:
                for binding, (_, script) in self.durable_objects.items():
                    if script is None or script == self.name:
                        options["durable_objects"][binding]["sqlite"] = True
        if self.bindings:
            options["bindings"] = dict(self.bindings)
        if self.compatibility_date:
            options["compatibility_date"] = self.compatibility_date
        return options

    def class_worker(self, binding: str) -> str:
        """The worker that exports the class bound as ``binding``."""
        return self.durable_objects[binding][1] or self.name

    def line(self, number: int) -> str | None:
        """Line ``number`` (1-based) of the cell body, or None."""
        lines = self.source.splitlines()
        return lines[number - 1] if 1 <= number <= len(lines) else None


class WorkerRegistry:
    """The worker cells defined so far, in definition order."""

    def __init__(self) -> None:
        self.cells: dict[str, WorkerCell] = {}

    def define(self, cell: WorkerCell) -> WorkerCell | None:
        """Adds or replaces ``cell``; returns the cell it replaced."""
        previous = self.cells.get(cell.name)
        if cell.entry:
            self.cells = {
                name: (existing if name == cell.name else _not_entry(existing)) for name, existing in self.cells.items()
            }
        self.cells[cell.name] = cell
        return previous

    def restore(self, name: str, previous: WorkerCell | None) -> None:
        """Undoes :meth:`define` of ``name``."""
        if previous is None:
            self.cells.pop(name, None)
        else:
            self.cells[name] = previous

    def clear(self) -> None:
        self.cells.clear()

    def __bool__(self) -> bool:
        return bool(self.cells)

    def ordered(self) -> list[WorkerCell]:
        """All cells, the entry worker first."""
        cells = list(self.cells.values())
        entry = next((cell for cell in cells if cell.entry), cells[0] if cells else None)
        return [entry] + [cell for cell in cells if cell is not entry] if entry else []

    def entry(self) -> WorkerCell | None:
        ordered = self.ordered()
        return ordered[0] if ordered else None

    def missing_workers(self) -> dict[str, list[str]]:
        """Workers named by ``--do B=Class@worker`` that no cell defines yet -> who needs them."""
        missing: dict[str, list[str]] = {}
        for cell in self.cells.values():
            for binding, (_, script) in cell.durable_objects.items():
                if script and script not in self.cells:
                    missing.setdefault(script, []).append(f"{cell.name} ({binding})")
        return missing

    def persist(self, default: str | bool | None) -> str | bool | None:
        """The persistence all cells agree on (a cell's ``--persist`` wins over ``default``).

        Raises:
            ValueError: Two cells ask for different persistence.
        """
        chosen = {cell.name: cell.persist for cell in self.cells.values() if cell.persist is not None}
        values = set(chosen.values())
        if len(values) > 1:
            detail = ", ".join(f"{name}: {value!r}" for name, value in chosen.items())
            raise ValueError(
                f"worker cells ask for different --persist values ({detail}): use the same one in every cell"
            )
        return values.pop() if values else default

    def options(
        self, *, persist: str | bool | None, cpu_limit_ms: float, console: Callable[[str, str], None]
    ) -> dict[str, Any]:
        """Keyword options for ``Miniflare(...)`` / ``mf.set_options(...)``."""
        return {
            "workers": [cell.worker_options() for cell in self.ordered()],
            "durable_objects_persist": persist,
            "cpu_limit_ms": cpu_limit_ms,
            "console": console,
        }

    def bindings(self) -> list[str]:
        """Every Durable Object binding, in cell order."""
        seen: dict[str, None] = {}
        for cell in self.ordered():
            seen.update(dict.fromkeys(cell.durable_objects))
        return list(seen)

    def cell_for_binding(self, binding: str) -> WorkerCell | None:
        """The cell that binds ``binding`` (the entry worker first)."""
        return next((cell for cell in self.ordered() if binding in cell.durable_objects), None)


def _not_entry(cell: WorkerCell) -> WorkerCell:
    if not cell.entry:
        return cell
    return WorkerCell(
        cell.name,
        cell.source,
        cell.modules,
        cell.durable_objects,
        cell.bindings,
        cell.compatibility_date,
        cell.persist,
        entry=False,
        sqlite=cell.sqlite,
    )


def map_stack(stack: str, cell: WorkerCell | None) -> str:
    """Adds ``cell 'NAME' line N: <source>`` to every stack frame of ``cell``'s file.

    The cell line counts the ``%%worker`` line as line 1, as Jupyter numbers cell lines.

    >>> cell = WorkerCell("worker", "export default {\\n  fetch() { boom(); }\\n}")
    >>> print(map_stack("ReferenceError: boom is not defined\\n    at fetch (worker.js:2:13)", cell))
    ReferenceError: boom is not defined
        at fetch (worker.js:2:13)  <- %%worker cell line 3: fetch() { boom(); }
    """
    if cell is None:
        return stack
    lines = []
    for line in stack.splitlines():
        match = _FRAME.search(line)
        if match and line.lstrip().startswith("at ") and match["file"] in ("worker.js", f"{cell.name}.js"):
            source = cell.line(int(match["line"]))
            if source is not None:
                label = "%%worker" if cell.name == "worker" else f"%%worker {cell.name}"
                line = f"{line}  <- {label} cell line {int(match['line']) + 1}: {source.strip()}"
        lines.append(line)
    return "\n".join(lines)


def point_at(cell: WorkerCell, line: int, column: int | None) -> str:
    """The cell line ``line`` (body numbering) with a caret under ``column``."""
    source = cell.line(line)
    if source is None:
        return ""
    caret = "" if column is None else "\n    " + " " * (max(column, 1) - 1) + "^"
    return f"    {source}{caret}"


def frame_location(text: str) -> tuple[int, int | None] | None:
    """``(line, column)`` of the first ``worker.js:L:C`` in ``text``."""
    match = _FRAME.search(text)
    if match is None:
        return None
    return int(match["line"]), int(match["column"]) if match["column"] else None
