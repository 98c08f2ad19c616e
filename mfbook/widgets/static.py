"""Static renderings of the widgets' data: HTML (nbconvert, GitHub) and rich (terminal).

The same snapshot the front end draws is rendered here without JavaScript: the storage page
as an HTML table (``table.mf-storage``) or a rich table, the timeline as an inline SVG (one
``rect`` per attempt with a ``<title>`` tooltip) or a rich table of attempts.
"""

from __future__ import annotations

import html
import io
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from .static_sql import sql_html, sql_rich
from .timeline_axis import format_duration

__all__ = [
    "plain_text",
    "storage_html",
    "storage_rich",
    "timeline_html",
    "timeline_rich",
    "timeline_text",
    "with_fallback",
]

COLORS = {
    "committed": "#2e9d5b",
    "conflict": "#e4572e",
    "rolledback": "#9aa0a6",
    "giveup": "#8b1e1e",
    "open": "#4a7bd0",
}
GLYPHS = {"committed": "✓", "conflict": "✕", "rolledback": "↺", "giveup": "✕✕", "open": "▸"}
RICH_COLORS = {"committed": "green", "conflict": "red", "rolledback": "grey50", "giveup": "dark_red", "open": "blue"}
_STYLE = "font-family: var(--jp-code-font-family, monospace); font-size: 12px; border-collapse: collapse;"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def storage_html(snapshot: dict[str, Any]) -> str:
    """An HTML table of a storage snapshot (see ``StorageBrowser.snapshot``)."""
    head = (
        f"<div class='mf-storage-static'><div><b>{_e(snapshot['binding'] or '(no namespace)')}</b> · "
        f"{_e(snapshot['object_label'] or '(no object)')}"
        + (f" · prefix <code>{_e(snapshot['prefix'])}</code>" if snapshot["prefix"] else "")
        + f" · page {snapshot['page']['index'] + 1}{' (more follow)' if snapshot['page']['has_next'] else ''}"
        "</div>"
    )
    rows = (
        "".join(
            f"<tr data-key='{_e(row['key'])}'><td style='padding:2px 8px'>{_e(row['key'])}</td>"
            f"<td style='padding:2px 8px;color:#777'>{_e(row['type'])}</td>"
            f"<td style='padding:2px 8px'><code style='white-space:pre-wrap;word-break:break-all'>"
            f"{_e(row['full'] or row['preview'])}</code></td>"
            f"<td style='padding:2px 8px;text-align:right'>{row['size']}</td></tr>"
            for row in snapshot["page"]["rows"]
        )
        or "<tr><td colspan='4' style='padding:2px 8px;color:#777'>(no keys)</td></tr>"
    )
    return (
        f"{head}<table class='mf-storage' style='{_STYLE}'><thead><tr>"
        "<th style='text-align:left;padding:2px 8px'>key</th><th style='text-align:left;padding:2px 8px'>type</th>"
        "<th style='text-align:left;padding:2px 8px'>value</th><th style='padding:2px 8px'>bytes</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{sql_html(snapshot.get('sql'))}</div>"
    )


def storage_rich(snapshot: dict[str, Any]) -> Group:
    """A heading and a rich table of a storage snapshot."""
    more = " (more follow)" if snapshot["page"]["has_next"] else ""
    title = (
        f"{snapshot['binding'] or '(no namespace)'} · {snapshot['object_label'] or '(no object)'}"
        f"{' · prefix ' + repr(snapshot['prefix']) if snapshot['prefix'] else ''}"
        f" · page {snapshot['page']['index'] + 1}{more}"
    )
    table = Table()
    table.add_column("key")
    table.add_column("type", style="dim")
    table.add_column("value", overflow="fold")
    table.add_column("bytes", justify="right")
    for row in snapshot["page"]["rows"]:
        table.add_row(row["key"], row["type"], row["preview"], str(row["size"]))
    return Group(Text(title), table, *sql_rich(snapshot.get("sql")))


def _keys(keys: list[str]) -> str:
    return ", ".join(keys) or "—"


