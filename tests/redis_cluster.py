"""A throw-away Redis Cluster of three masters (``redis-server --cluster-enabled yes``)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from redis_server import RedisServer, free_port


def _node_port() -> int:
    """A free port whose cluster bus port (port + 10000) is a port too, and free."""
    while True:
        port = free_port()
        if port + 10000 <= 65535 and _is_free(port + 10000):
            return port


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class RedisClusterServers:
    """Three ``redis-server`` processes joined by ``redis-cli --cluster create`` (no replicas)."""

    def __init__(self, directory: Path, *, masters: int = 3) -> None:
        self.directory = directory
        self.nodes = [RedisServer(directory / f"node-{index}", _node_port()) for index in range(masters)]

    @property
    def url(self) -> str:
        """A ``redis://`` URL naming one node (the client finds the others)."""
        return self.nodes[0].url

    def start(self) -> None:
        for node in self.nodes:
            node.directory.mkdir(parents=True, exist_ok=True)
            node.extra_args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            node.start()
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is needed to create a Redis Cluster")
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            info = subprocess.run(
                [cli, "-p", str(self.nodes[0].port), "cluster", "info"], capture_output=True, text=True
            ).stdout
            if "cluster_state:ok" in info:
                return
            time.sleep(0.1)
        raise RuntimeError("the Redis Cluster did not become ready")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
