"""The IPython magics: ``%%worker`` and ``%do_*`` (registered by ``%load_ext mfbook``).

Magics are thin: they parse their line, call the public engine API, render the result with
:mod:`mfbook.render`, and turn engine exceptions into one-line ``UsageError`` messages
(:mod:`.translate`). Every magic has ``@no_var_expand`` so ``{x}`` and ``${x}`` in JavaScript
reach the worker untouched; line magics evaluate their Python expressions themselves.
"""

from __future__ import annotations

import importlib
import logging
import re
import shlex
import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Bool, Enum, Float, TraitError, Unicode, Union, observe, validate

from ..ids import DurableObjectId
from ..miniflare import Miniflare
from ..objects import DurableObjectNamespace
from ..render import STYLES, FetchResponse, IdList, StorageDict
from .cells import WorkerCell, WorkerRegistry, map_stack, parse_do, parse_var
from .sql_params import bind_parameters
from .state import set_current
from .translate import ENGINE_ERRORS, usage_error
from .views import alarms_view, object_names, storage_view, timeline_view

__all__ = ["MfbookMagics"]

_TOKEN = re.compile(r"\s*(\"(?:[^\"\\]|\\.)*\"|'[^']*'|\S+)")
_NO_WORKER = "no worker yet: define one in a %%worker cell first, e.g. %%worker --do COUNTER=Counter"


def _leading(line: str, count: int) -> tuple[list[str], str]:
    """The first ``count`` shell-like tokens of ``line`` and the raw rest (for Python expressions)."""
    tokens: list[str] = []
    position = 0
    while len(tokens) < count:
        match = _TOKEN.match(line, position)
        if match is None:
            break
        token = match.group(1)
        tokens.append(shlex.split(token)[0] if token[:1] in "\"'" else token)
        position = match.end()
    return tokens, line[position:].strip()


def _target_and_rest(line: str, extra: int) -> tuple[str, str | None, str | None, list[str], str]:
    """Splits ``B (NAME | --id HEX) X...`` -> binding, name, hex id, ``extra`` tokens, raw rest."""
    head, _ = _leading(line, 2)
    if len(head) < 2:
        return (head[0] if head else ""), None, None, [], ""
    if head[1] == "--id":
        tokens, rest = _leading(line, 3 + extra)
        return tokens[0], None, (tokens[2] if len(tokens) > 2 else None), tokens[3:], rest
    tokens, rest = _leading(line, 2 + extra)
    if head[1].startswith("--id="):
        return tokens[0], None, tokens[1][5:], tokens[2:], rest
    return tokens[0], tokens[1], None, tokens[2:], rest


