"""``open_backend`` picks the backend from ``durable_objects_persist``."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfbook.backends import BackendConfigError, open_backend
from mfbook.backends.memory import MemoryBackend
from mfbook.backends.sqlite import SqliteBackend


@pytest.mark.parametrize("persist", [None, False])
def test_none_and_false_select_memory(persist: bool | None) -> None:
    assert isinstance(open_backend(persist), MemoryBackend)


def test_true_selects_dot_mf_do_in_cwd_at_open_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    backend = open_backend(True)
    assert isinstance(backend, SqliteBackend)
    assert backend.root == tmp_path / ".mf" / "do"


@pytest.mark.parametrize("relative", ["data/do", Path("data/do")])
def test_relative_paths_resolve_against_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative: str | Path
) -> None:
    monkeypatch.chdir(tmp_path)
    backend = open_backend(relative)
    assert isinstance(backend, SqliteBackend)
    assert backend.root == tmp_path / "data" / "do"


def test_redis_url_selects_redis_with_prefix_and_options(redis_url: str) -> None:
    from mfbook.backends.redis import RedisBackend

    backend = open_backend(redis_url, redis_prefix="custom:", redis_options={"socket_timeout": 3})
    try:
        assert isinstance(backend, RedisBackend)
        assert backend.prefix == "custom:"
        client = backend.client
        node = client.get_default_node().redis_connection if backend.cluster else client
        assert node.connection_pool.connection_kwargs["socket_timeout"] == 3
    finally:
        backend.close()


@pytest.mark.parametrize("bad", [42, 1.5, "", "   ", "ftp://host/x", b"bytes", ["list"]])
def test_bad_values_raise_config_error_naming_the_value(bad: object) -> None:
    with pytest.raises(BackendConfigError) as caught:
        open_backend(bad)  # type: ignore[arg-type]
    assert str(caught.value) == (
        f"durable_objects_persist must be None, False, True, a directory path or a redis:// URL, got {bad!r}"
    )
    assert isinstance(caught.value, ValueError)
