"""SQL benchmark: a SQLite-backed Durable Object in mfbook beside Miniflare 4, in one run.

Scenarios (worker: ``bench/sql_worker.js``, the same file for both):

- ``sql_inc``: N sequential ``dispatch_fetch("/inc")``; the worker calls the object's RPC
  method ``increment()``, one ``UPDATE counter ... RETURNING n``.
- ``sql_select_1000``: sequential ``/select``; the object runs a 1,000-row ``SELECT`` and
  materialises it with ``toArray()``.

mfbook runs in memory (``--persist DIR`` for the file backend). Miniflare 4 (when ``node``
and ``/tmp/peers/mf4`` are installed: ``../shared/peers-bench/install.sh``) runs
``bench/sql_mf4.mjs``: workerd's SQLite-backed objects live in SQLite files in a temporary
directory (its in-memory mode has no SQL API). Prints one JSON line per scenario and
implementation, then a ``summary`` line with the ratios (the target: at least 3x Miniflare 4).

    python bench/sql_bench.py [--persist DIR] [--no-mf4]

Sizes: ``BENCH_N`` (default 2000), ``BENCH_SELECT_N`` (300), ``BENCH_WARMUP`` (100).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mfbook  # noqa: E402
from mfbook import Miniflare  # noqa: E402

HERE = Path(__file__).resolve().parent
N = int(os.environ.get("BENCH_N", "2000"))
SELECT_N = int(os.environ.get("BENCH_SELECT_N", "300"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "100"))
PEERS_ROOT = Path(os.environ.get("PEERS_ROOT", "/tmp/peers"))


def run_mfbook(persist: str | None) -> list[dict[str, Any]]:
    lines = []
    with Miniflare(
        script=(HERE / "sql_worker.js").read_text(),
        modules=True,
        durable_objects={"COUNTER": {"class_name": "SqlCounter", "sqlite": True}},
        durable_objects_persist=persist,
        trace_maxlen=1000,
    ) as mf:
        for scenario, route, count in (("sql_inc", "/inc", N), ("sql_select_1000", "/select", SELECT_N)):
            for _ in range(WARMUP):
                mf.dispatch_fetch(f"http://localhost{route}").text()
            started = time.perf_counter()
            last = ""
            for _ in range(count):
                response = mf.dispatch_fetch(f"http://localhost{route}")
                last = response.text()
                if response.status != 200:
                    raise SystemExit(f"{route}: {response.status} {last}")
            seconds = time.perf_counter() - started
            line = {
                "impl": "mfbook",
                "version": mfbook.__version__,
                "scenario": scenario,
                "storage": "file" if persist else "memory",
                "n": count,
                "rps": round(count / seconds, 1),
                "last": last,
            }
            print(json.dumps(line), flush=True)
            lines.append(line)
    return lines


def run_mf4() -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None or not (PEERS_ROOT / "mf4").is_dir():
        print("# Miniflare 4 not run: node or /tmp/peers/mf4 missing (see peers-bench/README.md)", file=sys.stderr)
        return []
    env = {**os.environ, "MF_DIR": str(PEERS_ROOT / "mf4"), "BENCH_N": str(N), "BENCH_SELECT_N": str(SELECT_N)}
    result = subprocess.run(
        [node, str(HERE / "sql_mf4.mjs")], env=env, capture_output=True, text=True, timeout=900, check=False
    )
    lines = []
    for raw in result.stdout.splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue
        print(raw, flush=True)
    if not lines:
        print(f"# Miniflare 4 produced nothing (exit {result.returncode}): {result.stderr[-500:]}", file=sys.stderr)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persist", help="run mfbook on the file backend in this directory")
    parser.add_argument("--no-mf4", action="store_true", help="skip Miniflare 4")
    args = parser.parse_args()
    if args.persist:
        shutil.rmtree(args.persist, ignore_errors=True)
    ours = run_mfbook(args.persist)
    peers = [] if args.no_mf4 else run_mf4()
    by_scenario = {line["scenario"]: line["rps"] for line in peers}
    summary = {
        line["scenario"]: {
            "mfbook_rps": line["rps"],
            "mf4_rps": by_scenario.get(line["scenario"]),
            "ratio": round(line["rps"] / by_scenario[line["scenario"]], 2) if line["scenario"] in by_scenario else None,
        }
        for line in ours
    }
    print(json.dumps({"summary": summary, "target": ">= 3x Miniflare 4"}), flush=True)


if __name__ == "__main__":
    main()
