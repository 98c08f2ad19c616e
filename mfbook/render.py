"""Rendering of emulator data for terminals (rich) and notebooks (HTML).

One object renders everywhere: :class:`Table` implements rich's ``__rich__`` protocol, IPython's
``_repr_mimebundle_`` / ``_repr_html_`` and plain ``str``, so the same value shows as a box table
in terminal IPython, as an HTML table in Jupyter and as text in logs. Stored values are shown the
way a JS console shows them (``Map(1) {"a" => 1}``, ``Set(2) {1, 2}``,
``Date 2024-01-01T00:00:00.000Z``), because that is what the worker code sees.

>>> table = Table(["key", "value"], [["count", format_value(3)]], title="COUNTER alice")
>>> print(table.to_text(width=40))
COUNTER alice
┏━━━━━━━┳━━━━━━━┓
┃ key   ┃ value ┃
┡━━━━━━━╇━━━━━━━┩
│ count │ 3     │
└───────┴───────┘

Styles: ``"html"`` (semantic HTML tables in notebooks, rich text in terminals), ``"rich"`` (rich's
own HTML export in notebooks) and ``"plain"`` (ASCII text only).
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from http import HTTPStatus
from io import StringIO
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table as RichTable
from rich.text import Text

from . import codec
from .http import Response

__all__ = ["STYLES", "FetchResponse", "IdList", "RecordList", "StorageDict", "Table", "format_value", "render_text"]

STYLES = ("html", "rich", "plain")
TEXT_WIDTH = 120
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_PRE_STYLE = (
    "white-space:pre;overflow-x:auto;line-height:normal;font-family:Menlo,'DejaVu Sans Mono',consolas,monospace"
)


# ---------------------------------------------------------------------- values
def format_value(value: Any, *, limit: int = 200) -> str:
    """One line of text for a stored value, as a JS console would show it.

    >>> format_value(codec.JSMap([("a", 1)]))
    'Map(1) {"a" => 1}'
    >>> format_value(b"hi")
    'ArrayBuffer(2) <68 69>'
    """
    text = _format(value, depth=0)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 and math.copysign(1.0, value) < 0:
        return "-0"
    return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)


def _date(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _items(values: Iterable[Any], depth: int) -> str:
    return ", ".join(_format(item, depth=depth + 1) for item in values)


def _format(value: Any, *, depth: int) -> str:  # noqa: C901 - one branch per JS type
    if depth > 4:
        return "…"
    if value is None:
        return "null"
    if value is codec.UNDEFINED:
        return "undefined"
    if value is codec.HOLE:
        return "<empty>"
    if value is codec.INVALID_DATE:
        return "Invalid Date"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, codec.JSBigInt):
        return f"{int(value)}n"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime):
        return f"Date {_date(value)}"
    if isinstance(value, codec.JSDate):
        return f"Date({value.ms})"
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        shown = " ".join(f"{byte:02x}" for byte in data[:32]) + (" …" if len(data) > 32 else "")
        return f"ArrayBuffer({len(data)}) <{shown}>"
    if isinstance(value, codec.JSTypedArray):
        size = value.byte_length if value.kind == "DataView" else len(value.values())
        return f"{value.kind}({size}) [{_items(value.values()[:32], depth)}]"
    if isinstance(value, codec.JSMap):
        entries = ", ".join(f"{_format(k, depth=depth + 1)} => {_format(v, depth=depth + 1)}" for k, v in value.items())
        return f"Map({len(value)}) {{{entries}}}"
    if isinstance(value, (set, frozenset, codec.JSSet)):
        return f"Set({len(value)}) {{{_items(value, depth)}}}"
    if isinstance(value, codec.JSArray):
        return f"[{_items(value.to_list(), depth)}]"
    if isinstance(value, (list, tuple)):
        return f"[{_items(value, depth)}]"
    if isinstance(value, Mapping):
        fields = ", ".join(
            f"{key if _IDENTIFIER.fullmatch(str(key)) else _string(str(key))}: {_format(item, depth=depth + 1)}"
            for key, item in value.items()
        )
        return f"{{{fields}}}"
    if isinstance(value, codec.JSRegExp):
        return f"/{value.source}/{value.flags}"
    if isinstance(value, codec.JSError):
        return f"{value.name}: {value.message}" if value.message else value.name
    if isinstance(value, codec.JSBoxed):
        return f"[{type(value.value).__name__} {_format(value.value, depth=depth + 1)}]"
    return repr(value)


# ---------------------------------------------------------------------- tables
def _console(width: int, *, record: bool = False) -> Console:
    return Console(
        file=StringIO(),
        width=width,
        color_system=None,
        force_terminal=False,
        force_jupyter=False,
        record=record,
        legacy_windows=False,
        soft_wrap=False,
    )


def render_text(renderable: RenderableType, *, width: int = TEXT_WIDTH) -> str:
    """Renders anything rich can render as plain text (no colours), trailing spaces removed."""
    console = _console(width)
    console.print(renderable)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in output.splitlines())


def render_rich_html(renderable: RenderableType, *, width: int = TEXT_WIDTH) -> str:
    """Rich's own HTML export of ``renderable`` (the ``"rich"`` style in notebooks)."""
    console = Console(file=StringIO(), width=width, record=True, force_jupyter=False, color_system="truecolor")
    console.print(renderable)
    return console.export_html(inline_styles=True, code_format=f'<pre style="{_PRE_STYLE}">{{code}}</pre>')


