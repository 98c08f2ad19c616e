"""The notebook the browser test runs: a conflicting workload and both widgets.

``build_notebook()`` returns it as an ``nbformat`` notebook. The workload is deterministic:
the Python write waits until the JS transaction has read ``count`` (watching the trace), and
the two Python transactions on ``bob`` meet at a barrier after their reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat

WORKER = (Path(__file__).parent / "fixtures" / "conflict_worker.js").read_text()

SETUP = """\
import threading, time
from datetime import datetime, timezone
from mfbook import Miniflare
from mfbook.codec import JSMap
from mfbook.widgets import StorageBrowser, Timeline

WORKER = {worker!r}
mf = Miniflare(script=WORKER, modules=True, durable_objects={{"COUNTER": "Counter"}})
counters = mf.get_durable_object_namespace("COUNTER")
alice, bob, carol = counters.storage("alice"), counters.storage("bob"), counters.storage("carol")
alice.put({{
    "profile": {{"name": "Alice", "roles": ["admin", "ops"], "quota": {{"daily": 500, "used": 37}}}},
    "tags": {{"web", "api", "beta"}},
    "visits": JSMap([("2024-01-01", 3), ("2024-01-02", 5)]),
    "avatar": bytes(range(16)),
    "joined": datetime(2023, 5, 17, 9, 30, tzinfo=timezone.utc),
    "notes": "Alice likes long notes. " * 12,
}})
carol.put({{f"item:{{index:03d}}": {{"index": index}} for index in range(120)}})
"""

SHOW_STORAGE = 'browser = StorageBrowser(mf, "COUNTER", "alice", names=["bob", "carol"], page_size=12)\nbrowser'

SHOW_TIMELINE = "timeline = Timeline(mf)\ntimeline"

WORKLOAD = """\
def increment(wait_ms):
    mf.dispatch_fetch(f"http://localhost/inc?name=alice&wait={wait_ms}")

# 1. A JS transaction reads "count" and waits; a Python write lands meanwhile -> conflict, retry.
for round_number in range(2):
    reads = len(mf.trace.events(kind="txn.read"))
    request = threading.Thread(target=increment, args=(120,))
    request.start()
    while len(mf.trace.events(kind="txn.read")) == reads:
        time.sleep(0.002)
    alice.put("count", 100 * (round_number + 1))
    request.join()

# 2. Two Python transactions on bob read "balance", meet, then write -> one conflicts and retries.
barrier = threading.Barrier(2)

def deposit(amount):
    attempts = []
    def body(txn):
        attempts.append(1)
        balance = txn.get("balance") or 0
        if len(attempts) == 1:
            barrier.wait(timeout=10)
        time.sleep(0.03)
        txn.put("balance", balance + amount)
    bob.transaction(body)

depositors = [threading.Thread(target=deposit, args=(amount,)) for amount in (10, 25)]
for thread in depositors:
    thread.start()
for thread in depositors:
    thread.join()
time.sleep(0.5)  # let the live views catch up
print("workload done:", timeline.model.counts(), sorted(alice.list()))
"""


def build_notebook() -> Any:
    """The test notebook (setup, storage browser, timeline, workload)."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell(SETUP.format(worker=WORKER)),
        nbformat.v4.new_code_cell(SHOW_STORAGE),
        nbformat.v4.new_code_cell(SHOW_TIMELINE),
        nbformat.v4.new_code_cell(WORKLOAD),
    ]
    return notebook