class _UncaughtReports(logging.Handler):
    """Collects the emulator's log records while a magic runs (shown by the magic instead)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


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
        super().__init__(shell=shell, **kwargs)  # applies %config values (the observers need the state above)

    @staticmethod
    def _parse(magic: Any, line: str) -> Any:
        """Parses ``line`` (shell-like quoting, options anywhere) with the magic's declared arguments."""
        try:
            argv = shlex.split(line)
        except ValueError as error:
            raise UsageError(f"%{magic.__name__}: {error} in {line!r} (check the quotes)") from None
        return magic.parser.parse_intermixed_args(argv)

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
            with self._engine("config", None):
                self.mf.set_options(**self._options(self._persist_in_use))

    @observe("variable")
    def _variable_changed(self, change: dict[str, Any]) -> None:
        if self.shell is not None and self.mf is not None:
            if self.shell.user_ns.get(change["old"]) is self.mf:
                del self.shell.user_ns[change["old"]]
            self._publish()

    # ------------------------------------------------------------------ helpers
    @contextmanager
    def _engine(self, magic: str, cell: WorkerCell | None) -> Iterator[None]:
        """Runs engine calls: engine errors become UsageError, console lines print afterwards."""
        try:
            yield
        except ENGINE_ERRORS as error:
            raise usage_error(error, magic=magic, cell=cell) from None
        finally:
            self.flush_console()

    def _require(self) -> Miniflare:
        if self.mf is None:
            if self.registry.missing_workers():
                missing = next(iter(self.registry.missing_workers()))
                raise UsageError(
                    f"the workers are not loaded yet: define worker {missing!r} in a `%%worker {missing}` cell"
                )
            raise UsageError(_NO_WORKER)
        if self.mf.disposed:
            raise UsageError(
                "the emulator was disposed - run a %%worker cell (or %mf_reset --keep-workers) to start a new one"
            )
        return self.mf

    def _namespace(self, binding: str, magic: str) -> tuple[DurableObjectNamespace, WorkerCell | None]:
        """The namespace bound as ``binding`` and the cell that exports its class."""
        mf = self._require()
        cell = self.registry.cell_for_binding(binding)
        if cell is None:
            known = ", ".join(self.registry.bindings()) or "none"
            raise UsageError(
                f"%{magic}: unknown Durable Object binding {binding!r} (bindings: {known}) - "
                f"add --do {binding or 'BINDING'}=ClassName to a %%worker cell"
            )
        with self._engine(magic, cell):
            namespace = mf.get_durable_object_namespace(binding, worker_name=cell.name)
        return namespace, self.registry.cells.get(cell.class_worker(binding))

    def _object_id(
        self, namespace: DurableObjectNamespace, name: str | None, hex_id: str | None, magic: str
    ) -> DurableObjectId:
        if hex_id is not None:
            try:
                return namespace.id_from_string(hex_id)
            except (TypeError, ValueError) as error:
                raise UsageError(
                    f"%{magic}: {error} Got {hex_id!r}; list valid ids with %do_ids {namespace.binding}"
                ) from None
        if name is None:
            raise UsageError(
                f"%{magic}: missing object: give NAME (the idFromName name) or --id HEX after {namespace.binding}"
            )
        return namespace.id_from_name(name)

    def _target(
        self, binding: str, name: str | None, hex_id: str | None, magic: str
    ) -> tuple[DurableObjectNamespace, DurableObjectId, WorkerCell | None]:
        namespace, cell = self._namespace(binding, magic)
        return namespace, self._object_id(namespace, name, hex_id, magic), cell

    def _eval(self, expression: str, magic: str, what: str) -> Any:
        """Evaluates a Python expression in the user namespace (any error is the user's)."""
        user_ns = self.shell.user_ns if self.shell is not None else {}
        try:
            return eval(expression, user_ns)  # noqa: S307 - the user's own notebook code
        except Exception as error:  # noqa: BLE001 - user code: every failure is a usage error
            raise UsageError(
                f"%{magic}: cannot evaluate {what} {expression!r}: {type(error).__name__}: {error}"
            ) from None

    @staticmethod
    def _label(object_id: DurableObjectId) -> str:
        return f"{object_id.binding} {object_id.name if object_id.name is not None else object_id.hex[:16] + '…'}"

    def _static(self) -> bool:
        """True without a widget frontend (terminal IPython, tests): use the static tables."""
        return getattr(self.shell, "kernel", None) is None

    @staticmethod
    def _widget(name: str) -> Any:
        try:  # the widgets package imports its widgets lazily: both steps may raise ImportError
            return getattr(importlib.import_module("mfbook.widgets"), name, None)
        except ImportError:
            return None

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
        args = self._parse(self.worker, line)
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
            with self._engine("%worker", new):
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

    # ------------------------------------------------------------------ storage
    @no_var_expand
    @magic_arguments()
    @argument("binding", help="Durable Object binding, e.g. COUNTER.")
    @argument(
        "args",
        nargs="+",
        metavar="NAME KEY",
        help="The object's idFromName name (omit with --id), then one or more keys.",
    )
    @argument("--id", metavar="HEX", help="Address the object by its 64-hex id instead of a name.")
    @line_magic
    def do_get(self, line: str) -> Any:
        """Reads keys of an object's storage: one key -> its value, several -> a dict.

        Examples::

            %do_get COUNTER alice count
            x = %do_get COUNTER alice count other
            %do_get COUNTER --id 8f3e...c2 count
        """
        args = self._parse(self.do_get, line)
        name, keys = (None, args.args) if args.id else (args.args[0], args.args[1:])
        if not keys:
            raise UsageError("%do_get: which key? usage: %do_get BINDING NAME KEY [KEY ...]")
        namespace, object_id, cell = self._target(args.binding, name, args.id, "do_get")
        with self._engine("do_get", cell):
            storage = namespace.storage(object_id)
            if len(keys) == 1:
                found = storage.get(keys)  # tells a missing key from a stored null
                if keys[0] not in found:
                    print(f"mfbook: no key {keys[0]!r} in {self._label(object_id)}")
                return found.get(keys[0])
            return StorageDict(storage.get(keys), title=self._label(object_id), style=self.output)

    @no_var_expand
    @magic_arguments()
    @argument("binding", help="Durable Object binding, e.g. COUNTER.")
    @argument("name", help="The object's idFromName name (or --id HEX).")
    @argument("key", help="The key to write.")
    @argument("expr", help="A Python expression evaluated in the notebook namespace (the rest of the line).")
    @line_magic
    def do_put(self, line: str) -> None:
        """Writes one key of an object's storage; the value is a Python expression.

        Examples::

            %do_put COUNTER alice count 10
            %do_put COUNTER alice data {"a": 1, "when": datetime.now()}
            %do_put COUNTER --id 8f3e...c2 data my_variable
        """
        binding, name, hex_id, tokens, expression = _target_and_rest(line, 1)
        if not tokens or not expression:
            raise UsageError("%do_put: usage: %do_put BINDING NAME KEY EXPR (or BINDING --id HEX KEY EXPR)")
        value = self._eval(expression, "do_put", "EXPR")
        namespace, object_id, cell = self._target(binding, name, hex_id, "do_put")
        with self._engine("do_put", cell):
            namespace.storage(object_id).put(tokens[0], value)

    @no_var_expand
    @magic_arguments()
    @argument("binding", help="Durable Object binding, e.g. COUNTER.")
    @argument(
        "args", nargs="+", metavar="NAME KEY", help="The object's idFromName name (omit with --id), then the keys."
    )
    @argument("--id", metavar="HEX", help="Address the object by its 64-hex id instead of a name.")
    @line_magic
    def do_delete(self, line: str) -> int:
        """Deletes keys from an object's storage; returns how many existed.

        Examples::

            %do_delete COUNTER alice count
            %do_delete COUNTER alice a b c
        """
        args = self._parse(self.do_delete, line)
        name, keys = (None, args.args) if args.id else (args.args[0], args.args[1:])
        if not keys:
            raise UsageError("%do_delete: which keys? usage: %do_delete BINDING NAME KEY [KEY ...]")
        namespace, object_id, cell = self._target(args.binding, name, args.id, "do_delete")
        with self._engine("do_delete", cell):
            return int(namespace.storage(object_id).delete(list(keys)))

    @no_var_expand
    @magic_arguments()
    @argument("binding", help="Durable Object binding, e.g. COUNTER.")
    @argument("name", nargs="?", help="The object's idFromName name (or --id HEX).")
    @argument("--id", metavar="HEX", help="Address the object by its 64-hex id instead of a name.")
    @argument("--prefix", help="Only keys starting with this.")
    @argument("--start", help="First key (inclusive).")
    @argument("--start-after", help="List keys after this one (exclusive).")
    @argument("--end", help="Stop before this key (exclusive).")
    @argument("--limit", type=int, help="At most this many keys.")
    @argument("--reverse", action="store_true", help="Descending key order.")
    @line_magic
    def do_list(self, line: str) -> StorageDict:
        """Lists an object's keys and values (a dict, displayed as a table).

        Examples::

            %do_list COUNTER alice
            %do_list COUNTER alice --prefix user: --limit 10 --reverse
        """
        args = self._parse(self.do_list, line)
        namespace, object_id, cell = self._target(args.binding, args.name, args.id, "do_list")
        with self._engine("do_list", cell):
            entries = namespace.storage(object_id).list(
                prefix=args.prefix,
                start=args.start,
                start_after=args.start_after,
                end=args.end,
                limit=args.limit,
                reverse=args.reverse,
            )
        return StorageDict(entries, title=self._label(object_id), style=self.output)

    @no_var_expand
    @magic_arguments()
    @argument("binding", help="Durable Object binding, e.g. COUNTER.")
    @line_magic
    def do_ids(self, line: str) -> IdList:
        """Hex ids of a namespace's objects that exist or have storage (names shown when known).

        Example::

            ids = %do_ids COUNTER
        """
        args = self._parse(self.do_ids, line)
        namespace, cell = self._namespace(args.binding, "do_ids")
        with self._engine("do_ids", cell):
            ids = namespace.object_ids()
            names = object_names(self._require())
        return IdList(
            ids,
            names={hex_id: names.get(f"{args.binding}:{hex_id}", "") for hex_id in ids},
            title=f"{args.binding}: {len(ids)} object" + ("" if len(ids) == 1 else "s"),
            style=self.output,
        )

    # ------------------------------------------------------------------ requests
    @no_var_expand
    @magic_arguments()
    @argument(
        "args",
        nargs="+",
        metavar="[BINDING NAME] URL",
        help="URL for the entry worker, or BINDING NAME URL for one object.",
    )
    @argument("-X", "--request", dest="method", metavar="METHOD", help="HTTP method (default GET, or POST with -d).")
    @argument(
        "-H",
        "--header",
        dest="headers",
        action="append",
        default=[],
        metavar="'Name: value'",
        help="A request header. Repeatable.",
    )
    @argument("-d", "--data", metavar="BODY", help="Request body (text).")
    @argument("--id", metavar="HEX", help="With BINDING URL: address the object by its 64-hex id.")
    @line_magic
    def do_fetch(self, line: str) -> FetchResponse:
        """Sends a request to the entry worker or to one object; returns the Response.

        Relative URLs go to http://localhost. Like curl: ``-X``, ``-H``, ``-d``.

        Examples::

            %do_fetch /inc?name=alice
            r = %do_fetch -X POST -H 'content-type: application/json' -d '{"n": 1}' /add
            %do_fetch COUNTER alice /
        """
        args = self._parse(self.do_fetch, line)
        positional = list(args.args)
        if args.id and len(positional) == 2:
            binding, name, url = positional[0], None, positional[1]
        elif len(positional) == 3 and not args.id:
            binding, name, url = positional
        elif len(positional) == 1 and not args.id:
            binding, name, url = None, None, positional[0]
        else:
            raise UsageError(
                "%do_fetch: usage: %do_fetch URL, %do_fetch BINDING NAME URL or %do_fetch BINDING --id HEX URL"
            )
        headers = []
        for header in args.headers:
            key, colon, value = header.partition(":")
            if not colon or not key.strip():
                raise UsageError(f"%do_fetch: bad header {header!r}: write -H 'Name: value'")
            headers.append((key.strip(), value.strip()))
        method = args.method or ("POST" if args.data is not None else "GET")
        if binding is not None:
            namespace, object_id, cell = self._target(binding, name, args.id, "do_fetch")
            with self._engine("do_fetch", cell):
                response = namespace.get(object_id).fetch(url, method=method, headers=headers, body=args.data)
            return FetchResponse(response, style=self.output)
        mf = self._require()
        if "://" not in url:
            url = "http://localhost" + ("" if url.startswith("/") else "/") + url
        entry = self.registry.entry()
        reports = _UncaughtReports()
        engine_logger = logging.getLogger("mfbook")
        engine_logger.addHandler(reports)
        try:
            with self._engine("do_fetch", entry):
                response = mf.dispatch_fetch(url, method=method, headers=headers, body=args.data)
        finally:
            engine_logger.removeHandler(reports)
        error = None
        for record in reports.records:
            message = record.getMessage()
            if message.startswith("Uncaught ") and error is None and response.status == 500:
                error = map_stack(message[len("Uncaught ") :], entry)
            elif record.levelno >= logging.ERROR:
                print(f"mfbook: {message}", file=sys.stderr)
        return FetchResponse(response, style=self.output, error=error)

    @no_var_expand
    @magic_arguments()
    @argument("binding", help="Durable Object binding, e.g. COUNTER.")
    @argument("name", help="The object's idFromName name (or --id HEX).")
    @argument("method", help="A public method of the DurableObject class.")
    @argument(
        "args", nargs="*", help="Python arguments, comma separated, evaluated in the notebook (the rest of the line)."
    )
    @line_magic
    def do_call(self, line: str) -> Any:
        """Calls a method of an object (RPC to a ``extends DurableObject`` class); returns its result.

        Examples::

            %do_call COUNTER alice increment
            total = %do_call COUNTER alice add 2
            %do_call COUNTER alice put "key", {"a": [1, 2]}
        """
        binding, name, hex_id, tokens, rest = _target_and_rest(line, 1)
        if not tokens:
            raise UsageError(
                "%do_call: usage: %do_call BINDING NAME METHOD [ARG, ...] (or BINDING --id HEX METHOD ...)"
            )
        call_args = self._eval(f"(lambda *args: args)({rest})", "do_call", "ARGS") if rest else ()
        namespace, object_id, cell = self._target(binding, name, hex_id, "do_call")
        with self._engine("do_call", cell):
            return namespace.get(object_id).call(tokens[0], *call_args)

    # ------------------------------------------------------------------ SQL
    @no_var_expand
    @magic_arguments()
    @argument("binding", help="Durable Object binding of a SQLite-backed class, e.g. NOTES.")
    @argument("name", nargs="?", help="The object's idFromName name (or --id HEX).")
    @argument("sql", nargs="*", help="Line form: the SQL (the rest of the line). Cell form: the cell body.")
    @argument("--id", metavar="HEX", help="Address the object by its 64-hex id instead of a name.")
    @line_cell_magic
    def do_sql(self, line: str, cell: str | None = None) -> Any:
        """Runs SQL in a SQLite-backed object (``ctx.storage.sql``) and shows the rows as a table.

        ``{name}`` in the SQL binds the notebook variable ``name`` as a parameter (never pasted
        into the text; ``{{``/``}}`` are literal braces). The object is not constructed; the
        statements commit together before the magic returns. The result (rows as dicts,
        ``.columns``, ``.rows_read``, ``.rows_written``) can be assigned from the line form.

        Examples::

            %%do_sql NOTES alice
            SELECT id, text FROM notes WHERE id > {last_seen} ORDER BY id

            rows = %do_sql NOTES alice SELECT count(*) AS n FROM notes
            %do_sql NOTES --id 8f3e...c2 SELECT * FROM notes
        """
        binding, name, hex_id, tokens, rest = _target_and_rest(line, 0)
        query = cell if cell is not None else rest.strip()
        if cell is not None and rest.strip():
            raise UsageError("%%do_sql: put the SQL in the cell body, not after BINDING NAME on the first line")
        if not query.strip():
            raise UsageError("%do_sql: no SQL: usage: %do_sql BINDING NAME SQL... or a %%do_sql BINDING NAME cell")
        try:
            query, values = bind_parameters(query, self.shell.user_ns if self.shell is not None else {})
        except (KeyError, ValueError) as error:
            raise UsageError(f"%do_sql: {error.args[0]}") from None
        namespace, object_id, worker_cell = self._target(binding, name, hex_id, "do_sql")
        with self._engine("do_sql", worker_cell):
            return namespace.storage(object_id).sql.exec(query, *values)

    # ------------------------------------------------------------------ inspection
    @no_var_expand
    @magic_arguments()
    @argument("--flush", action="store_true", help="Run every scheduled alarm now (mf.flush_alarms()) first.")
    @line_magic
    def do_alarms(self, line: str) -> Any:
        """Lists the scheduled alarms of every object (``--flush`` runs them now first).

        Examples::

            %do_alarms
            %do_alarms --flush
        """
        args = self._parse(self.do_alarms, line)
        mf = self._require()
        namespaces = [self._namespace(binding, "do_alarms")[0] for binding in self.registry.bindings()]
        with self._engine("do_alarms", self.registry.entry()):
            if args.flush:
                mf.flush_alarms()
            return alarms_view(namespaces, object_names(mf), style=self.output)

    @no_var_expand
    @magic_arguments()
    @argument("binding", nargs="?", help="Only this Durable Object binding.")
    @argument("name", nargs="?", help="Only this object (its idFromName name).")
    @argument("--static", action="store_true", help="A static table even when widgets are available.")
    @line_magic
    def do_storage(self, line: str) -> Any:
        """Shows Durable Object storage: the storage browser widget, or a table in terminals.

        Examples::

            %do_storage
            %do_storage COUNTER alice
        """
        args = self._parse(self.do_storage, line)
        mf = self._require()
        bindings = [args.binding] if args.binding else self.registry.bindings()
        namespaces = [self._namespace(binding, "do_storage")[0] for binding in bindings]
        browser = None if args.static or self._static() else self._widget("StorageBrowser")
        with self._engine("do_storage", self.registry.entry()):
            if browser is not None:
                return browser(mf, binding=args.binding, name=args.name)
            return storage_view(mf, namespaces, object_names(mf), name=args.name, style=self.output)

    @no_var_expand
    @magic_arguments()
    @argument("--static", action="store_true", help="A static table even when widgets are available.")
    @line_magic
    def do_timeline(self, line: str) -> Any:
        """Shows the transactions on the trace: the timeline widget, or a table in terminals.

        Example::

            %do_timeline
        """
        args = self._parse(self.do_timeline, line)
        mf = self._require()
        timeline = None if args.static or self._static() else self._widget("Timeline")
        if timeline is not None:
            return timeline(mf)
        return timeline_view(list(mf.trace), style=self.output)

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
        args = self._parse(self.mf_reset, line)
        self.dispose()
        if not args.keep_workers:
            self.registry.clear()
            print("mfbook: emulator disposed and worker cells forgotten")
            return
        if not self.registry:
            raise UsageError(f"%mf_reset: {_NO_WORKER}")
        with self._engine("mf_reset", self.registry.entry()):
            outcome = self._apply()
        self._publish()
        print(f"mfbook: workers {', '.join(self.registry.cells)} {outcome}")
