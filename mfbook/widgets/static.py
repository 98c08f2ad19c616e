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

__all__ = ["plain_text", "storage_html", "storage_rich", "timeline_html", "timeline_rich", "with_fallback"]

COLORS = {
    "committed": "#2e9d5b",
    "conflict": "#e4572e",
    "rolledback": "#9aa0a6",
    "giveup": "#8b1e1e",
    "open": "#4a7bd0",
}
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
        f"<tbody>{rows}</tbody></table></div>"
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
    return Group(Text(title), table)


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


def timeline_html(data: dict[str, Any], *, width: int = 760) -> str:
    """An inline SVG of timeline data (``TimelineModel.to_json()``)."""
    label_width, row_height, top = 170, 16, 22
    span = max(data["end"], 1.0)
    scale = (width - label_width - 10) / span
    offsets: dict[str, int] = {}
    y = top
    parts = []
    for lane in data["lanes"]:
        offsets[lane["key"]] = y
        height = lane["rows"] * row_height + 6
        parts.append(
            f"<text x='4' y='{y + 12}' font-size='11'>{_e(lane['label'])}</text>"
            f"<line x1='{label_width}' x2='{width}' y1='{y + height}' y2='{y + height}' stroke='#ddd'/>"
        )
        y += height
    for bar in data["bars"]:
        x = label_width + bar["start"] * scale
        end = data["end"] if bar["end"] is None else bar["end"]
        bar_width = max(2.0, (end - bar["start"]) * scale)
        bar_y = offsets[bar["lane"]] + 3 + bar["row"] * row_height
        parts.append(
            f"<rect data-txn-id='{bar['txn_id']}' data-outcome='{bar['outcome']}' x='{x:.1f}' "
            f"y='{bar_y}' width='{bar_width:.1f}' height='{row_height - 4}' rx='2' "
            f"fill='{COLORS[bar['outcome']]}'><title>{_e(_tooltip(bar))}</title></rect>"
        )
    for mark in data["commits"]:
        if mark["txn_id"] is None and mark["lane"] in offsets:
            x = label_width + mark["time"] * scale
            parts.append(
                f"<path d='M{x:.1f},{offsets[mark['lane']]} l4,-6 h-8 z' fill='#555'>"
                f"<title>commit v{mark['version']}: {_e(_keys(mark['keys']))}</title></path>"
            )
    ticks = "".join(
        f"<text x='{label_width + t * scale:.1f}' y='12' font-size='10' fill='#777'>{t:g} ms</text>"
        for t in _ticks(span)
    )
    counts = data["counts"]
    legend = " · ".join(f"<span style='color:{COLORS[name]}'>■</span> {name} {counts[name]}" for name in COLORS)
    return (
        f"<div class='mf-timeline-static' style='font-family:sans-serif;font-size:12px'>"
        f"<div>{legend} · retries {counts['retry']}</div>"
        f"<svg width='{width}' height='{y + 4}' xmlns='http://www.w3.org/2000/svg'>{ticks}{''.join(parts)}</svg></div>"
    )


def _ticks(span: float) -> list[float]:
    step = 10 ** len(str(int(span / 5))) / 10 or 1.0
    for factor in (1, 2, 5, 10):
        if span / (step * factor) <= 6:
            step *= factor
            break
    return [index * step for index in range(int(span / step) + 1)]


def timeline_rich(data: dict[str, Any]) -> Group:
    """A rich table of attempts (with a text bar) for terminals."""
    span = max(data["end"], 1.0)
    table = Table(title="transaction attempts", title_justify="left")
    for column in ("lane", "txn", "try", "ms"):
        table.add_column(column, no_wrap=True)
    table.add_column("", no_wrap=True, width=24)
    for column in ("outcome", "read", "write"):
        table.add_column(column)
    for bar in data["bars"]:
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
    return Group(summary, table)


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
