"""HTTP requests/s and WebSocket echo round trips/s through ``mfbook serve`` (and Miniflare 2).

Usage: ``python bench/serve_bench.py [--mf2] [--runs 3] [--requests 3000] [--concurrency 8]
[--round-trips 2000]``

Both servers run ``bench/serve_worker.mjs`` as users run them — ``mfbook serve`` and Miniflare
2's own CLI (``miniflare worker.mjs -m --do COUNTER=Counter``, from ``/tmp/peers/mf2``, see
``/work/shared/peers-bench/README.md``) — each in a subprocess on its own port, and the same
client measures both in one run, interleaved: an aiohttp client keeping ``--concurrency``
connections busy (``GET /`` and ``GET /inc``, a Durable Object counter), and one WebSocket
sending a message and waiting for its echo ``--round-trips`` times. Every figure is printed
per run, then the range over the runs and the ratio mfbook / Miniflare 2. Nothing is
asserted: timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
WORKER = HERE / "serve_worker.mjs"
PEERS_ROOT = Path(os.environ.get("PEERS_ROOT", "/tmp/peers"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout:g} s")


def start_mfbook(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    script = Path(sys.executable).parent / "mfbook"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "mfbook.serving.cli"]
    command += ["serve", "worker.mjs", "--do", "COUNTER=Counter", "--port", str(port)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_mf2(workdir: Path, port: int) -> subprocess.Popen[bytes] | None:
    node = shutil.which("node")
    cli = PEERS_ROOT / "mf2" / "node_modules" / ".bin" / "miniflare"
    if node is None or not cli.exists():
        print(f"# Miniflare 2 not run: {'node missing' if node is None else f'{cli} not installed'}", file=sys.stderr)
        return None
    command = [node, "--experimental-vm-modules", str(cli), "worker.mjs", "-m", "--do", "COUNTER=Counter"]
    command += ["--port", str(port), "--host", "127.0.0.1", "--no-cf-fetch", "--no-update-check"]
    return subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def http_rate(url: str, *, requests: int, concurrency: int) -> float:
    """Requests per second with ``concurrency`` keep-alive connections, after a warm-up."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(count: int) -> None:
            for _ in range(count):
                async with session.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{url}: status {response.status}")

        await asyncio.gather(*(worker(20) for _ in range(concurrency)))  # warm-up
        share = max(1, requests // concurrency)
        start = time.perf_counter()
        await asyncio.gather(*(worker(share) for _ in range(concurrency)))
        return share * concurrency / (time.perf_counter() - start)


async def websocket_rate(url: str, *, round_trips: int) -> float | None:
    """Echo round trips per second on one WebSocket (None when the server cannot upgrade)."""
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(url)
        except aiohttp.ClientError as error:
            print(f"# {url}: no WebSocket ({error})", file=sys.stderr)
            return None
        async with ws:
            for i in range(50):  # warm-up
                await ws.send_str(f"warm {i}")
                await ws.receive(timeout=10)
            start = time.perf_counter()
            for i in range(round_trips):
                await ws.send_str(f"message {i}")
                message = await ws.receive(timeout=10)
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise RuntimeError(f"{url}: {message.type} instead of an echo")
            return round_trips / (time.perf_counter() - start)


def measure(base: str, args: argparse.Namespace) -> dict[str, float | None]:
    async def run() -> dict[str, float | None]:
        return {
            "GET / req/s": await http_rate(f"{base}/", requests=args.requests, concurrency=args.concurrency),
            "GET /inc req/s": await http_rate(f"{base}/inc", requests=args.requests, concurrency=args.concurrency),
            "ws echo rt/s": await websocket_rate(f"{base.replace('http', 'ws', 1)}/ws", round_trips=args.round_trips),
        }

    return asyncio.run(run())


def serve_and_measure(
    name: str, start: Callable[[Path, int], subprocess.Popen[bytes] | None], args: argparse.Namespace
) -> dict[str, float | None] | None:
    with tempfile.TemporaryDirectory(prefix=f"serve-bench-{name}-") as workdir:
        shutil.copy(WORKER, Path(workdir) / "worker.mjs")
        port = free_port()
        process = start(Path(workdir), port)
        if process is None:
            return None
        try:
            wait_for_port(port, process)
            return measure(f"http://127.0.0.1:{port}", args)
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def spread(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "n/a"
    return f"{min(known):,.0f}-{max(known):,.0f}" if len(known) > 1 else f"{known[0]:,.0f}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mf2", action="store_true", help="also measure Miniflare 2's CLI server")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--round-trips", type=int, default=2000)
    args = parser.parse_args(argv)
    targets: list[tuple[str, Callable[[Path, int], subprocess.Popen[bytes] | None]]] = [("mfbook", start_mfbook)]
    if args.mf2:
        targets.append(("mf2", start_mf2))
    results: dict[str, list[dict[str, float | None]]] = {name: [] for name, _ in targets}
    for run in range(args.runs):
        for name, start in targets:
            figures = serve_and_measure(name, start, args)
            if figures is None:
                continue
            results[name].append(figures)
            shown = "  ".join(f"{key} {value:,.0f}" if value else f"{key} n/a" for key, value in figures.items())
            print(f"run {run + 1} {name:7} {shown}", flush=True)
    print(f"\n{'metric':16} " + " ".join(f"{name:>16}" for name in results) + "   ratio mfbook/mf2 (medians)")
    for metric in ("GET / req/s", "GET /inc req/s", "ws echo rt/s"):
        columns = [spread([figures[metric] for figures in runs]) for runs in results.values()]
        ratio = ""
        if "mf2" in results and results["mf2"] and results["mfbook"]:
            ours = sorted(f[metric] or 0 for f in results["mfbook"])[len(results["mfbook"]) // 2]
            theirs = sorted(f[metric] or 0 for f in results["mf2"])[len(results["mf2"]) // 2]
            ratio = f"{ours / theirs:.2f}x" if ours and theirs else "n/a"
        print(f"{metric:16} " + " ".join(f"{column:>16}" for column in columns) + f"   {ratio}")


if __name__ == "__main__":
    main()