class _Renders:
    """The display protocols, from ``__rich__`` plus an HTML builder."""

    style: str = "html"

    # Every renderable defines these two (an abstract interface, checked by the type checker).
    __rich__: Callable[[], RenderableType]
    _html: Callable[[], str]

    def to_text(self, *, width: int = TEXT_WIDTH) -> str:
        """The plain-text rendering (what terminals and ``text/plain`` show)."""
        return render_text(self.__rich__(), width=width)

    def _repr_html_(self) -> str | None:
        if self.style == "plain":
            return None
        return render_rich_html(self.__rich__()) if self.style == "rich" else self._html()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        bundle = {"text/plain": self.to_text()}
        markup = self._repr_html_()
        if markup is not None:
            bundle["text/html"] = markup
        return bundle

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.to_text())


class Table(_Renders):
    """A titled table of text cells that renders in terminals and notebooks.

    Args:
        columns: Column headings.
        rows: Rows of cells; cells are shown with ``str`` (format values first).
        title: Shown above the table.
        caption: Shown below (e.g. a count or a hint).
        style: ``"html"``, ``"rich"`` or ``"plain"`` (see the module docs).

    >>> print(Table(["a"], [], caption="nothing here", style="plain").to_text())
    +---+
    | a |
    |---|
    +---+
    nothing here
    """

    def __init__(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        title: str | None = None,
        caption: str | None = None,
        style: str = "html",
    ) -> None:
        if style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
        self.columns = tuple(str(column) for column in columns)
        self.rows = [tuple(str(cell) for cell in row) for row in rows]
        self.title = title
        self.caption = caption
        self.style = style

    def __rich__(self) -> RenderableType:
        table = RichTable(box=box.ASCII if self.style == "plain" else box.HEAVY_HEAD, safe_box=self.style == "plain")
        for column in self.columns:
            table.add_column(column, overflow="fold")
        for row in self.rows:
            table.add_row(*(Text(cell) for cell in row))
        parts: list[RenderableType] = [Text(self.title, style="bold")] if self.title else []
        parts.append(table)
        if self.caption:
            parts.append(Text(self.caption, style="dim"))
        return Group(*parts)

    def _html(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(column)}</th>" for column in self.columns)
        body = "".join(
            "<tr>"
            + "".join(f"<td style='text-align:left'><code>{html.escape(cell)}</code></td>" for cell in row)
            + "</tr>"
            for row in self.rows
        )
        title = (
            f"<caption style='caption-side:top;text-align:left'><b>{html.escape(self.title)}</b></caption>"
            if self.title
            else ""
        )
        caption = f"<div style='opacity:.7'>{html.escape(self.caption)}</div>" if self.caption else ""
        table = f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        return f"<div class='mfbook-table'>{table}{caption}</div>"

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"<Table {self.title or ''} ({len(self.rows)} rows)>"


