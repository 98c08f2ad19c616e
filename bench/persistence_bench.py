"""Persistence benchmark: peers-bench scenario (h) ``/inc`` on one object, per storage backend.

Runs ``h_persist_inc_one_object`` (N sequential ``/inc`` through ``dispatch_fetch`` on one
object after a warm-up) for memory, file (SQLite directory per object) and Redis, then
``h2_persist_reopen`` (a new ``Miniflare`` on the same data reads the count back; disk bytes
for files, ``MEMORY USAGE`` bytes for Redis). Prints one JSON line per scenario in the shape of
``peers-bench/lib.mjs`` (``impl``, ``version``, ``scenario``, ``storage``, ``rps``,
``median_ms``, ``p95_ms``, ``ok``, ``rss_mb`` ...), then a ``summary`` line with each rate
beside the in-memory one and beside Miniflare 2's file persistence (887 req/s,
``peers-bench/RESULTS.md``); the target is at least 5x that on disk.

    PYTHONPATH=. python bench/persistence_bench.py [--only memory,file,redis] [--redis URL]
        [--profile file] [--mf2]

``--mf2`` runs Miniflare 2's own harness in the same run (when node and /tmp/peers/mf2 are
installed) and compares with its measured file-persistence rate instead of RESULTS.md's.

Sizes: ``BENCH_N`` (default 2000) and ``BENCH_WARMUP`` (200), as in the harness. Redis: the
``--redis`` URL, else ``MFBOOK_TEST_REDIS_URL``, else a ``redis-server`` started on a free port.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peers_format import latency_stats, r4, rss_mb  # noqa: E402 - bench/ is on sys.path when run as a script
from peers_mf2 import run_mf2  # noqa: E402

import mfbook  # noqa: E402
from mfbook import Miniflare  # noqa: E402

PEERS = Path(os.environ.get("PEERS_BENCH", "/work/shared/peers-bench"))
N = int(os.environ.get("BENCH_N") or 2000)
WARMUP = int(os.environ.get("BENCH_WARMUP") or 200)
#: Miniflare 2.14.4, ``/inc`` with file persistence, median of 3 runs (peers-bench/RESULTS.md).
MF2_FILE_RPS = 887.0
TARGET_RATIO = 5.0


def emit(scenario: str, storage: str, data: dict[str, Any]) -> dict[str, Any]:
    line = {
        "impl": "mfbook",
        "version": mfbook.__version__,
        "python": platform.python_version(),
        "scenario": scenario,
        "storage": storage,
        **data,
        "rss_mb": r4(rss_mb()),
        "child_rss_mb": None,
    }
    print(json.dumps(line), flush=True)
    return line


def dir_bytes(root: Path) -> dict[str, int]:
    files = [path for path in root.rglob("*") if path.is_file()]
    return {"disk_bytes": sum(path.stat().st_size for path in files), "disk_files": len(files)}


def worker_options() -> dict[str, Any]:
    source = (PEERS / "worker.js").read_text()
    return {"script": source, "modules": True, "durable_objects": {"COUNTER": "Counter"}, "console": None}


def call(mf: Miniflare, path: str, name: str) -> str:
    response = mf.dispatch_fetch(f"http://localhost{path}?name={name}")
    body = response.text()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}: {body[:200]}")
    return body


def scenario_seq_inc(mf: Miniflare, storage: str, name: str, profile: cProfile.Profile | None) -> dict[str, Any]:
    for _ in range(WARMUP):
        call(mf, "/inc", name)
    lat = [0.0] * N
    last = ""
    if profile is not None:
        profile.enable()
    started = time.perf_counter()
    for index in range(N):
        begin = time.perf_counter()
        last = call(mf, "/inc", name)
        lat[index] = (time.perf_counter() - begin) * 1000
    total_ms = (time.perf_counter() - started) * 1000
    if profile is not None:
        profile.disable()
    return emit(
        "h_persist_inc_one_object",
        storage,
        {
            "n": N,
            "warmup": WARMUP,
            "rps": r4(N / total_ms * 1000),
            "total_ms": r4(total_ms),
            **latency_stats(lat),
            "ok": int(last) == WARMUP + N,
        },
    )


@contextmanager
def redis_url(explicit: str | None) -> Iterator[str | None]:
    url = explicit or os.environ.get("MFBOOK_TEST_REDIS_URL")
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as directory:
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                directory,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.kill()
            process.wait()


def redis_bytes(url: str, prefix: str) -> dict[str, int]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        total = sum(client.memory_usage(key) or 0 for key in keys)
        client.delete(*keys) if keys else None
        return {"redis_bytes": total, "redis_keys": len(keys)}
    finally:
        client.close()


def run_storage(kind: str, persist: dict[str, Any], profile: cProfile.Profile | None) -> dict[str, Any]:
    options = {**worker_options(), **persist}
    started = time.perf_counter()
    mf = Miniflare(**options)
    first = call(mf, "/inc", "cold")
    emit("f_cold_start", kind, {"cold_start_ms": r4((time.perf_counter() - started) * 1000), "ok": first == "1"})
    line = scenario_seq_inc(mf, kind, "h-file", profile)
    mf.dispose()
    if kind != "memory":
        with Miniflare(**options) as reopened:
            got = json.loads(call(reopened, "/get", "h-file"))
        extra = dir_bytes(Path(persist["durable_objects_persist"])) if kind == "file" else {}
        if kind == "redis":
            extra = redis_bytes(persist["durable_objects_persist"], persist["redis_prefix"])
        emit(
            "h2_persist_reopen",
            kind,
            {
                "persist": persist["durable_objects_persist"] if kind == "file" else "redis",
                "count_after_reopen": got["count"],
                **extra,
                "ok": got["count"] == WARMUP + N,
            },
        )
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="memory,file,redis", help="comma-separated storages to run")
    parser.add_argument("--redis", default=None, help="redis:// URL (default: MFBOOK_TEST_REDIS_URL or a local server)")
    parser.add_argument("--profile", default=None, help="cProfile the timed loop of this storage and print the top")
    parser.add_argument("--mf2", action="store_true", help="also run Miniflare 2 here and compare with its (h)")
    args = parser.parse_args()
    wanted = args.only.split(",")
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="mfbook-bench-") as directory, redis_url(args.redis) as url:
        for kind in wanted:
            profile = cProfile.Profile() if args.profile == kind else None
            if kind == "memory":
                persist: dict[str, Any] = {"durable_objects_persist": False}
            elif kind == "file":
                persist = {"durable_objects_persist": str(Path(directory) / "do")}
            elif kind == "redis":
                if url is None:
                    emit(
                        "h_persist_inc_one_object",
                        "redis",
                        {"skipped": "no Redis: pass --redis or install redis-server"},
                    )
                    continue
                persist = {"durable_objects_persist": url, "redis_prefix": f"mfbook-bench-{uuid.uuid4().hex[:8]}:"}
            else:
                parser.error(f"unknown storage {kind!r}")
            line = run_storage(kind, persist, profile)
            rates[kind] = float(line["rps"])
            if profile is not None:
                pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(35)
    mf2_rps, source = MF2_FILE_RPS, "peers-bench/RESULTS.md"
    if args.mf2:
        measured = mf2_file_rps()
        if measured is not None:
            mf2_rps, source = measured, "measured in this run"
    summary: dict[str, Any] = {
        "mf2_file_rps": r4(mf2_rps),
        "mf2_source": source,
        "target_ratio_vs_mf2_file": TARGET_RATIO,
    }
    for kind, rate in rates.items():
        summary[f"{kind}_rps"] = r4(rate)
        summary[f"{kind}_vs_mf2_file"] = r4(rate / mf2_rps)
        if "memory" in rates and kind != "memory":
            summary[f"{kind}_vs_memory"] = r4(rate / rates["memory"])
    if "file" in rates:
        summary["target_met"] = rates["file"] >= TARGET_RATIO * mf2_rps
    emit("summary", "persistence", summary)
    print(
        "\n# /inc req/s: "
        + ", ".join(f"{kind} {rate:,.0f}" for kind, rate in rates.items())
        + f"; Miniflare 2 on disk {mf2_rps:,.0f} ({source})"
        + (
            f"; file = {rates['file'] / mf2_rps:.2f}x Miniflare 2 (target {TARGET_RATIO:g}x)" if "file" in rates else ""
        ),
        file=sys.stderr,
    )


def mf2_file_rps() -> float | None:
    """Miniflare 2's ``/inc`` rate with file persistence, measured now (scenario h)."""
    lines = run_mf2(echo=False)
    for line in lines or []:
        if line.get("scenario") == "h_persist_inc_one_object" and line.get("storage") == "file" and line.get("rps"):
            return float(line["rps"])
    return None


if __name__ == "__main__":
    main()
