"""The pytest plugin (entry point ``pytest11``): a ``miniflare`` fixture with isolated storage.

>>> import pytest
>>> @pytest.mark.miniflare(script_path="worker.js", modules=True, durable_objects={"COUNTER": "Counter"})
... def test_counts(miniflare):  # doctest: +SKIP
...     assert miniflare.dispatch_fetch("http://localhost/inc").text() == "1"

How it behaves (as ``@cloudflare/vitest-pool-workers`` does for JavaScript):

- **One emulator per set of options per process.** It starts when the first test needs it and
  stays for the session; under pytest-xdist every worker process has its own.
- **Each test starts from the state the fixture set up**: the storage the emulator had when it
  started (empty, the ``seed=`` export, or a copy of the ``durable_objects_persist``
  directory). After a test that did anything, its writes and alarms are undone and every
  object is re-constructed, so instance fields start over too. The trace and the console
  lines are cleared before each test, so ``miniflare.trace`` holds only the test's events.
- A persistence directory is copied to a temporary one first, so tests never change the
  original and parallel workers never share it; a Redis URL gets a key prefix per process,
  deleted at the end of the session.

Options come from :mod:`mfbook.testing.config`; override the ``miniflare_options`` fixture to
compute them in Python.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .config import find_project_options, resolve_paths

if TYPE_CHECKING:
    from ..miniflare import Miniflare

__all__ = ["EmulatorPool", "miniflare", "miniflare_options"]

MARKER = "miniflare"
_PLUGIN_KEYS = ("seed",)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): Miniflare options for the `miniflare` fixture "
        "(relative paths start at the test file's directory)",
    )


class _Emulator:
    """One running emulator, the options it was made from and its starting storage."""

    def __init__(self, options: dict[str, Any], scratch: Path) -> None:
        from ..miniflare import Miniflare

        self.options = {key: value for key, value in options.items() if key not in _PLUGIN_KEYS}
        self._scratch = scratch
        self.redis_urls: set[str] = set()
        self.redis_prefix = f"{self.options.get('redis_prefix', 'mfbook:')}pytest-{uuid.uuid4().hex[:12]}:"
        self._private_storage(self.options)
        workers = self.options.get("workers")
        if isinstance(workers, list):
            self.options["workers"] = [dict(worker) if isinstance(worker, dict) else worker for worker in workers]
            for worker in self.options["workers"]:
                if isinstance(worker, dict):
                    self._private_storage(worker)
        if self.redis_urls:
            self.options["redis_prefix"] = self.redis_prefix
        self.mf: Miniflare = Miniflare(**self.options)
        try:
            seed = options.get("seed")
            if seed is not None:
                self.mf.import_storage(str(seed), replace=True)
            snapshot = io.StringIO()
            self.mf.export_storage(snapshot)
            self.snapshot = snapshot.getvalue()
        except BaseException:
            self.mf.dispose()
            raise

    def _private_storage(self, options: dict[str, Any]) -> None:
        """Points ``durable_objects_persist`` of ``options`` at storage of this process only."""
        persist = options.get("durable_objects_persist")
        if persist is True:
            persist = str(Path(".mf", "do").resolve())
        if isinstance(persist, str) and "://" in persist:
            self.redis_urls.add(persist)  # isolated by this emulator's own redis_prefix
        elif isinstance(persist, (str, os.PathLike)):
            copy = self._scratch / f"persist-{uuid.uuid4().hex[:8]}"
            if Path(persist).is_dir():
                shutil.copytree(persist, copy)
            options["durable_objects_persist"] = str(copy)

    def restore(self) -> None:
        """Puts storage and alarms back to the snapshot and re-constructs every object."""
        mf = self.mf
        mf.trace.enabled = True
        for binding, worker_name in mf.durable_object_bindings():
            namespace = mf.get_durable_object_namespace(binding, worker_name=worker_name)
            for hex_id in namespace.object_ids():
                storage = namespace.storage(namespace.id_from_string(hex_id))
                storage.delete_all()
                storage.delete_alarm()
        if self.snapshot:
            mf.import_storage(io.StringIO(self.snapshot), replace=True)
        mf.set_options(**self.options)

    def close(self) -> None:
        self.mf.dispose()
        if not self.redis_urls:
            return
        import redis

        for url in self.redis_urls:
            client = redis.Redis.from_url(url)
            try:
                keys = list(client.scan_iter(match=self.redis_prefix + "*", count=1000))
                for start in range(0, len(keys), 500):
                    client.delete(*keys[start : start + 500])
            finally:
                client.close()


class EmulatorPool:
    """The emulators of this process, one per distinct set of options."""

    def __init__(self) -> None:
        self._emulators: dict[str, _Emulator] = {}
        self._scratch = Path(tempfile.mkdtemp(prefix="mfbook-pytest-"))
        #: How many emulators this process started (a test of the plugin reads it).
        self.started = 0

    @staticmethod
    def _key(options: dict[str, Any]) -> str:
        return json.dumps(options, sort_keys=True, default=repr)

    def get(self, options: dict[str, Any]) -> _Emulator:
        key = self._key(options)
        emulator = self._emulators.get(key)
        if emulator is None or emulator.mf.disposed:
            emulator = self._emulators[key] = _Emulator(options, self._scratch)
            self.started += 1
        return emulator

    def close(self) -> None:
        for emulator in self._emulators.values():
            emulator.close()
        self._emulators.clear()
        shutil.rmtree(self._scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def _mfbook_pool() -> Iterator[EmulatorPool]:
    pool = EmulatorPool()
    yield pool
    pool.close()


@pytest.fixture
def miniflare_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The options of this test's emulator: its ``miniflare`` marker, else the project's.

    Override this fixture (in a ``conftest.py``) to build them in Python.
    """
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword options only, got {marker.args!r}")
        return resolve_paths(marker.kwargs, Path(request.path).parent)
    found = find_project_options(request.config.rootpath)
    if found is None:
        raise pytest.UsageError(
            f"The miniflare fixture has no options: add @pytest.mark.{MARKER}(script_path=..., ...) to the test, "
            f"a [tool.mfbook] table to {request.config.rootpath / 'pyproject.toml'}, "
            "or a wrangler.toml/wrangler.json next to it"
        )
    return found[0]


@pytest.fixture
def miniflare(miniflare_options: dict[str, Any], _mfbook_pool: EmulatorPool) -> Iterator[Miniflare]:
    """A :class:`~mfbook.Miniflare` whose storage starts as the fixture set it up, for each test.

    Helpers to look inside it are in :mod:`mfbook.testing` (``instance_state``,
    ``object_storage``, ``run_alarm``, ``recorded``).
    """
    emulator = _mfbook_pool.get(miniflare_options)
    mf = emulator.mf
    mf.trace.clear()
    mf.console_lines.clear()
    yield mf
    if mf.disposed:
        return
    if mf.trace.last_seq or not mf.trace.enabled:
        emulator.restore()
    mf.trace.clear()
