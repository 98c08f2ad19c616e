"""The notebooks the browser tests run.

``build_notebook()``: a conflicting workload and both widgets. The workload is deterministic:
the Python write waits until the JS transaction has read ``count`` (watching the trace), and
the two Python transactions on ``bob`` meet at a barrier after their reads. Before it, the
trace clock jumps a minute ahead (an injected clock instead of sleeping), so the timeline has
an idle minute between the first request and the conflicts, like the quickstart.

``build_load_notebook()``: a sustained conflicting workload on a background thread, with a
live timeline, for the "a cell still answers quickly" check.
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
alice.put("session:" + "x" * 172, "a 180-character key")

# An injected trace clock: the first request happens, then a minute of idle time passes.
skew = [0.0]
mf.trace._clock = lambda: time.monotonic() + skew[0]  # test hook: no 60 s sleep
mf.dispatch_fetch("http://localhost/inc?name=carol&wait=1")
skew[0] += 60.0
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


LOAD = """\
import threading, time
from mfbook import Miniflare
from mfbook.widgets import Timeline

WORKER = {worker!r}
mf = Miniflare(script=WORKER, modules=True, durable_objects={{"COUNTER": "Counter"}})
alice = mf.get_durable_object_namespace("COUNTER").storage("alice")
stop = threading.Event()
done = []

def requests():
    while not stop.is_set():
        mf.dispatch_fetch("http://localhost/inc?name=alice&wait=2")
        done.append(1)

def writes():  # a write every 15 ms lands inside some transactions: they conflict and retry
    while not stop.is_set():
        alice.put("count", len(done))
        time.sleep(0.015)

workers = [threading.Thread(target=requests, daemon=True) for _ in range(2)]
workers.append(threading.Thread(target=writes, daemon=True))
for thread in workers:
    thread.start()
timeline = Timeline(mf)
timeline
"""


def build_load_notebook() -> Any:
    """A notebook that leaves a conflicting workload running beside a live timeline."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(LOAD.format(worker=WORKER))]
    return notebook


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
