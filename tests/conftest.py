"""Fixtures shared by every suite: a real Redis server and per-test persistence settings.

Redis: ``MFBOOK_TEST_REDIS_URL`` names a server to use. Without it, the Redis tests FAIL when
``CI`` is set, and otherwise run against a ``redis-server`` started here on a free port (or
are skipped if the binary is missing).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from binder_replay import BinderSession, replay, stop_redis
from redis_cluster import RedisClusterServers
from redis_server import RedisServer, delete_prefix

pytest_plugins = ["pytester"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "redis_single_node: needs a single Redis server, not a cluster node (.ci/run's cluster pass leaves it out)",
    )


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the Redis server the suites use."""
    url = os.environ.get("MFBOOK_TEST_REDIS_URL")
    if url:
        yield url
        return
    if os.environ.get("CI"):
        pytest.fail("MFBOOK_TEST_REDIS_URL must be set in CI: the Redis backend tests need it")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a node of a Redis Cluster of three masters (``MFBOOK_TEST_REDIS_CLUSTER_URL``, or
    one started here with ``redis-server --cluster-enabled yes`` and ``redis-cli --cluster create``)."""
    url = os.environ.get("MFBOOK_TEST_REDIS_CLUSTER_URL")
    if url:
        yield url
        return
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        if os.environ.get("CI"):
            pytest.fail("MFBOOK_TEST_REDIS_CLUSTER_URL must be set in CI (or redis-server and redis-cli installed)")
        pytest.skip("redis-server and redis-cli are needed for the Redis Cluster tests")
    cluster = RedisClusterServers(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def redis_server_factory(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start dedicated ``redis-server`` processes the test may stop and restart.

    ``make(persistent=True)`` keeps the data across ``stop()``/``start()`` (append-only file).
    """
    if os.environ.get("CI") and shutil.which("redis-server") is None:
        pytest.fail("redis-server must be installed in CI for the restart test")
    servers: list[RedisServer] = []

    def make(*, persistent: bool = False) -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(servers)}", persistent=persistent)
        server.directory.mkdir()
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of its own on the shared Redis server, deleted after the test."""
    prefix = f"mfbook-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    delete_prefix(redis_url, prefix)


@pytest.fixture(scope="session")
def binder_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BinderSession]:
    """Every notebook executed in a replay of the Binder environment (one venv per session)."""
    if os.environ.get("CI") and shutil.which("redis-server") is None:
        pytest.fail("redis-server must be installed in CI: binder/start launches it")
    notebooks = sorted(path.relative_to(NOTEBOOKS.parent).as_posix() for path in NOTEBOOKS.glob("*.ipynb"))
    session = replay(tmp_path_factory.mktemp("binder"), notebooks)
    try:
        yield session
    finally:
        stop_redis(session.redis_dir)


NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

PERSIST_KINDS = ("memory", "file", "redis")


@pytest.fixture
def persist_options(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, object]:
    """``Miniflare`` keyword options selecting the storage kind named by ``request.param``.

    Use with ``@pytest.mark.parametrize("persist_options", [...], indirect=True)``; kinds are
    ``memory``, ``file`` (SQLite under ``tmp_path``) and ``redis`` (own prefix). Two
    ``Miniflare`` instances built from the same options share the data (except memory).
    """
    kind = getattr(request, "param", "file")
    if kind == "memory":
        return {"durable_objects_persist": False}
    if kind == "file":
        return {"durable_objects_persist": str(tmp_path / "do")}
    if kind == "redis":
        url = request.getfixturevalue("redis_url")
        return {"durable_objects_persist": url, "redis_prefix": request.getfixturevalue("redis_prefix")}
    raise ValueError(f"unknown persistence kind {kind!r} (known: {', '.join(PERSIST_KINDS)})")


#: ``/work/shared/peers-bench/worker.js``, verbatim: the worker every peer benchmark runs.
PEERS_WORKER = r"""
export class Counter {
  constructor(state, env) {
    this.state = state;
    this.txnAttempts = 0; // how many times a transaction closure ran (retries show up here)
  }

  async fetch(request) {
    const url = new URL(request.url);
    const storage = this.state.storage;
    switch (url.pathname) {
      case "/inc": {
        const count = ((await storage.get("count")) ?? 0) + 1;
        await storage.put("count", count);
        return new Response(String(count));
      }
      case "/put": {
        const n = Math.max(0, Math.min(128, parseInt(url.searchParams.get("n") ?? "1", 10) || 0));
        const entries = {};
        for (let i = 0; i < n; i++) entries["k" + i] = "value-" + i;
        await storage.put(entries);
        return new Response(String(n));
      }
      case "/list": {
        const map = await storage.list();
        return new Response(String(map.size));
      }
      case "/txn": {
        const count = await storage.transaction(async (txn) => {
          this.txnAttempts++;
          const next = ((await txn.get("count")) ?? 0) + 1;
          await txn.put("count", next);
          return next;
        });
        return new Response(String(count));
      }
      case "/get": {
        const count = (await storage.get("count")) ?? 0;
        return new Response(JSON.stringify({ count, txnAttempts: this.txnAttempts }), {
          headers: { "content-type": "application/json" },
        });
      }
    }
    return new Response("not found", { status: 404 });
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const name = url.searchParams.get("name") ?? "default";
    const stub = env.COUNTER.get(env.COUNTER.idFromName(name));
    return stub.fetch(request);
  },
};
"""


@pytest.fixture
def counter_worker() -> dict[str, object]:
    """``Miniflare`` options running the peers-bench worker (``COUNTER`` → ``Counter``)."""
    return {"script": PEERS_WORKER, "modules": True, "durable_objects": {"COUNTER": "Counter"}, "console": None}
