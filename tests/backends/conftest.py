"""Fixtures for the backend suites: one parametrised ``backend`` over memory, SQLite, Redis.

The Redis server fixtures (``redis_url``, ``redis_server_factory``) are in ``tests/conftest.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mfbook.backends import Backend
from mfbook.backends.memory import MemoryBackend
from mfbook.backends.sqlite import SqliteBackend

BACKEND_KINDS = ("memory", "sqlite", "redis")


def _delete_prefix(url: str, prefix: str) -> None:
    from redis_server import delete_prefix

    delete_prefix(url, prefix)


@pytest.fixture
def make_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Backend]]:
    """Factory of backends of the parametrised kind that share one storage location.

    Calling it twice gives two independent backends over the same data (like two processes
    for SQLite/Redis; memory backends never share data).
    """
    kind: str = request.param
    opened: list[Backend] = []
    prefix = f"mfbook-test-{uuid.uuid4().hex[:12]}:"
    url = request.getfixturevalue("redis_url") if kind == "redis" else ""

    def make() -> Backend:
        backend: Backend
        if kind == "memory":
            backend = MemoryBackend()
        elif kind == "sqlite":
            backend = SqliteBackend(tmp_path / "do")
        else:
            from mfbook.backends.redis import RedisBackend

            backend = RedisBackend(url, prefix=prefix)
        opened.append(backend)
        return backend

    yield make
    for backend in opened:
        backend.close()
    if kind == "redis":
        _delete_prefix(url, prefix)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "make_backend" in metafunc.fixturenames:
        kinds = [kind for kind in BACKEND_KINDS if kind in _wanted_kinds(metafunc)]
        metafunc.parametrize("make_backend", kinds, indirect=True)


def _wanted_kinds(metafunc: pytest.Metafunc) -> tuple[str, ...]:
    marker = metafunc.definition.get_closest_marker("backends")
    return tuple(marker.args) if marker else BACKEND_KINDS


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "backends(*kinds): run only for these backend kinds")


@pytest.fixture
def backend(make_backend: Callable[[], Backend]) -> Backend:
    """A fresh backend of the parametrised kind."""
    return make_backend()
