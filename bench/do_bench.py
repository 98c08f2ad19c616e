"""Durable Object benchmark: ``../shared/peers-bench/worker.js`` through mfbook.

Prints the same JSON lines as the peers-bench harness (``lib.mjs``: scenario names, metric
names, ``ok`` checks) with ``impl: "mfbook"``, then a summary comparing with Miniflare 2:
measured in the same run when ``node`` and ``/tmp/peers/mf2`` are installed (``--mf2``),
otherwise the figures of ``peers-bench/RESULTS.md``.

    PYTHONPATH=. python bench/do_bench.py [--only a,b,c,d,e] [--mf2] [--out file.jsonl]

Sizes come from the same environment variables as the harness (``BENCH_N`` ...).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import sys
import threading
import time
from typing import Any

from peers_format import latency_stats, r4, rss_mb  # noqa: E402 - bench/ is on sys.path when run as a script
from peers_mf2 import PEERS  # noqa: E402
from peers_mf2 import run_mf2 as run_peers_mf2


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value else default


CFG = {
    "N": env_int("BENCH_N", 2000),
    "WARMUP": env_int("BENCH_WARMUP", 200),
    "OBJECTS": env_int("BENCH_OBJECTS", 100),
    "PER_OBJECT": env_int("BENCH_PER_OBJECT", 20),
    "TXN_CONC": env_int("BENCH_TXN_CONC", 200),
    "TXN_ROUNDS": env_int("BENCH_TXN_ROUNDS", 5),
    "PUT_N": min(128, env_int("BENCH_PUT_N", 128)),
    "PUTLIST_ITERS": env_int("BENCH_PUTLIST_ITERS", 200),
}

# Miniflare 2.14.4, memory, medians of 3 runs (peers-bench/RESULTS.md, 2-vCPU VM).
MF2_RESULTS = {
    "a_dispatch_inc_one_object": {"rps": 5263, "median_ms": 0.16},
    "b_stub_inc_one_object": {"rps": 11247, "median_ms": 0.08},
    "c1_many_objects_sequential": {"rps": 7431},
    "c2_many_objects_concurrent": {"rps": 7761},
    "d_txn_concurrent_one_object": {"completed_per_s": 8001},
    "e_put128_then_list": {"put_median_ms": 0.36, "list_median_ms": 0.50, "pair_median_ms": 0.90},
    "f_cold_start": {"cold_start_ms": 15.2},
    "g_peak_rss": {"node_vmhwm_mb": 127},
}

now = lambda: time.perf_counter() * 1000  # noqa: E731 - milliseconds, like lib.mjs


def vmhwm_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MemoryMonitor:
    """Samples RSS every 20 ms (like lib.mjs's MemoryMonitor)."""

    def __init__(self) -> None:
        self.max_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.max_mb = max(self.max_mb, rss_mb())

    def snapshot(self) -> dict[str, Any]:
        value = rss_mb()
        self.max_mb = max(self.max_mb, value)
        return {"rss_mb": r4(value), "child_rss_mb": None}

    def final(self) -> dict[str, Any]:
        self._stop.set()
        self.snapshot()
        return {
            "node_rss_max_mb": r4(self.max_mb),
            "node_vmhwm_mb": r4(vmhwm_mb()),
            "child_vmhwm_max_mb": None,
            "node_plus_children_max_mb": r4(self.max_mb),
        }


def url(path: str, name: str) -> str:
    from urllib.parse import quote

    return f"http://localhost{path}{'&' if '?' in path else '?'}name={quote(name)}"


def read_ok(response: Any, what: str) -> str:
    body = response.text()
    if response.status != 200:
        raise RuntimeError(f"{what}: HTTP {response.status}: {body[:200]}")
    return body


class Bench:
    def __init__(self, only: set[str] | None, import_ms: float) -> None:
        from mfbook import Miniflare, __version__

        self.import_ms = import_ms

        self.Miniflare = Miniflare
        self.only = only
        self.mem = MemoryMonitor()
        self.lines: list[dict[str, Any]] = []
        self.base = {"impl": "mfbook", "version": __version__, "node": None, "python": platform.python_version()}
        self.source = (PEERS / "worker.js").read_text()

    def emit(self, scenario: str, storage: str | None, data: dict[str, Any]) -> None:
        line = {**self.base, "scenario": scenario, "storage": storage, **data, **self.mem.snapshot()}
        self.lines.append(line)
        print(json.dumps(line), flush=True)

    @staticmethod
    def check(ok: bool, message: str) -> bool:
        if not ok:
            print(f"CHECK FAILED: {message}", file=sys.stderr)
        return ok

    def new(self) -> Any:
        return self.Miniflare(
            script=self.source, modules=True, durable_objects={"COUNTER": "Counter"}, durable_objects_persist=False
        )

    def want(self, scenario: str) -> bool:
        return self.only is None or scenario in self.only

    # ------------------------------------------------------------------ scenarios
    def cold_start(self, import_ms: float | None) -> Any:
        t0 = now()
        mf = self.new()
        t_ctor = now()
        body = read_ok(mf.dispatch_fetch(url("/inc", "cold")), "/inc")
        t1 = now()
        return mf, {
            "cold_start_ms": r4(t1 - t0),
            "ctor_ms": r4(t_ctor - t0),
            "ready_ms": None,
            "first_response_after_ready_ms": r4(t1 - t_ctor),
            "ok": self.check(body == "1", f"cold start {body}"),
            **({"import_ms": r4(import_ms)} if import_ms is not None else {}),
        }

    def warmup(self, mf: Any) -> None:
        n = CFG["WARMUP"]
        if not n:
            return
        for _ in range(n):
            mf.dispatch_fetch(url("/inc", "w-memory"))
        stub = mf.get_durable_object_namespace("COUNTER").get_by_name("wb-memory")
        for _ in range((n + 1) // 2):
            stub.fetch("http://localhost/inc")

        async def concurrent() -> None:
            async def client(i: int) -> None:
                for _ in range(4):
                    await mf.dispatch_fetch_async(url("/inc", f"wc-memory-{i}"))

            await asyncio.gather(*(client(i) for i in range(50)))
            for _ in range(2):
                await asyncio.gather(*(mf.dispatch_fetch_async(url("/txn", "wd-memory")) for _ in range(100)))

        asyncio.run(concurrent())
        for _ in range(20):
            mf.dispatch_fetch(url(f"/put?n={CFG['PUT_N']}", "we-memory"))
            mf.dispatch_fetch(url("/list", "we-memory"))

    def seq_inc(self, scenario: str, call: Any) -> None:
        for _ in range(CFG["WARMUP"]):
            call()
        lat = []
        last = None
        t0 = now()
        for _ in range(CFG["N"]):
            s = now()
            last = call()
            lat.append(now() - s)
        total = now() - t0
        self.emit(
            scenario,
            "memory",
            {
                "n": CFG["N"],
                "warmup": CFG["WARMUP"],
                "rps": r4(CFG["N"] / total * 1000),
                "total_ms": r4(total),
                **latency_stats(lat),
                "ok": self.check(int(last or 0) == CFG["WARMUP"] + CFG["N"], f"{scenario}: {last}"),
            },
        )

    def run(self) -> None:
        mf, data = self.cold_start(self.import_ms)
        self.emit("f_cold_start", "memory", data)
        self.warmup(mf)
        if self.want("a"):
            self.seq_inc(
                "a_dispatch_inc_one_object", lambda: read_ok(mf.dispatch_fetch(url("/inc", "a-memory")), "/inc")
            )
        if self.want("b"):
            stub = mf.get_durable_object_namespace("COUNTER").get(
                mf.get_durable_object_namespace("COUNTER").id_from_name("b-memory")
            )
            self.seq_inc("b_stub_inc_one_object", lambda: read_ok(stub.fetch("http://localhost/inc"), "/inc"))
        if self.want("c"):
            self.many_objects(mf)
        if self.want("d"):
            self.transactions(mf)
        if self.want("e"):
            self.put_list(mf)
        mf.dispose()
        second, data = self.cold_start(None)
        self.emit("f2_cold_start_warm_process", "memory", data)
        second.dispose()
        self.emit("g_peak_rss", None, {**self.mem.final(), "elapsed_s": r4((now() - STARTED) / 1000)})

    def many_objects(self, mf: Any) -> None:
        objects, per_object = CFG["OBJECTS"], CFG["PER_OBJECT"]
        names = [f"c1-memory-{i}" for i in range(objects)]
        lat, first, bad = [], [], 0
        t0 = now()
        for r in range(per_object):
            for name in names:
                s = now()
                value = read_ok(mf.dispatch_fetch(url("/inc", name)), "/inc")
                d = now() - s
                lat.append(d)
                if r == 0:
                    first.append(d)
                bad += int(value) != r + 1
        total_ms = now() - t0
        total = objects * per_object
        self.emit(
            "c1_many_objects_sequential",
            "memory",
            {
                "objects": objects,
                "per_object": per_object,
                "n": total,
                "rps": r4(total / total_ms * 1000),
                "total_ms": r4(total_ms),
                **latency_stats(lat),
                "first_request_median_ms": latency_stats(first)["median_ms"],
                "ok": self.check(bad == 0, f"c1: {bad} unexpected counts"),
            },
        )

        lat2: list[float] = []
        bad2 = 0

        async def client(i: int) -> None:
            nonlocal bad2
            for r in range(per_object):
                s = now()
                value = read_ok(await mf.dispatch_fetch_async(url("/inc", f"c2-memory-{i}")), "/inc")
                lat2.append(now() - s)
                bad2 += int(value) != r + 1

        async def all_clients() -> None:
            await asyncio.gather(*(client(i) for i in range(objects)))

        t1 = now()
        asyncio.run(all_clients())
        total_ms2 = now() - t1
        self.emit(
            "c2_many_objects_concurrent",
            "memory",
            {
                "objects": objects,
                "per_object": per_object,
                "n": total,
                "rps": r4(total / total_ms2 * 1000),
                "total_ms": r4(total_ms2),
                **latency_stats(lat2),
                "ok": self.check(bad2 == 0, f"c2: {bad2} unexpected counts"),
            },
        )

    def transactions(self, mf: Any) -> None:
        conc, rounds = CFG["TXN_CONC"], CFG["TXN_ROUNDS"]

        async def gather(name: str, count: int, lat: list[float] | None = None) -> list[int]:
            async def one() -> int:
                s = now()
                value = read_ok(await mf.dispatch_fetch_async(url("/txn", name)), "/txn")
                if lat is not None:
                    lat.append(now() - s)
                return int(value)

            return list(await asyncio.gather(*(one() for _ in range(count))))

        asyncio.run(gather("dwarm-memory", 20))
        name = "d-memory"
        round_rps, round_ms, lat, values = [], [], [], []
        for _ in range(rounds):
            t0 = now()
            got = asyncio.run(gather(name, conc, lat))
            d = now() - t0
            round_ms.append(d)
            round_rps.append(conc / d * 1000)
            values.extend(got)
        expected = conc * rounds
        final = json.loads(read_ok(mf.dispatch_fetch(url("/get", name)), "/get"))
        unique = sorted(values) == list(range(1, expected + 1))
        self.emit(
            "d_txn_concurrent_one_object",
            "memory",
            {
                "concurrency": conc,
                "rounds": rounds,
                "n": expected,
                "completed_per_s": r4(statistics.median(round_rps)),
                "completed_per_s_rounds": [r4(x) for x in round_rps],
                "round_ms_median": r4(statistics.median(round_ms)),
                **latency_stats(lat),
                "final_count": final["count"],
                "expected_count": expected,
                "txn_attempts": final["txnAttempts"],
                "retries_per_commit": r4((final["txnAttempts"] - expected) / expected) if expected else None,
                "values_are_1_to_n": unique,
                "ok": self.check(final["count"] == expected and unique, f"d: final {final['count']} unique {unique}"),
            },
        )

    def put_list(self, mf: Any) -> None:
        name, put_path = "e-memory", f"/put?n={CFG['PUT_N']}"
        for _ in range(10):
            mf.dispatch_fetch(url(put_path, name))
            mf.dispatch_fetch(url("/list", name))
        put_lat, list_lat, pair_lat, bad = [], [], [], 0
        t0 = now()
        for _ in range(CFG["PUTLIST_ITERS"]):
            s = now()
            read_ok(mf.dispatch_fetch(url(put_path, name)), "/put")
            m = now()
            size = read_ok(mf.dispatch_fetch(url("/list", name)), "/list")
            e = now()
            put_lat.append(m - s)
            list_lat.append(e - m)
            pair_lat.append(e - s)
            bad += int(size) != CFG["PUT_N"]
        total = now() - t0
        ps, ls, prs = latency_stats(put_lat), latency_stats(list_lat), latency_stats(pair_lat)
        self.emit(
            "e_put128_then_list",
            "memory",
            {
                "keys": CFG["PUT_N"],
                "iterations": CFG["PUTLIST_ITERS"],
                "put_median_ms": ps["median_ms"],
                "put_p95_ms": ps["p95_ms"],
                "list_median_ms": ls["median_ms"],
                "list_p95_ms": ls["p95_ms"],
                "pair_median_ms": prs["median_ms"],
                "pairs_per_s": r4(CFG["PUTLIST_ITERS"] / total * 1000),
                "ok": self.check(bad == 0, f"e: {bad} lists with size != {CFG['PUT_N']}"),
            },
        )


def run_mf2() -> dict[str, dict[str, Any]] | None:
    """Miniflare 2's in-memory results of this run, by scenario (None when it cannot run)."""
    lines = run_peers_mf2()
    if lines is None:
        return None
    found: dict[str, dict[str, Any]] = {}
    for line in lines:
        if line.get("storage") in ("memory", None) and "scenario" in line:
            found.setdefault(line["scenario"], line)
    return found or None


SUMMARY = [
    ("a_dispatch_inc_one_object", "rps", True),
    ("b_stub_inc_one_object", "rps", True),
    ("c1_many_objects_sequential", "rps", True),
    ("c2_many_objects_concurrent", "rps", True),
    ("d_txn_concurrent_one_object", "completed_per_s", True),
    ("e_put128_then_list", "put_median_ms", False),
    ("e_put128_then_list", "list_median_ms", False),
    ("e_put128_then_list", "pair_median_ms", False),
    ("f_cold_start", "cold_start_ms", False),
    ("g_peak_rss", "node_vmhwm_mb", False),
]


def summary(lines: list[dict[str, Any]], mf2: dict[str, dict[str, Any]] | None) -> None:
    ours = {line["scenario"]: line for line in lines}
    source = "measured in this run" if mf2 else "peers-bench/RESULTS.md"
    reference = mf2 or MF2_RESULTS
    print(f"\n# mfbook vs Miniflare 2.14.4 ({source}); ratio > 1 means mfbook is better", file=sys.stderr)
    print(f"{'scenario':32} {'metric':18} {'mfbook':>10} {'mf2':>10} {'ratio':>7}", file=sys.stderr)
    rows = []
    for scenario, metric, higher in SUMMARY:
        value = ours.get(scenario, {}).get(metric)
        base = reference.get(scenario, {}).get(metric)
        ratio = None
        if value and base:
            ratio = value / base if higher else base / value
        rows.append({"scenario": scenario, "metric": metric, "mfbook": value, "mf2": base, "ratio": r4(ratio)})
        print(
            f"{scenario:32} {metric:18} {value if value is not None else '-':>10} {base if base is not None else '-':>10} "  # noqa: E501
            f"{f'{ratio:.2f}x' if ratio else '-':>7}",
            file=sys.stderr,
        )
    print(json.dumps({"impl": "mfbook", "scenario": "summary", "baseline": source, "rows": rows}), flush=True)


STARTED = now()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated subset of a,b,c,d,e")
    parser.add_argument("--mf2", action="store_true", help="also run Miniflare 2 (needs node and /tmp/peers/mf2)")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    started = now()
    import mfbook  # noqa: F401 - the import is part of (f), as import("miniflare") in lib.mjs

    bench = Bench(only, now() - started)
    bench.run()
    mf2 = run_mf2() if args.mf2 else None
    summary(bench.lines, mf2)


if __name__ == "__main__":
    main()
