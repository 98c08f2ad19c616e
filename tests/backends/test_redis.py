"""Redis backend specifics: key layout, two clients, lost connections, URL handling."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
from redis_server import RedisServer, free_port

from mfbook.backends import BackendUnavailable, CommitConflict
from mfbook.backends.redis import RedisBackend, redact_url
from mfbook.ids import id_from_name

A = id_from_name("COUNTER", "a").hex


@pytest.fixture
def redis_backends(redis_url: str) -> Iterator[Callable[[], RedisBackend]]:
    prefix = f"mfbook-test-{uuid.uuid4().hex[:12]}:"
    opened: list[RedisBackend] = []

    def make() -> RedisBackend:
        backend = RedisBackend(redis_url, prefix=prefix)
        opened.append(backend)
        return backend

    yield make
    cleanup = make()
    keys = list(cleanup.client.scan_iter(match=f"{prefix}*"))
    if keys:
        cleanup.client.delete(*keys)
    for backend in opened:
        backend.close()


def test_keys_use_prefix_and_object_hash_tag(redis_backends: Callable[[], RedisBackend]) -> None:
    backend = redis_backends()
    store = backend.open("COUNTER", A)
    store.commit(puts={"k": b"v"}, deletes=(), alarm=5)
    keys = {raw.decode() for raw in backend.client.scan_iter(match=f"{backend.prefix}*")}
    tag = f"{backend.prefix}{{COUNTER:{A}}}"
    assert {f"{tag}:kv", f"{tag}:keys", f"{tag}:ver", f"{tag}:meta"} <= keys
    assert f"{backend.prefix}objects:COUNTER" in keys
    assert all(key.startswith(tag) for key in keys - {f"{backend.prefix}objects:COUNTER"})


def test_hostile_binding_cannot_break_the_hash_tag(
    redis_backends: Callable[[], RedisBackend],
) -> None:
    backend = redis_backends()
    binding = "x}:{y"
    object_hex = id_from_name(binding, "n").hex
    backend.open(binding, object_hex).commit(puts={"k": b"v"}, deletes=())
    kv, *_ = backend.open(binding, object_hex).redis_keys
    assert kv == f"{backend.prefix}{{x%7D%3A%7By:{object_hex}}}:kv"
    assert backend.list_objects(binding) == [object_hex]


def test_commit_token_makes_a_replayed_commit_a_no_op(
    redis_backends: Callable[[], RedisBackend],
) -> None:
    backend = redis_backends()
    store = backend.open("COUNTER", A)
    store.commit(puts={"n": b"0"}, deletes=())
    kv, zkeys, ver, meta = store.redis_keys
    token_key = f"{kv[:-3]}:commit:t1"
    args = ["t1", "1", "0", "0", "keep", "", 1, b"n", 0, 1, b"n", b"1", ""]  # last: no lease fence
    keys = [kv, zkeys, ver, meta, token_key, f"{kv[:-3]}:lease"]
    assert backend.commit_script(keys=keys, args=args) == [1, 2]
    assert backend.commit_script(keys=keys, args=args) == [2, 2]  # same token: not re-applied
    assert store.version() == 2


def test_two_clients_read_modify_write_loop_ends_exact(
    redis_backends: Callable[[], RedisBackend],
) -> None:
    rounds, workers = 200, 3
    conflicts: list[int] = []

    def work() -> None:
        store = redis_backends().open("COUNTER", A)
        seen = 0
        for _ in range(rounds):
            while True:
                version = store.version()
                value = int(store.get_many(["n"]).get("n", b"0"))
                try:
                    store.commit(
                        puts={"n": str(value + 1).encode()},
                        deletes=(),
                        read_keys=["n"],
                        read_version=version,
                    )
                    break
                except CommitConflict as conflict:
                    assert conflict.keys == ("n",)
                    assert conflict.winning_version > version
                    seen += 1
        conflicts.append(seen)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store = redis_backends().open("COUNTER", A)
    assert store.get_many(["n"]) == {"n": str(rounds * workers).encode()}
    assert store.version() == rounds * workers
    assert len(conflicts) == workers


def test_restart_raises_unavailable_then_recovers(
    redis_server_factory: Callable[[], RedisServer],
) -> None:
    server = redis_server_factory()
    backend = RedisBackend(server.url)
    try:
        store = backend.open("COUNTER", A)
        store.commit(puts={"before": b"1"}, deletes=())
        server.stop()
        with pytest.raises(BackendUnavailable) as caught:
            store.commit(puts={"during": b"1"}, deletes=())
        assert f"127.0.0.1:{server.port}" in str(caught.value)
        with pytest.raises(BackendUnavailable):
            store.get_many(["before"])
        server.start()  # same port, empty (no persistence)
        assert store.get_many(["before"]) == {}
        assert store.commit(puts={"after": b"1"}, deletes=()) == 1
        assert store.list() == [("after", b"1")]
    finally:
        backend.close()


def test_unavailable_message_hides_password() -> None:
    url = f"redis://user:s3cret@127.0.0.1:{free_port()}/2"
    backend = RedisBackend(url)
    try:
        with pytest.raises(BackendUnavailable) as caught:
            backend.open("COUNTER", A).version()
    finally:
        backend.close()
    assert "s3cret" not in str(caught.value)
    assert caught.value.location == redact_url(url)
    assert "127.0.0.1" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://:pw@localhost:6379/1", "redis://localhost:6379/1"),
        ("rediss://user:pw@example.com/3", "rediss://user@example.com/3"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


@pytest.mark.redis_single_node  # a Redis Cluster has database 0 only
def test_db_number_in_url_is_used(redis_url: str) -> None:
    base = redis_url.rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url
    backend = RedisBackend(f"{base}/5", prefix=f"mfbook-test-{uuid.uuid4().hex[:8]}:")
    try:
        assert backend.client.connection_pool.connection_kwargs["db"] == 5
        store = backend.open("COUNTER", A)
        store.commit(puts={"k": b"v"}, deletes=())
        assert store.get_many(["k"]) == {"k": b"v"}
        store.commit(puts={}, deletes=["k"])
    finally:
        for key in backend.client.scan_iter(match=f"{backend.prefix}*"):
            backend.client.delete(key)
        backend.close()
