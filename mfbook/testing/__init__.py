"""Helpers for testing workers with pytest (the ``miniflare`` fixture lives in :mod:`.plugin`).

The fixture hands each test a :class:`~mfbook.Miniflare` whose storage is the one the fixture
set up; these functions reach inside it the way ``@cloudflare/vitest-pool-workers`` does for
JavaScript tests:

- :func:`instance_state` — the fields of a live object's instance (``this.count``, ...);
- :func:`object_storage` — every key an object stores, decoded;
- :func:`run_alarm` — run an object's scheduled alarm now;
- :func:`recorded` — the trace of a block of code, with assertions such as "this request
  committed exactly one transaction".

>>> from mfbook.testing import recorded
>>> def test_increment_is_one_transaction(miniflare):  # doctest: +SKIP
...     with recorded(miniflare) as trace:
...         miniflare.dispatch_fetch("http://localhost/txn")
...     trace.assert_transactions(committed=1, conflicts=0)
"""

from __future__ import annotations

from .probes import OpaqueValue, instance_state, object_storage, run_alarm
from .trace_window import TraceWindow, TransactionSummary, recorded

__all__ = [
    "OpaqueValue",
    "TraceWindow",
    "TransactionSummary",
    "instance_state",
    "object_storage",
    "recorded",
    "run_alarm",
]
