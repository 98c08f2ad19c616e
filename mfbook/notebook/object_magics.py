"""The magics that look at and change Durable Objects: ``%do_get`` ... ``%do_timeline``.

They share the emulator and the worker cells of :class:`~mfbook.notebook.magics.MfbookMagics`
(the session: ``%%worker`` cells, ``%config`` options) and its :class:`MagicHelpers`.
"""

from __future__ import annotations

import logging
import re
import shlex
import sys
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments

from ..render import FetchResponse, IdList, StorageDict
from .cells import map_stack
from .helpers import MagicHelpers, parse_arguments
from .magics import MfbookMagics
from .sql_params import bind_parameters
from .views import alarms_view, object_names, sql_table_rows, storage_view, timeline_view

__all__ = ["ObjectMagics"]

_TOKEN = re.compile(r"\s*(\"(?:[^\"\\]|\\.)*\"|'[^']*'|\S+)")


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
class ObjectMagics(Magics):
    """``%do_*``: read, write, call and watch the objects of the session's emulator."""

    def __init__(self, shell: Any = None, *, session: MfbookMagics) -> None:
        self._session = session
        self.helpers: MagicHelpers = session.helpers
        super().__init__(shell=shell)

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
        args = parse_arguments(self.do_get, line)
        name, keys = (None, args.args) if args.id else (args.args[0], args.args[1:])
        if not keys:
            raise UsageError("%do_get: which key? usage: %do_get BINDING NAME KEY [KEY ...]")
        namespace, object_id, cell = self.helpers.target(args.binding, name, args.id, "do_get")
        with self.helpers.engine("do_get", cell):
            storage = namespace.storage(object_id)
            if len(keys) == 1:
                found = storage.get(keys)  # tells a missing key from a stored null
                if keys[0] not in found:
                    print(f"mfbook: no key {keys[0]!r} in {self.helpers.label(object_id)}")
                return found.get(keys[0])
            return StorageDict(storage.get(keys), title=self.helpers.label(object_id), style=self._session.output)

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
        value = self.helpers.evaluate(expression, "do_put", "EXPR")
        namespace, object_id, cell = self.helpers.target(binding, name, hex_id, "do_put")
        with self.helpers.engine("do_put", cell):
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
        args = parse_arguments(self.do_delete, line)
        name, keys = (None, args.args) if args.id else (args.args[0], args.args[1:])
        if not keys:
            raise UsageError("%do_delete: which keys? usage: %do_delete BINDING NAME KEY [KEY ...]")
        namespace, object_id, cell = self.helpers.target(args.binding, name, args.id, "do_delete")
        with self.helpers.engine("do_delete", cell):
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

        For a SQLite-backed object the caption also lists its tables with their row counts
        (``.tables`` on the result; query them with ``%do_sql``).

        Examples::

            %do_list COUNTER alice
            %do_list COUNTER alice --prefix user: --limit 10 --reverse
        """
        args = parse_arguments(self.do_list, line)
        namespace, object_id, cell = self.helpers.target(args.binding, args.name, args.id, "do_list")
        with self.helpers.engine("do_list", cell):
            storage = namespace.storage(object_id)
            entries = storage.list(
                prefix=args.prefix,
                start=args.start,
                start_after=args.start_after,
                end=args.end,
                limit=args.limit,
                reverse=args.reverse,
            )
            tables = sql_table_rows(storage)
        return StorageDict(entries, title=self.helpers.label(object_id), style=self._session.output, tables=tables)

    @no_var_expand
    @magic_arguments()
    @argument("binding", help="Durable Object binding, e.g. COUNTER.")
    @line_magic
    def do_ids(self, line: str) -> IdList:
        """Hex ids of a namespace's objects that exist or have storage (names shown when known).

        Example::

            ids = %do_ids COUNTER
        """
        args = parse_arguments(self.do_ids, line)
        namespace, cell = self.helpers.namespace(args.binding, "do_ids")
        with self.helpers.engine("do_ids", cell):
            ids = namespace.object_ids()
            names = object_names(self.helpers.require())
            owners = namespace.object_owners(ids)
            here = self.helpers.require().owner_id
        return IdList(
            ids,
            names={hex_id: names.get(f"{args.binding}:{hex_id}", "") for hex_id in ids},
            owners={
                hex_id: "" if owner is None else f"{owner} (this process)" if owner == here else owner
                for hex_id, owner in owners.items()
            }
            or None,
            title=f"{args.binding}: {len(ids)} object" + ("" if len(ids) == 1 else "s"),
            style=self._session.output,
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
        args = parse_arguments(self.do_fetch, line)
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
            namespace, object_id, cell = self.helpers.target(binding, name, args.id, "do_fetch")
            with self.helpers.engine("do_fetch", cell):
                response = namespace.get(object_id).fetch(url, method=method, headers=headers, body=args.data)
            return FetchResponse(response, style=self._session.output)
        mf = self.helpers.require()
        if "://" not in url:
            url = "http://localhost" + ("" if url.startswith("/") else "/") + url
        entry = self._session.registry.entry()
        reports = _UncaughtReports()
        engine_logger = logging.getLogger("mfbook")
        engine_logger.addHandler(reports)
        try:
            with self.helpers.engine("do_fetch", entry):
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
        return FetchResponse(response, style=self._session.output, error=error)

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
        call_args = self.helpers.evaluate(f"(lambda *args: args)({rest})", "do_call", "ARGS") if rest else ()
        namespace, object_id, cell = self.helpers.target(binding, name, hex_id, "do_call")
        with self.helpers.engine("do_call", cell):
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
        namespace, object_id, worker_cell = self.helpers.target(binding, name, hex_id, "do_sql")
        with self.helpers.engine("do_sql", worker_cell):
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
        args = parse_arguments(self.do_alarms, line)
        mf = self.helpers.require()
        namespaces = [self.helpers.namespace(binding, "do_alarms")[0] for binding in self._session.registry.bindings()]
        with self.helpers.engine("do_alarms", self._session.registry.entry()):
            if args.flush:
                mf.flush_alarms()
            return alarms_view(namespaces, object_names(mf), style=self._session.output)

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
        args = parse_arguments(self.do_storage, line)
        mf = self.helpers.require()
        bindings = [args.binding] if args.binding else self._session.registry.bindings()
        namespaces = [self.helpers.namespace(binding, "do_storage")[0] for binding in bindings]
        browser = None if args.static or self.helpers.static() else self.helpers.widget("StorageBrowser")
        with self.helpers.engine("do_storage", self._session.registry.entry()):
            if browser is not None:
                return browser(mf, binding=args.binding, name=args.name)
            return storage_view(mf, namespaces, object_names(mf), name=args.name, style=self._session.output)

    @no_var_expand
    @magic_arguments()
    @argument("--static", action="store_true", help="A static table even when widgets are available.")
    @line_magic
    def do_timeline(self, line: str) -> Any:
        """Shows the transactions on the trace: the timeline widget, or a table in terminals.

        Example::

            %do_timeline
        """
        args = parse_arguments(self.do_timeline, line)
        mf = self.helpers.require()
        timeline = None if args.static or self.helpers.static() else self.helpers.widget("Timeline")
        if timeline is not None:
            return timeline(mf)
        return timeline_view(list(mf.trace), style=self._session.output)
