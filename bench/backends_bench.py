"""Micro-benchmark of the storage backends: single-key commits/s and gets/s (not asserted).

Usage: ``python bench/backends_bench.py [--redis-url URL] [--seconds 1.0]``
(``MFBOOK_TEST_REDIS_URL`` is used when ``--redis-url`` is not given; Redis is skipped if
neither is set).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable

from mfbook.backends import Backend, BackendUnavailable
from mfbook.backends.memory import MemoryBackend
from mfbook.backends.sqlite import SqliteBackend
from mfbook.ids import id_from_name


def rate(operation: Callable[[int], object], seconds: float) -> float:
    """Return how many times per second ``operation(i)`` runs."""
    count = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            operation(count)
            count += 1
    return count / elapsed


def bench(name: str, backend: Backend, seconds: float) -> None:
    store = backend.open("BENCH", id_from_name("BENCH", uuid.uuid4().hex).hex)
    commits = rate(lambda i: store.commit(puts={f"k{i % 100}": b"value"}, deletes=()), seconds)
    occ = rate(
        lambda i: store.commit(puts={"n": str(i).encode()}, deletes=(), read_keys=["n"], read_version=store.version()),
        seconds,
    )
    gets = rate(lambda i: store.get_many([f"k{i % 100}"]), seconds)
    lists = rate(lambda i: store.list(limit=10), seconds)
    print(
        f"{name:8} commit {commits:>10,.0f}/s   occ commit {occ:>10,.0f}/s   "
        f"get {gets:>10,.0f}/s   list(10) {lists:>10,.0f}/s"
    )
    backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", default=os.environ.get("MFBOOK_TEST_REDIS_URL"))
    parser.add_argument("--seconds", type=float, default=1.0)
    options = parser.parse_args()
    bench("memory", MemoryBackend(), options.seconds)
    with tempfile.TemporaryDirectory() as directory:
        bench("sqlite", SqliteBackend(directory), options.seconds)
    if options.redis_url:
        from mfbook.backends.redis import RedisBackend

        prefix = f"mfbook-bench-{uuid.uuid4().hex[:8]}:"
        backend = RedisBackend(options.redis_url, prefix=prefix)
        try:
            bench("redis", backend, options.seconds)
        except BackendUnavailable as error:
            print(f"redis    skipped: {error}")
            return
        else:
            cleanup = RedisBackend(options.redis_url)
            keys = list(cleanup.client.scan_iter(match=f"{prefix}*"))
            if keys:
                cleanup.client.delete(*keys)
            cleanup.close()


if __name__ == "__main__":
    main()