def _tooltip(bar: dict[str, Any]) -> str:
    end = "open" if bar["end"] is None else f"{bar['end']:.1f} ms"
    lines = [
        f"txn {bar['txn_id']} attempt {bar['attempt']}: {bar['outcome']}",
        f"{bar['start']:.1f} ms → {end}",
        f"read: {_keys(bar['read'])}",
        f"write: {_keys(bar['write'])}",
    ]
    if bar["retry_of"] is not None:
        lines.append(f"retries txn {bar['retry_of']}")
    if bar["outcome"] in ("conflict", "giveup"):
        lines.append(f"conflict on {_keys(bar['conflict_keys'])} (lost to commit v{bar['winning_version']})")
    if bar["version"] is not None:
        lines.append(f"committed v{bar['version']}")
    return "\n".join(lines)


def timeline_html(data: dict[str, Any], *, width: int = 760, max_rows: int = 300) -> str:
    """An inline SVG of timeline data (``TimelineModel.to_json()``): one row per transaction.

    The axis is the fitted one of ``data["view"]`` (idle gaps drawn as marked breaks); each
    attempt has its outcome's glyph next to it, so the picture reads without colour. At most
    ``max_rows`` transactions are drawn (the newest), and the heading says so.
    """
    view = data["view"]
    axis = view["axis"]
    label_width, row_height, top = 170, 18, 24
    plot = width - label_width - 30
    bars = {bar["txn_id"]: bar for bar in data["bars"]}
    txns = data["txns"][-max_rows:]
    total_txns = data.get("total_txns", len(data["txns"]))

    def x(ms: float) -> float:
        return label_width + 4 + _fraction(axis, ms) * plot

    parts = []
    for part in axis["parts"]:
        if part["kind"] == "break":
            left, right = x(part["start"]), x(part["end"])
            idle = _e(format_duration(part["end"] - part["start"]))
            parts.append(
                f"<rect x='{left:.1f}' y='0' width='{max(3.0, right - left):.1f}' height='100%' fill='#9e9e9e' "
                f"opacity='0.35'/><text x='{(left + right) / 2:.1f}' y='12' font-size='10' text-anchor='middle'>"
                f"idle {idle}</text>"
            )
        else:
            parts.append(
                f"<text x='{x(part['start']):.1f}' y='12' font-size='10' fill='#616161'>"
                f"{_e(format_duration(part['start'] - axis['start']))}</text>"
            )
    if axis["parts"]:
        parts.append(
            f"<text x='{x(axis['end']):.1f}' y='12' font-size='10' fill='#616161' text-anchor='end'>"
            f"{_e(format_duration(axis['end'] - axis['start']))}</text>"
        )
    y = top
    for txn in txns:
        parts.append(
            f"<text x='4' y='{y + 13}' font-size='11'>{_e(txn['label'])} · {_e(txn['object'])}</text>"
            f"<line x1='0' x2='{width}' y1='{y + row_height}' y2='{y + row_height}' stroke='#e0e0e0'/>"
        )
        if txn["wait_start"] is not None and txn["wait"] >= 1:
            left, right = x(txn["wait_start"]), x(txn["start"])
            parts.append(
                f"<rect x='{left:.1f}' y='{y + 5}' width='{max(1.0, right - left):.1f}' height='8' fill='#e65100' "
                f"fill-opacity='0.3' stroke='#e65100' stroke-dasharray='3 2'><title>waited "
                f"{_e(format_duration(txn['wait']))} (input gate)</title></rect>"
            )
        right_edge = -1.0
        for txn_id in txn["attempts"]:
            bar = bars.get(txn_id)
            if bar is None:
                continue
            end = view["end"] if bar["end"] is None else bar["end"]
            left = max(x(bar["start"]), right_edge + 1)
            bar_width = max(8.0, x(end) - left)
            right_edge = left + bar_width
            parts.append(
                f"<rect data-txn-id='{bar['txn_id']}' data-outcome='{bar['outcome']}' x='{left:.1f}' "
                f"y='{y + 2}' width='{bar_width:.1f}' height='{row_height - 4}' rx='2' "
                f"fill='{COLORS[bar['outcome']]}'><title>{_e(_tooltip(bar))}</title></rect>"
                f"<text x='{right_edge + 2:.1f}' y='{y + 13}' font-size='10'>{GLYPHS[bar['outcome']]}</text>"
            )
        y += row_height
    note = f" · drawn: the newest {len(txns)} of {total_txns:,} transactions" if len(txns) < total_txns else ""
    legend = " · ".join(
        f"<span style='color:{COLORS[name]}'>■</span> {GLYPHS[name]} {name} {view['counts'][name]}" for name in COLORS
    )
    return (
        "<div class='mf-timeline-static' style='font-family:sans-serif;font-size:12px'>"
        f"<div style='font-weight:600'>{_e(view['summary'])}{_e(note)}</div>"
        f"<div>{legend} · retries {view['counts']['retry']}</div>"
        f"<div style='color:#616161'>{_e(view['legend'])}</div>"
        f"<svg width='{width}' height='{y + 4}' xmlns='http://www.w3.org/2000/svg'>{''.join(parts)}</svg></div>"
    )


