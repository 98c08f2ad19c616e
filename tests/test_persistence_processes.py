"""Several processes on one ``durable_objects_persist`` directory lose no transactional update."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mfbook import Miniflare

WORKER = """
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async fetch() {
    const n = await this.ctx.storage.transaction(async (txn) => {
      const next = ((await txn.get("n")) ?? 0) + 1;
      await txn.put("n", next);
      return next;
    });
    return new Response(String(n));
  }
}
export default { fetch: (request, env) => env.COUNTER.getByName("shared").fetch(request) };
"""

# Each process caches "n" in its object's read cache. `delay` holds the cross-process signal
# of each of that process's commits back (as a descheduled process does), which widened the
# window between a commit and its signal enough to lose updates before the fix.
CHILD = """
import sys, time
from mfbook import Miniflare
from mfbook.backends.commit_counter import CommitCounter

root, count, delay, worker = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
if delay:
    bump = CommitCounter.bump
    def late_bump(self):
        time.sleep(delay)
        bump(self)
    CommitCounter.bump = late_bump
with Miniflare(script=worker, modules=True, durable_objects={"COUNTER": "Counter"},
               durable_objects_persist=root, txn_max_attempts=100000, console=None) as mf:
    for _ in range(count):
        response = mf.dispatch_fetch("http://localhost/")
        assert response.status == 200, response.text()
print("ok")
"""


def run_processes(root: Path, runs: list[tuple[int, float]]) -> int:
    """Runs a process per ``(transactions, delay)`` at once; returns the final count."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(root), str(transactions), str(delay), WORKER],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for transactions, delay in runs
    ]
    for child in children:
        out, err = child.communicate(timeout=600)
        assert child.returncode == 0 and out.strip() == "ok", err
    with Miniflare(
        script=WORKER, modules=True, durable_objects={"COUNTER": "Counter"}, durable_objects_persist=str(root)
    ) as mf:
        storage = mf.get_durable_object_storage(mf.get_durable_object_namespace("COUNTER").id_from_name("shared"))
        return int(storage.get("n"))


@pytest.mark.parametrize(
    "runs",
    [[(500, 0.0)] * 4, [(300, 0.005), (1500, 0.0)]],
    ids=["4x500", "late-signal"],
)
def test_transactions_of_several_processes_lose_no_update(tmp_path: Path, runs: list[tuple[int, float]]) -> None:
    total = run_processes(tmp_path / "do", runs)
    assert total == sum(transactions for transactions, _ in runs)  # the difference was lost
