"""The timeline's time axis and its words: fitted span, idle breaks, units, summary, legend.

The axis covers only the time where something happened (after a filter, only the shown
transactions). Idle gaps collapse into marked breaks of a small fixed share of the axis, and
the bursts between breaks share the rest half by duration and half equally, so a short burst
after a minute of idle time gets room (within a burst, time is to scale). Positions on the
axis are *fractions* (0 at the first activity, 1 at the last): the front end maps a fraction
to pixels, zooming is a window of fractions.

>>> axis = fit_axis([(0.0, 100.0), (60_100.0, 60_200.0)])
>>> [(part.kind, part.start, part.end) for part in axis.parts]
[('time', 0.0, 100.0), ('break', 100.0, 60100.0), ('time', 60100.0, 60200.0)]
>>> format_duration(60_100.0)
'1.0 min'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Axis", "AxisPart", "LEGEND", "fit_axis", "format_duration", "summary", "unit_for"]

#: An idle gap collapses when it is at least this long (ms)...
IDLE_MS = 1000.0
#: ...and longer than this share of the active time (so a steady workload keeps its pauses).
IDLE_SHARE = 0.25
#: Share of the axis one break takes (all breaks together take at most ``BREAKS_MAX``).
BREAK_SHARE = 0.04
BREAKS_MAX = 0.3
#: Waits shorter than this (ms) are dispatch overhead, not queueing: not drawn, not counted.
WAIT_SHOWN_MS = 1.0

LEGEND = (
    "Each row is one transaction (a request or a Python thread); its attempts run left to right. "
    "✓ committed · ✕ conflicted: another commit wrote a key the attempt read, so it ran again · "
    "↺ rolled back · ✕✕ gave up · ▸ still open · hatched: waiting (input gate) · ◆ the commit that won."
)


@dataclass(frozen=True)
class AxisPart:
    """A stretch of the axis: ``time`` drawn to scale, or a collapsed idle ``break``.

    Attributes:
        kind: ``"time"`` or ``"break"``.
        start: ms (trace time since the timeline's origin).
        end: ms.
        f0: Where it starts on the axis, as a fraction of the axis.
        f1: Where it ends.
    """

    kind: str
    start: float
    end: float
    f0: float
    f1: float

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "start": self.start, "end": self.end, "f0": self.f0, "f1": self.f1}


@dataclass(frozen=True)
class Axis:
    """A fitted axis: its parts in time order, and the unit its ticks use."""

    parts: tuple[AxisPart, ...]
    unit: str

    @property
    def start(self) -> float:
        return self.parts[0].start if self.parts else 0.0

    @property
    def end(self) -> float:
        return self.parts[-1].end if self.parts else 0.0

    @property
    def breaks(self) -> list[AxisPart]:
        return [part for part in self.parts if part.kind == "break"]

    def fraction(self, time: float) -> float:
        """Where ``time`` (ms) lies on the axis; times inside a break map into the break."""
        for part in self.parts:
            if time <= part.end:
                if time <= part.start or part.end == part.start:
                    return part.f0
                return part.f0 + (part.f1 - part.f0) * (time - part.start) / (part.end - part.start)
        return 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "unit": self.unit,
            "parts": [part.to_json() for part in self.parts],
        }


def _clusters(intervals: Iterable[tuple[float, float]]) -> list[list[float]]:
    merged: list[list[float]] = []
    for start, end in sorted((min(a, b), max(a, b)) for a, b in intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def fit_axis(
    intervals: Iterable[tuple[float, float]], *, idle_ms: float = IDLE_MS, idle_share: float = IDLE_SHARE
) -> Axis:
    """An axis over ``intervals`` (ms) with idle gaps collapsed.

    Args:
        intervals: ``(start, end)`` of everything drawn (attempts, waits, commit marks).
        idle_ms: A gap shorter than this is drawn to scale.
        idle_share: A gap no longer than this share of the active time is drawn to scale.
    """
    clusters = _clusters(intervals)
    if not clusters:
        return Axis((), "ms")
    active = sum(end - start for start, end in clusters)
    runs: list[list[float]] = [list(clusters[0])]
    gaps: list[tuple[float, float]] = []
    for start, end in clusters[1:]:
        gap = start - runs[-1][1]
        if gap >= idle_ms and gap > idle_share * active:
            gaps.append((runs[-1][1], start))
            runs.append([start, end])
        else:
            runs[-1][1] = end
    durations = [max(end - start, 1e-3) for start, end in runs]
    break_share = min(BREAK_SHARE, BREAKS_MAX / len(gaps)) if gaps else 0.0
    # Bursts between breaks share the width half by duration, half equally: a short burst
    # after an idle minute (often the one just run) still gets room.
    room = 1.0 - break_share * len(gaps)
    total = sum(durations)
    shares = [room * (0.5 * duration / total + 0.5 / len(runs)) for duration in durations]
    parts: list[AxisPart] = []
    position = 0.0
    for index, (start, end) in enumerate(runs):
        width = shares[index]
        parts.append(AxisPart("time", start, end, round(position, 6), round(position + width, 6)))
        position += width
        if index < len(gaps):
            gap_start, gap_end = gaps[index]
            parts.append(AxisPart("break", gap_start, gap_end, round(position, 6), round(position + break_share, 6)))
            position += break_share
    last = parts[-1]
    parts[-1] = AxisPart(last.kind, last.start, last.end, last.f0, 1.0)
    shown = sum(end - start for start, end in runs)
    return Axis(tuple(parts), unit_for(shown))


def unit_for(span_ms: float) -> str:
    """``"ms"`` below 2 s, ``"s"`` below 2 min, else ``"min"``."""
    if span_ms < 2000:
        return "ms"
    if span_ms < 120_000:
        return "s"
    return "min"


def format_duration(ms: float, unit: str | None = None) -> str:
    """``ms`` in a readable unit: ``"850 ms"``, ``"1.5 s"``, ``"2.3 min"``.

    >>> format_duration(0.25), format_duration(850), format_duration(1500), format_duration(138_000)
    ('0.25 ms', '850 ms', '1.5 s', '2.3 min')
    """
    if unit is None:
        unit = "ms" if abs(ms) < 1000 else "s" if abs(ms) < 60_000 else "min"
    if unit == "min":
        return f"{ms / 60_000:.1f} min"
    if unit == "s":
        return f"{ms / 1000:.1f} s" if abs(ms) < 10_000 else f"{ms / 1000:.0f} s"
    if abs(ms) < 10:
        return f"{ms:.2f}".rstrip("0").rstrip(".") + " ms"
    return f"{ms:.0f} ms"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def summary(transactions: Sequence[dict[str, Any]], bars: Sequence[dict[str, Any]], *, total_attempts: int) -> str:
    """One line a newcomer can read: how many transactions and attempts, conflicts, the hottest key.

    Args:
        transactions: Transaction dicts (``wait`` ms each).
        bars: Attempt dicts (``outcome``, ``conflict_keys``, ``write``).
        total_attempts: Attempts ever seen (more than ``len(bars)`` when the timeline is capped).
    """
    if not bars:
        return "No transactions yet: they appear here while requests run."
    conflicts = [bar for bar in bars if bar["outcome"] in ("conflict", "giveup")]
    parts = [_plural(len(transactions), "transaction"), _plural(len(bars), "attempt")]
    if conflicts:
        parts.append(_plural(len(conflicts), "conflict"))
        hot = Counter(key for bar in conflicts for key in bar["conflict_keys"])
    else:
        parts.append("no conflicts")
        hot = Counter(key for bar in bars for key in bar["write"])
    if hot:
        key, _ = min(hot.items(), key=lambda item: (-item[1], item[0]))
        parts.append(f"hottest key `{key}`")
    waits = [txn["wait"] for txn in transactions if txn.get("wait", 0) >= WAIT_SHOWN_MS]
    if waits:
        parts.append(f"{_plural(len(waits), 'transaction')} waited {format_duration(sum(waits))} (input gate)")
    if total_attempts > len(bars):
        parts.append(f"showing the last {len(bars):,} of {total_attempts:,} attempts")
    return " · ".join(parts)