class StorageDict(_Renders, dict[str, Any]):
    """A ``dict`` of stored keys and values that displays as a key/value table.

    A SQLite-backed object's tables (name -> row count) are kept in :attr:`tables` and shown
    in the caption; the dict itself holds only the key/value entries.

    >>> StorageDict({"count": 3}, title="COUNTER alice") == {"count": 3}
    True
    >>> StorageDict({}, tables={"notes": 2}, style="plain").table().caption
    '0 keys; tables: notes (2 rows)'
    """

    def __init__(
        self,
        entries: Mapping[str, Any] = (),  # type: ignore[assignment]
        *,
        title: str | None = None,
        style: str = "html",
        tables: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(entries)
        self.title = title
        self.style = style
        self.tables: dict[str, int] = dict(tables or {})

    def table(self) -> Table:
        count = f"{len(self)} key" + ("" if len(self) == 1 else "s")
        if self.tables:
            listed = ", ".join(f"{name} ({rows} row{'' if rows == 1 else 's'})" for name, rows in self.tables.items())
            count += f"; tables: {listed}"
        return Table(
            ["key", "value"],
            [(key, format_value(value)) for key, value in self.items()],
            title=self.title,
            caption=count,
            style=self.style,
        )

    def __rich__(self) -> RenderableType:
        return self.table().__rich__()

    def _html(self) -> str:
        return self.table()._html()


class RecordList(_Renders, list[dict[str, Any]]):
    """A ``list`` of dict records (same keys) that displays as a table."""

    def __init__(
        self,
        records: Iterable[Mapping[str, Any]] = (),
        *,
        title: str | None = None,
        caption: str | None = None,
        style: str = "html",
    ) -> None:
        super().__init__(dict(record) for record in records)
        self.title = title
        self.caption = caption
        self.style = style

    def table(self) -> Table:
        columns = list(self[0]) if self else ["(none)"]
        rows = [[_cell(record.get(column)) for column in columns] for record in self]
        return Table(columns, rows, title=self.title, caption=self.caption, style=self.style)

    def __rich__(self) -> RenderableType:
        return self.table().__rich__()

    def _html(self) -> str:
        return self.table()._html()


class IdList(_Renders, list[str]):
    """A ``list`` of hex object ids that displays as a table with the names known for them."""

    def __init__(
        self,
        ids: Iterable[str] = (),
        *,
        names: Mapping[str, str] | None = None,
        owners: Mapping[str, str] | None = None,
        title: str | None = None,
        style: str = "html",
    ) -> None:
        super().__init__(ids)
        self.names = dict(names or {})
        #: The process running each object, when processes share Redis (an "owner" column).
        self.owners = dict(owners) if owners is not None else None
        self.title = title
        self.style = style

    def table(self) -> Table:
        owners = self.owners
        if owners is None:
            return Table(
                ["id", "name"],
                [(hex_id, self.names.get(hex_id, "")) for hex_id in self],
                title=self.title,
                style=self.style,
            )
        return Table(
            ["id", "name", "owner"],
            [(hex_id, self.names.get(hex_id, ""), owners.get(hex_id, "")) for hex_id in self],
            title=self.title,
            style=self.style,
        )

    def __rich__(self) -> RenderableType:
        return self.table().__rich__()

    def _html(self) -> str:
        return self.table()._html()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _date(value)
    return value if isinstance(value, str) else format_value(value)


# ---------------------------------------------------------------------- responses
def _body_text(response: Response) -> str:
    if not response.body:
        return ""
    content_type = response.headers.get("content-type", "")
    try:
        text = response.body.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(response.body)} bytes of {content_type or 'binary data'}>"
    if "json" in content_type:
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    return text if len(text) <= 10_000 else text[:10_000] + f"\n… ({len(text) - 10_000} more characters)"


class FetchResponse(_Renders, Response):
    """A :class:`~mfbook.Response` that displays like ``curl -i``: status, headers, pretty body.

    Attributes:
        error: A rendered JS error block when the handler threw (the body then holds the raw
            report, as Miniflare returns it).
    """

    def __init__(self, response: Response, *, style: str = "html", error: str | None = None) -> None:
        super().__init__(
            response.status, body=response.body, headers=response.headers, status_text=response.status_text
        )
        self.style = style
        self.error = error

    def _status_line(self) -> str:
        reason = self.status_text
        if not reason:
            try:
                reason = HTTPStatus(self.status).phrase
            except ValueError:
                reason = ""
        return f"HTTP {self.status} {reason}".rstrip()

    def __rich__(self) -> RenderableType:
        colour = "green" if self.ok else ("yellow" if self.status < 500 else "red")
        parts: list[RenderableType] = [Text(self._status_line(), style=f"bold {colour}")]
        parts += [Text(f"{name}: {value}", style="dim") for name, value in self.headers.pairs()]
        body = self.error if self.error is not None else _body_text(self)
        if body:
            parts += [Text(""), Text(body, style="red" if self.error is not None else "")]
        return Group(*parts)

    def _html(self) -> str:
        colour = "#1a7f37" if self.ok else ("#9a6700" if self.status < 500 else "#cf222e")
        headers = "".join(
            f"<tr><th style='text-align:left'>{html.escape(name)}</th>"
            f"<td style='text-align:left'>{html.escape(value)}</td></tr>"
            for name, value in self.headers.pairs()
        )
        body = self.error if self.error is not None else _body_text(self)
        body_colour = ";color:#cf222e" if self.error is not None else ""
        return (
            f"<div class='mfbook-response'><div><b style='color:{colour}'>{html.escape(self._status_line())}</b></div>"
            f"<details><summary>headers ({len(self.headers.pairs())})</summary><table>{headers}</table></details>"
            f"<pre style='{_PRE_STYLE}{body_colour}'>{html.escape(body)}</pre></div>"
        )

    def __repr__(self) -> str:
        return f"<FetchResponse [{self.status}]>"