def _fraction(axis: dict[str, Any], ms: float) -> float:
    for part in axis["parts"]:
        if ms <= part["end"]:
            if ms <= part["start"] or part["end"] == part["start"]:
                return float(part["f0"])
            return float(part["f0"] + (part["f1"] - part["f0"]) * (ms - part["start"]) / (part["end"] - part["start"]))
    return 1.0


def timeline_rich(data: dict[str, Any], *, max_rows: int | None = None) -> Group:
    """A rich table of attempts (with a text bar) for terminals: the newest ``max_rows`` (None: all)."""
    span = max(data["end"], 1.0)
    shown = data["bars"] if max_rows is None else data["bars"][-max_rows:]
    title = "transaction attempts"
    if len(shown) < len(data["bars"]):
        title += f" (the newest {len(shown)} of {len(data['bars'])})"
    table = Table(title=title, title_justify="left")
    for column in ("lane", "txn", "try", "ms"):
        table.add_column(column, no_wrap=True)
    table.add_column("", no_wrap=True, width=24)
    for column in ("outcome", "read", "write"):
        table.add_column(column)
    for bar in shown:
        end = data["end"] if bar["end"] is None else bar["end"]
        first = min(23, int(bar["start"] / span * 24))
        cells = " " * first + "█" * max(1, int(end / span * 24) - first)
        outcome = bar["outcome"] + (f" (retries {bar['retry_of']})" if bar["retry_of"] is not None else "")
        if bar["outcome"] in ("conflict", "giveup"):
            outcome += f" on {_keys(bar['conflict_keys'])} vs v{bar['winning_version']}"
        table.add_row(
            bar["lane"],
            str(bar["txn_id"]),
            str(bar["attempt"]),
            f"{bar['start']:.1f}–{end:.1f}",
            Text(cells.ljust(24), style=RICH_COLORS[bar["outcome"]]),
            outcome,
            _keys(bar["read"]),
            _keys(bar["write"]),
        )
    counts = data["counts"]
    summary = Text(" · ".join(f"{name} {counts[name]}" for name in (*COLORS, "retry")))
    return Group(summary, Text(data["view"]["summary"]), table)


def timeline_text(data: dict[str, Any], *, max_rows: int = 12) -> str:
    """A short plain-text account of timeline data (cheap: for the static fallback's ``text/plain``)."""
    view = data["view"]
    lines = [view["summary"]]
    for bar in data["bars"][-max_rows:]:
        took = "running" if bar["end"] is None else format_duration(bar["end"] - bar["start"])
        line = f"  {GLYPHS[bar['outcome']]} txn {bar['txn_id']} attempt {bar['attempt']} {bar['outcome']} ({took})"
        if bar["conflict_keys"]:
            line += f" conflict on {_keys(bar['conflict_keys'])} vs v{bar['winning_version']}"
        lines.append(line)
    return "\n".join(lines)


def plain_text(renderable: Any, *, width: int = 110) -> str:
    """A rich renderable as plain text (for ``text/plain``: terminal IPython shows it)."""
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False, force_jupyter=False)
    console.print(renderable)
    text: str = console.file.getvalue()  # type: ignore[attr-defined]
    return text.rstrip()


def with_fallback(bundle: Any, html_text: str, renderable: Any) -> Any:
    """Adds ``text/html`` and a rich ``text/plain`` to a widget's mime bundle.

    JupyterLab prefers the widget view; nbconvert, GitHub and terminals use the fallbacks.
    ``bundle`` is a dict or a ``(data, metadata)`` pair, as widget libraries return.
    """
    data, metadata = bundle if isinstance(bundle, tuple) else (bundle or {}, None)
    data = {**data, "text/html": html_text, "text/plain": plain_text(renderable)}
    return data if metadata is None else (data, metadata)
