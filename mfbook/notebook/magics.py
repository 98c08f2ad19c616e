"""The IPython magics: ``%%worker`` and ``%do_*`` (registered by ``%load_ext mfbook``).

Magics are thin: they parse their line, call the public engine API, render the result with
:mod:`mfbook.render`, and turn engine exceptions into one-line ``UsageError`` messages
(:mod:`.translate`). Every magic has ``@no_var_expand`` so ``{x}`` and ``${x}`` in JavaScript
reach the worker untouched; line magics evaluate their Python expressions themselves.
"""

from __future__ import annotations

import re
import sys
import threading
from collections import deque
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Bool, Enum, Float, TraitError, Unicode, Union, observe, validate

from ..miniflare import Miniflare
from ..render import STYLES
from .cells import WorkerCell, WorkerRegistry, parse_do, parse_var
from .helpers import NO_WORKER, MagicHelpers, parse_arguments
from .state import set_current
from .translate import ENGINE_ERRORS

__all__ = ["MfbookMagics"]


@magics_class
class MfbookMagics(Magics):
    """Workers and Durable Objects in notebooks: ``%%worker`` defines, ``%do_*`` inspects.

    Configure with ``%config MfbookMagics.<option> = value`` (see ``%config MfbookMagics``).
    """

    persist = Union(
        [Bool(), Unicode()],
        default_value=None,
        allow_none=True,
        help="Default Durable Object persistence for %%worker cells without --persist: None (in memory), "
        "True (./.mf/do), a directory path or a redis:// URL. Applies from the next %%worker run.",
    ).tag(config=True)
    cpu_limit_ms = Float(5_000.0, help="CPU time limit per request, in milliseconds (applies at once).").tag(
        config=True
    )
    output = Enum(
        STYLES,
        default_value="html",
        help="How tables and responses render: 'html' (HTML tables in notebooks), 'rich' (rich's HTML "
        "export) or 'plain' (ASCII text only).",
    ).tag(config=True)
    variable = Unicode("mf", help="Name of the emulator in the user namespace.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        self.registry = WorkerRegistry()
        self.mf: Miniflare | None = None
        self._persist_in_use: Any = None
        self._console: deque[tuple[str, str]] = deque()
        self._console_lock = threading.Lock()
        self.helpers = MagicHelpers(self)
        super().__init__(shell=shell, **kwargs)  # applies %config values (the observers need the state above)

    # ------------------------------------------------------------------ emulator lifecycle
    def _on_console(self, level: str, text: str) -> None:
        with self._console_lock:
            self._console.append((level, text))

    def flush_console(self, *_: Any) -> None:
        """Prints the workers' console lines in the calling (cell) thread."""
        with self._console_lock:
            lines = list(self._console)
            self._console.clear()
        for level, text in lines:
            print(text, file=sys.stderr if level in ("error", "warn") else sys.stdout)

    def _options(self, persist: Any) -> dict[str, Any]:
        return self.registry.options(persist=persist, cpu_limit_ms=self.cpu_limit_ms, console=self._on_console)

    def _publish(self) -> None:
        set_current(self.mf)
        if self.shell is not None and self.mf is not None:
            self.shell.user_ns[self.variable] = self.mf

    def _apply(self) -> str:
        """Builds or reloads the emulator from every worker cell; returns what happened."""
        missing = self.registry.missing_workers()
        if missing:
            script, needers = next(iter(missing.items()))
            return (
                f"saved; waiting for worker {script!r} (needed by {', '.join(needers)}): "
                f"define it in a `%%worker {script}` cell"
            )
        try:
            persist = self.registry.persist(self.persist)
        except ValueError as error:
            raise UsageError(f"%%worker: {error}") from None
        if self.mf is not None and not self.mf.disposed and persist == self._persist_in_use:
            self.mf.set_options(**self._options(persist))
            return "reloaded (storage kept)"
        note = ""
        if self.mf is not None:
            self.mf.dispose()
            note = (
                f" - persistence changed from {self._persist_in_use!r} to {persist!r}: started a new emulator "
                "(the old one was disposed; its in-memory data is gone)"
            )
        self.mf = None
        self.mf = Miniflare(**self._options(persist))
        self._persist_in_use = persist
        return f"loaded into `{self.variable}`" + note

    def dispose(self) -> None:
        """Disposes the emulator and forgets it (the worker cells stay registered)."""
        if self.mf is not None:
            self.mf.dispose()
            if self.shell is not None and self.shell.user_ns.get(self.variable) is self.mf:
                del self.shell.user_ns[self.variable]
        self.mf = None
        set_current(None)

    @validate("cpu_limit_ms")
    def _valid_cpu_limit(self, proposal: dict[str, Any]) -> float:
        if proposal["value"] <= 0:
            raise TraitError(
                f"MfbookMagics.cpu_limit_ms must be a positive number of milliseconds, got {proposal['value']!r}"
            )
        return float(proposal["value"])

    @validate("variable")
    def _valid_variable(self, proposal: dict[str, Any]) -> str:
        if not proposal["value"].isidentifier():
            raise TraitError(f"MfbookMagics.variable must be a Python identifier, got {proposal['value']!r}")
        return str(proposal["value"])

    @observe("cpu_limit_ms")
    def _cpu_limit_changed(self, change: dict[str, Any]) -> None:
        if self.mf is not None and not self.mf.disposed and self.registry and not self.registry.missing_workers():
            with self.helpers.engine("config", None):
                self.mf.set_options(**self._options(self._persist_in_use))

    @observe("variable")
    def _variable_changed(self, change: dict[str, Any]) -> None:
        if self.shell is not None and self.mf is not None:
            if self.shell.user_ns.get(change["old"]) is self.mf:
                del self.shell.user_ns[change["old"]]
            self._publish()

    # ------------------------------------------------------------------ %%worker
    @no_var_expand
    @magic_arguments()
    @argument(
        "name", nargs="?", default="worker", help="Worker name (default: worker); other cells refer to it with @name."
    )
    @argument(
        "--do",
        action="append",
        default=[],
        metavar="BINDING=Class[@worker]",
        help="Durable Object binding; @worker when another cell's worker exports the class. Repeatable.",
    )
    @argument(
        "--persist",
        metavar="PATH|URL",
        help="Persist Durable Object storage: a directory, true (./.mf/do) or redis://...",
    )
    @argument(
        "--service-worker",
        action="store_true",
        help="The cell is a service-worker script (addEventListener), not a module.",
    )
    @argument("--var", action="append", default=[], metavar="KEY=VALUE", help="A text binding (env.KEY). Repeatable.")
    @argument("--compat-date", metavar="YYYY-MM-DD", help="Compatibility date.")
    @argument("--entry", action="store_true", help="Make this the entry worker (the one %%do_fetch URL talks to).")
    @argument(
        "--sqlite",
        action="store_true",
        help="The Durable Object classes this cell exports are SQLite-backed (ctx.storage.sql), "
        "as new_sqlite_classes declares them.",
    )
    @cell_magic
    def worker(self, line: str, cell: str) -> None:
        """Defines (or redefines) a worker from the cell; the emulator is in ``mf``.

        The cell body is the worker's ES module (or, with ``--service-worker``, a script).
        Re-running a cell hot-reloads the code and keeps storage. Several cells compose: a
        worker can bind a class exported by another cell's worker with ``--do B=Class@name``.

        Examples::

            %%worker --do COUNTER=Counter
            import { DurableObject } from "cloudflare:workers";
            export class Counter extends DurableObject { ... }
            export default { fetch(request, env) { ... } }

            %%worker api --do COUNTER=Counter@store --var GREETING=hi
            %%worker --do NOTES=Notes --sqlite
        """
        args = parse_arguments(self.worker, line)
        try:
            durable_objects = {binding: (class_name, script) for binding, class_name, script in map(parse_do, args.do)}
            bindings = dict(map(parse_var, args.var))
        except ValueError as error:
            raise UsageError(f"%%worker: {error}") from None
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", args.name):
            raise UsageError(f"%%worker: bad worker name {args.name!r}: use letters, digits, '-', '_' or '.'")
        persist: str | bool | None = args.persist
        if isinstance(persist, str) and persist.lower() == "true":
            persist = True
        new = WorkerCell(
            args.name,
            cell,
            modules=not args.service_worker,
            durable_objects=durable_objects,
            bindings=bindings,
            compatibility_date=args.compat_date,
            persist=persist,
            entry=args.entry,
            sqlite=args.sqlite,
        )
        previous = self.registry.define(new)
        try:
            with self.helpers.engine("%worker", new):
                outcome = self._apply()
        except UsageError:
            self.registry.restore(new.name, previous)
            self._recover()
            raise
        except BaseException:
            self.registry.restore(new.name, previous)
            raise
        self._publish()
        classes = ", ".join(f"{b} -> {c}" + (f"@{s}" if s else "") for b, (c, s) in durable_objects.items())
        workers = ""
        if len(self.registry.cells) > 1 and self.mf is not None:
            workers = " · workers: " + ", ".join(self.mf.workers) + " (the first is the entry)"
        print(f"mfbook: worker {new.name!r}" + (f" ({classes})" if classes else "") + f" {outcome}{workers}")

    def _recover(self) -> None:
        """After a failed reload, puts the previous cells back into the running emulator."""
        if self.mf is None or self.mf.disposed or not self.registry or self.registry.missing_workers():
            return
        try:
            self.mf.set_options(**self._options(self._persist_in_use))
        except ENGINE_ERRORS:
            pass
        finally:
            self.flush_console()

    @no_var_expand
    @magic_arguments()
    @argument("--keep-workers", action="store_true", help="Start a fresh emulator from the same worker cells at once.")
    @line_magic
    def mf_reset(self, line: str) -> None:
        """Disposes the emulator and starts fresh (in-memory storage is gone).

        Without options the worker cells are forgotten too; ``--keep-workers`` rebuilds
        the emulator from them with empty (in-memory) storage.

        Examples::

            %mf_reset
            %mf_reset --keep-workers
        """
        args = parse_arguments(self.mf_reset, line)
        self.dispose()
        if not args.keep_workers:
            self.registry.clear()
            print("mfbook: emulator disposed and worker cells forgotten")
            return
        if not self.registry:
            raise UsageError(f"%mf_reset: {NO_WORKER}")
        with self.helpers.engine("mf_reset", self.registry.entry()):
            outcome = self._apply()
        self._publish()
        print(f"mfbook: workers {', '.join(self.registry.cells)} {outcome}")
