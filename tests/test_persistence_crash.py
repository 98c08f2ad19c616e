"""A Miniflare process killed with SIGKILL in the middle of writes leaves whole batches only."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mfbook import Miniflare

BATCH_WORKER = r"""
export class Writer {
  constructor(state) { this.storage = state.storage; }
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/batch") {
      const batch = Number(url.searchParams.get("i"));
      const entries = {};
      // every batch rewrites the same 50 keys and adds 50 new ones, in ONE put(object)
      for (let j = 0; j < 25; j++) entries["same-" + j] = batch;
      for (let j = 0; j < 25; j++) entries["b" + String(batch).padStart(6, "0") + "-" + j] = "x".repeat(200);
      await this.storage.put(entries);
      return new Response(String(batch));
    }
    const all = await this.storage.list();
    return Response.json(Object.fromEntries(all));
  }
}
export default {
  fetch: (request, env) => env.WRITER.get(env.WRITER.idFromName("crash")).fetch(request),
};
"""

CHILD = r"""
import sys
from mfbook import Miniflare

source, persist, prefix, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
mf = Miniflare(script=open(source).read(), modules=True, durable_objects={"WRITER": "Writer"},
               durable_objects_persist=persist, redis_prefix=prefix, console=None)
while True:
    response = mf.dispatch_fetch(f"http://localhost/batch?i={batch}")
    assert response.status == 200, response.text()
    batch += 1
    if batch % 10 == 0:
        print(batch, flush=True)
"""


def start_writer(tmp_path: Path, options: dict[str, Any], first_batch: int) -> subprocess.Popen[str]:
    source = tmp_path / "worker.js"
    source.write_text(BATCH_WORKER)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]),
    )
    arguments = [
        str(source),
        options["durable_objects_persist"],
        options.get("redis_prefix", "mfbook:"),
        str(first_batch),
    ]
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def read_state(options: dict[str, Any]) -> dict[str, Any]:
    with Miniflare(
        script=BATCH_WORKER, modules=True, durable_objects={"WRITER": "Writer"}, console=None, **options
    ) as mf:
        response = mf.dispatch_fetch("http://localhost/state")
        assert response.status == 200, response.text()
        state: dict[str, Any] = response.json()
        return state


def assert_whole_batches(state: dict[str, Any]) -> int:
    """Checks the state holds batches 0..n-1 completely; returns n."""
    same = {state[f"same-{j}"] for j in range(25)} if state else {-1}
    assert len(same) == 1, f"the 25 rewritten keys come from different batches: {sorted(same)}"
    last = same.pop()
    new_keys = [key for key in state if key.startswith("b")]
    assert len(new_keys) == 25 * (last + 1), "a batch's new keys are missing or partial"
    batches = {key.split("-")[0] for key in new_keys}
    assert batches == {f"b{index:06d}" for index in range(last + 1)}
    assert len(state) == 25 + 25 * (last + 1)
    return last + 1


@pytest.mark.parametrize("persist_options", ["file", "redis"], indirect=True)
def test_sigkill_mid_write_leaves_only_whole_batches(persist_options: dict[str, Any], tmp_path: Path) -> None:
    seen = 0
    for round_number in range(3):
        with start_writer(tmp_path, persist_options, seen) as child:
            try:
                assert child.stdout is not None
                target = seen + 20 + random.randrange(20)
                line = child.stdout.readline()
                while line and int(line) < target:  # the child prints how many batches it wrote
                    line = child.stdout.readline()
                assert line, f"the writer died: {child.stderr.read() if child.stderr else ''}"
                time.sleep(random.uniform(0, 0.02))
            finally:
                child.send_signal(signal.SIGKILL)
                child.wait(timeout=10)
        assert child.returncode == -signal.SIGKILL
        count = assert_whole_batches(read_state(persist_options))
        assert count >= target, f"round {round_number}: {count} batches survived, the child reported {target}"
        seen = count
