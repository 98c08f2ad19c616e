"""The timeline's axis: fitted to the data, idle gaps as breaks, units, summary line."""

from __future__ import annotations

import pytest

from mfbook.widgets.timeline_axis import fit_axis, format_duration, summary, unit_for


def test_axis_starts_at_the_first_activity_not_at_zero() -> None:
    axis = fit_axis([(60_000.0, 60_100.0), (60_050.0, 60_200.0)])
    assert (axis.start, axis.end, axis.unit) == (60_000.0, 60_200.0, "ms")
    assert [(part.kind, part.f0, part.f1) for part in axis.parts] == [("time", 0.0, 1.0)]
    assert axis.fraction(60_100.0) == pytest.approx(0.5)


def test_an_idle_minute_collapses_into_a_marked_break() -> None:
    axis = fit_axis([(0.0, 100.0), (60_100.0, 60_200.0)])
    assert [(part.kind, part.start, part.end) for part in axis.parts] == [
        ("time", 0.0, 100.0),
        ("break", 100.0, 60_100.0),
        ("time", 60_100.0, 60_200.0),
    ]
    first, gap, last = axis.parts
    # The break takes 4 % of the axis; the two bursts share the rest by duration.
    assert (first.f0, first.f1, gap.f1, last.f1) == (0.0, 0.48, 0.52, 1.0)
    # A 100 ms burst after the idle minute spans almost half the axis, not 0.2 %.
    assert axis.fraction(60_200.0) - axis.fraction(60_100.0) == pytest.approx(0.48)
    assert axis.unit == "ms"


def test_pauses_in_a_steady_workload_stay_to_scale() -> None:
    # 30 s of activity with a 1.5 s pause: shorter than a quarter of the active time.
    axis = fit_axis([(0.0, 15_000.0), (16_500.0, 31_500.0)])
    assert [part.kind for part in axis.parts] == ["time"]
    assert axis.unit == "s"


def test_short_gaps_never_break_and_many_breaks_share_a_capped_width() -> None:
    assert [part.kind for part in fit_axis([(0.0, 1.0), (500.0, 501.0)]).parts] == ["time"]
    bursts = [(index * 10_000.0, index * 10_000.0 + 5) for index in range(11)]
    axis = fit_axis(bursts)
    assert len(axis.breaks) == 10
    assert sum(part.f1 - part.f0 for part in axis.breaks) == pytest.approx(0.3, abs=1e-5)


def test_empty_axis() -> None:
    axis = fit_axis([])
    assert (axis.parts, axis.start, axis.end, axis.unit) == ((), 0.0, 0.0, "ms")


def test_units_are_chosen_from_the_span() -> None:
    assert [unit_for(ms) for ms in (5, 1999, 2000, 119_999, 400_000)] == ["ms", "ms", "s", "s", "min"]
    assert [format_duration(ms) for ms in (0.5, 12.4, 850, 1500, 42_000, 400_000)] == [
        "0.5 ms",
        "12 ms",
        "850 ms",
        "1.5 s",
        "42 s",
        "6.7 min",
    ]


def _bar(outcome: str, *, conflict: tuple[str, ...] = (), write: tuple[str, ...] = ()) -> dict[str, object]:
    return {"outcome": outcome, "conflict_keys": list(conflict), "write": list(write)}


def test_summary_names_counts_conflicts_and_the_hottest_key() -> None:
    txns = [{"wait": 0.0}, {"wait": 0.0}]
    bars = [
        _bar("conflict", conflict=("count",)),
        _bar("conflict", conflict=("count", "updated")),
        _bar("committed", write=("count",)),
        _bar("committed", write=("balance",)),
    ]
    assert summary(txns, bars, total_attempts=4) == "2 transactions · 4 attempts · 2 conflicts · hottest key `count`"


def test_summary_without_conflicts_shows_waiting_and_the_cap() -> None:
    txns = [{"wait": 0.0}, {"wait": 120.0}, {"wait": 1380.0}]
    bars = [_bar("committed", write=("b", "a")), _bar("committed", write=("a",)), _bar("committed", write=("b",))]
    assert summary(txns, bars, total_attempts=9000) == (
        "3 transactions · 3 attempts · no conflicts · hottest key `a` · "
        "2 transactions waited 1.5 s (input gate) · showing the last 3 of 9,000 attempts"
    )
    assert summary([], [], total_attempts=0).startswith("No transactions yet")


def test_a_short_burst_after_a_break_still_gets_a_fair_share_of_the_width() -> None:
    axis = fit_axis([(0.0, 90.0), (60_090.0, 60_095.0)])
    first, gap, last = axis.parts
    # Half by duration, half equally: 0.96 * (0.5 * 5/95 + 0.25) of the axis for the 5 ms burst.
    assert last.f1 - last.f0 == pytest.approx(0.96 * (0.5 * 5 / 95 + 0.25), abs=1e-5)
    assert last.f1 - last.f0 > 0.25
    # Within a burst, time is to scale.
    assert axis.fraction(45.0) == pytest.approx(first.f1 / 2)
