"""Number formatting shared by the benchmarks: the peers-bench harness's (``lib.mjs``) conventions.

Latencies are per request in milliseconds; percentiles use the nearest-rank method; every
figure is rounded to 4 decimals; RSS is read from ``/proc/self/status``.
"""

from __future__ import annotations

import math
import statistics


def r4(value: float | None) -> float | None:
    """Rounds like the harness (4 decimals); None stays None."""
    return None if value is None else round(value * 10000) / 10000


def latency_stats(lat: list[float]) -> dict[str, float | None]:
    """median/mean/p95/p99/min/max of latencies in ms (nearest-rank percentiles)."""
    ordered = sorted(lat)
    n = len(ordered)
    if not n:
        return {}

    def rank(p: float) -> float:
        return ordered[min(n - 1, max(0, math.ceil(p * n) - 1))]

    return {
        "median_ms": r4(statistics.median(ordered)),
        "mean_ms": r4(sum(ordered) / n),
        "p95_ms": r4(rank(0.95)),
        "p99_ms": r4(rank(0.99)),
        "min_ms": r4(ordered[0]),
        "max_ms": r4(ordered[-1]),
    }


def rss_mb() -> float:
    """Resident set size of this process in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
