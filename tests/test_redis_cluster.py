"""The Redis backend on a Redis Cluster (three masters): slots, scripts and a resharding.

The rest of the Redis suites run against a cluster too in CI (``.ci/run``'s cluster pass sets
``MFBOOK_TEST_REDIS_URL`` to a cluster node); these tests need one whatever that variable says.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from redis_server import connect, delete_prefix

from mfbook import Miniflare
from mfbook.backends.redis import RedisBackend

COUNTER = """
export class Counter {
  constructor(state) { this.state = state; }
  async fetch() {
    const n = ((await this.state.storage.get("n")) ?? 0) + 1;
    await this.state.storage.put("n", n);
    return new Response(String(n));
  }
}
export default { fetch: (request, env) => env.COUNTER.getByName("x").fetch(request) };
"""


@pytest.fixture
def cluster_prefix(redis_cluster_url: str) -> Iterator[str]:
    prefix = f"mfbook-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    delete_prefix(redis_cluster_url, prefix)


@pytest.fixture
def cluster(redis_cluster_url: str) -> Iterator[Any]:
    client = connect(redis_cluster_url)
    yield client
    client.close()


def make(url: str, prefix: str) -> Miniflare:
    return Miniflare(
        script=COUNTER,
        modules=True,
        durable_objects={"COUNTER": "Counter"},
        durable_objects_persist=url,
        redis_prefix=prefix,
        console=None,
    )


def object_keys(cluster: Any, prefix: str) -> list[str]:
    return sorted(key.decode() for key in cluster.scan_iter(match=f"{prefix}*", count=1000))


def test_a_cluster_node_url_uses_the_cluster_client(redis_cluster_url: str, cluster_prefix: str) -> None:
    backend = RedisBackend(redis_cluster_url, prefix=cluster_prefix)
    try:
        store = backend.open("COUNTER", "ab" * 32)
        assert store.commit(puts={"n": b"1"}, deletes=()) == 1
        assert backend.cluster
        assert store.get_many(["n"]) == {"n": b"1"}
        assert backend.list_objects("COUNTER") == ["ab" * 32]
    finally:
        backend.close()


def test_every_key_of_an_object_is_in_one_slot(redis_cluster_url: str, cluster_prefix: str, cluster: Any) -> None:
    with make(redis_cluster_url, cluster_prefix) as mf:
        for expected in range(1, 4):
            assert mf.dispatch_fetch("http://x/").text() == str(expected)
        keys = [key for key in object_keys(cluster, cluster_prefix) if ":objects:" not in key]
    # Data, versions, commit tokens and the ownership lease: one slot, so one node runs the scripts.
    assert {key.rsplit(":", 1)[1] for key in keys} >= {"kv", "keys", "ver", "meta", "lease", "lease_seq"}
    assert len({cluster.keyslot(key) for key in keys}) == 1


def _move_slot(cluster: Any, slot: int) -> None:
    """Moves ``slot`` to another master the way ``redis-cli --cluster reshard`` does."""
    nodes = {node.name: node for node in cluster.get_primaries()}
    source = cluster.get_node_from_key_slot(slot) if hasattr(cluster, "get_node_from_key_slot") else None
    if source is None:
        source = cluster.nodes_manager.get_node_from_slot(slot)
    target = next(node for name, node in nodes.items() if name != source.name)

    def node_id(node: Any) -> str:
        return str(node.redis_connection.execute_command("CLUSTER", "MYID").decode())

    source_id, target_id = node_id(source), node_id(target)
    target.redis_connection.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    source.redis_connection.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
    while True:
        keys = source.redis_connection.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100)
        if not keys:
            break
        source.redis_connection.execute_command("MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *keys)
    for node in nodes.values():
        node.redis_connection.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)


def test_requests_keep_counting_while_the_objects_slot_moves(
    redis_cluster_url: str, cluster_prefix: str, cluster: Any
) -> None:
    total = 150
    with make(redis_cluster_url, cluster_prefix) as mf:
        assert mf.dispatch_fetch("http://x/").text() == "1"
        key = next(key for key in object_keys(cluster, cluster_prefix) if key.endswith(":meta"))
        slot = cluster.keyslot(key)
        before = cluster.nodes_manager.get_node_from_slot(slot).name
        errors: list[str] = []

        def hammer() -> None:
            for _ in range(total - 1):
                response = mf.dispatch_fetch("http://x/")
                if response.status != 200:
                    errors.append(response.text())

        thread = threading.Thread(target=hammer)
        thread.start()
        _move_slot(cluster, slot)  # MOVED and ASK replies meet the requests meanwhile
        thread.join()
        assert errors == []
        storage = mf.get_durable_object_storage(mf.get_durable_object_namespace("COUNTER").id_from_name("x"))
        assert storage.get("n") == total
    cluster.nodes_manager.initialize()
    assert cluster.nodes_manager.get_node_from_slot(slot).name != before
