"""Runs the real Miniflare 2 harness (``peers-bench/bench-mf2.mjs``) inside a benchmark run.

The issues' targets are ratios against Miniflare 2 "in one run on the same machine": the
benchmarks call :func:`run_mf2` (when ``node`` and ``/tmp/peers/mf2`` are installed, see
``peers-bench/README.md``) and compare with its JSON lines instead of ``RESULTS.md``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

PEERS = Path(os.environ.get("PEERS_BENCH", "/work/shared/peers-bench"))
PEERS_ROOT = Path(os.environ.get("PEERS_ROOT", "/tmp/peers"))


def run_mf2(*, echo: bool = True) -> list[dict[str, Any]] | None:
    """All JSON lines of one Miniflare 2 harness run, or None when it cannot run here."""
    node = shutil.which("node")
    mf_dir = PEERS_ROOT / "mf2"
    if node is None or not mf_dir.is_dir():
        print(
            f"# Miniflare 2 not run: {'node missing' if node is None else f'{mf_dir} not installed'} "
            "(see peers-bench/README.md); comparing with RESULTS.md",
            file=sys.stderr,
        )
        return None
    persist = PEERS_ROOT / "data2-mfbook-bench"
    shutil.rmtree(persist, ignore_errors=True)  # scenario h starts from an empty directory
    env = {**os.environ, "MF_DIR": str(mf_dir), "PERSIST_DIR": str(persist)}
    result = subprocess.run(
        [node, "--experimental-vm-modules", str(PEERS / "bench-mf2.mjs")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    lines: list[dict[str, Any]] = []
    for raw in result.stdout.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if echo:
            print(raw, flush=True)
        lines.append(line)
    if not lines:
        print(f"# Miniflare 2 run produced nothing (exit {result.returncode}): {result.stderr[-500:]}", file=sys.stderr)
        return None
    return lines
