"""A throw-away ``redis-server`` process for the Redis tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    """Return a TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A throw-away ``redis-server`` process (no persistence) that a test controls."""

    def __init__(self, directory: Path, port: int | None = None, *, persistent: bool = False) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.persistent = persistent  # append-only file, fsync always: data survives restarts
        self.process: subprocess.Popen[bytes] | None = None
        self.extra_args: list[str] = []  # e.g. the cluster options of tests/redis_cluster.py

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI"):
                pytest.fail("redis-server must be installed in CI")
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.persistent else "no",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def connect(url: str) -> Any:
    """A redis-py client for ``url``: ``RedisCluster`` if it names a cluster node."""
    import redis
    import redis.cluster

    client = redis.Redis.from_url(url)
    if int(client.info("cluster").get("cluster_enabled", 0)) != 1:
        return client
    client.close()
    return redis.cluster.RedisCluster.from_url(url[: -len("/0")] if url.endswith("/0") else url)


def delete_prefix(url: str, prefix: str) -> None:
    """Delete every key under ``prefix`` on the server at ``url`` (every node of a cluster)."""
    client = connect(url)
    try:
        for key in list(client.scan_iter(match=f"{prefix}*", count=1000)):
            client.delete(key)
    finally:
        client.close()
