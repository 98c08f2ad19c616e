"""durable_objects_persist through ``Miniflare``: the option, survival, layout, keys, alarms."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from mfbook import ConfigError, Miniflare
from mfbook.backends.commit_counter import COUNTER_NAME
from mfbook.backends.sqlite import DATABASE_NAME
from mfbook.ids import id_from_name

KEYS_WORKER = r"""
export class Store {
  constructor(state) { this.storage = state.storage; }
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/put") {
      const { key, value } = await request.json();
      await this.storage.put(key, value);
      return new Response("ok");
    }
    if (url.pathname === "/get") {
      const { key } = await request.json();
      return Response.json({ value: (await this.storage.get(key)) ?? null });
    }
    if (url.pathname === "/keys") return Response.json([...(await this.storage.list()).keys()]);
    if (url.pathname === "/alarm") {
      await this.storage.setAlarm(Number(url.searchParams.get("at")));
      return new Response("set");
    }
    if (url.pathname === "/fired") return Response.json((await this.storage.get("fired")) ?? null);
    return new Response("not found", { status: 404 });
  }
  async alarm() {
    await this.storage.put("fired", ((await this.storage.get("fired")) ?? 0) + 1);
  }
}
export default {
  fetch(request, env) {
    const name = new URL(request.url).searchParams.get("name") ?? "default";
    return env.STORE.get(env.STORE.idFromName(name)).fetch(request);
  },
};
"""

HOSTILE_KEYS = [
    "../../../escape",
    "..",
    "/absolute/path",
    "a\\b\\..\\c",
    "nul\x00inside",
    "CON",
    "NUL.txt",
    "com1",
    "é" * 1024,  # 2048 UTF-8 bytes: the limit
    "\U0001f600 emoji",
    "",
    "%2e%2e%2f",
    "{COUNTER:x}",
]


def keys_worker(persist: dict[str, Any], **extra: Any) -> Miniflare:
    return Miniflare(
        script=KEYS_WORKER, modules=True, durable_objects={"STORE": "Store"}, console=None, **persist, **extra
    )


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


# ---------------------------------------------------------------------- the option
@pytest.mark.parametrize("value", [42, "ftp://x", 3.5, ["dir"], b"dir", "", "http://host/db"])
def test_unsupported_persist_values_are_config_errors_naming_the_value(
    value: Any, counter_worker: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError) as caught:
        Miniflare(**counter_worker, durable_objects_persist=value)
    assert repr(value) in str(caught.value)
    assert caught.value.option == "durable_objects_persist"


@pytest.mark.parametrize("value", [None, False])
def test_none_and_false_keep_data_in_memory(
    value: Any, counter_worker: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with Miniflare(**counter_worker, durable_objects_persist=value) as mf:
        assert mf.dispatch_fetch("http://localhost/inc").text() == "1"
    with Miniflare(**counter_worker, durable_objects_persist=value) as mf:
        assert mf.dispatch_fetch("http://localhost/inc").text() == "1"
    assert files_under(tmp_path) == []


def test_true_persists_under_dot_mf_do_in_the_current_directory(
    counter_worker: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with Miniflare(**counter_worker, durable_objects_persist=True) as mf:
        mf.dispatch_fetch("http://localhost/inc")
    object_hex = id_from_name("COUNTER", "default").hex
    assert (tmp_path / ".mf" / "do" / "COUNTER" / object_hex / DATABASE_NAME).is_file()


def test_relative_path_resolves_against_the_current_directory(
    counter_worker: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with Miniflare(**counter_worker, durable_objects_persist="data/do") as mf:
        mf.dispatch_fetch("http://localhost/inc")
    assert (tmp_path / "data" / "do" / "COUNTER").is_dir()


def test_path_objects_are_accepted(counter_worker: dict[str, Any], tmp_path: Path) -> None:
    with Miniflare(**counter_worker, durable_objects_persist=tmp_path / "do") as mf:
        mf.dispatch_fetch("http://localhost/inc")
    assert (tmp_path / "do" / "COUNTER").is_dir()


def test_workers_share_the_parent_setting_unless_they_set_their_own(
    counter_worker: dict[str, Any], tmp_path: Path
) -> None:
    entry = "export default { fetch: (request, env) => env.COUNTER.get(env.COUNTER.idFromName('x')).fetch(request) }"
    other = {
        "name": "other",
        "script": counter_worker["script"].replace("env.COUNTER", "env.OTHER"),
        "modules": True,
        "durable_objects": {"OTHER": "Counter"},
    }
    options = dict(
        workers=[
            {
                "name": "entry",
                "script": entry,
                "modules": True,
                "durable_objects": {"COUNTER": {"class_name": "Counter", "script_name": "counters"}},
            },
            {
                "name": "counters",
                "script": counter_worker["script"],
                "modules": True,
                "durable_objects": {"COUNTER": "Counter"},
            },
            {**other, "durable_objects_persist": str(tmp_path / "own")},
        ],
        durable_objects_persist=str(tmp_path / "parent"),
        console=None,
    )
    with Miniflare(**options) as mf:
        assert mf.dispatch_fetch("http://localhost/inc").text() == "1"
        assert mf.dispatch_fetch("http://localhost/inc?name=y", worker_name="other").text() == "1"
    assert (tmp_path / "parent" / "COUNTER" / id_from_name("COUNTER", "x").hex).is_dir()
    assert (tmp_path / "own" / "OTHER" / id_from_name("OTHER", "y").hex).is_dir()
    assert not (tmp_path / "parent" / "OTHER").exists()
    with Miniflare(**options) as mf:
        assert mf.dispatch_fetch("http://localhost/inc").text() == "2"
        assert mf.dispatch_fetch("http://localhost/inc?name=y", worker_name="other").text() == "2"


# ---------------------------------------------------------------------- survival
@pytest.mark.parametrize("persist_options", ["file", "redis"], indirect=True)
def test_data_survives_a_new_instance(persist_options: dict[str, Any], counter_worker: dict[str, Any]) -> None:
    with Miniflare(**counter_worker, **persist_options) as mf:
        for expected in range(1, 11):
            assert mf.dispatch_fetch("http://localhost/inc").text() == str(expected)
        assert mf.dispatch_fetch("http://localhost/put?n=50&name=other").text() == "50"
    with Miniflare(**counter_worker, **persist_options) as mf:
        assert mf.dispatch_fetch("http://localhost/get").json() == {"count": 10, "txnAttempts": 0}
        assert mf.dispatch_fetch("http://localhost/list?name=other").text() == "50"
        assert mf.dispatch_fetch("http://localhost/inc").text() == "11"


@pytest.mark.parametrize("persist_options", ["file", "redis"], indirect=True)
def test_python_writes_survive_and_are_seen_by_js(
    persist_options: dict[str, Any], counter_worker: dict[str, Any]
) -> None:
    with Miniflare(**counter_worker, **persist_options) as mf:
        namespace = mf.get_durable_object_namespace("COUNTER")
        mf.get_durable_object_storage(namespace.id_from_name("default")).put("count", 41)
    with Miniflare(**counter_worker, **persist_options) as mf:
        assert mf.dispatch_fetch("http://localhost/inc").text() == "42"


def test_memory_data_survives_set_options_but_not_a_new_instance(counter_worker: dict[str, Any]) -> None:
    with Miniflare(**counter_worker) as mf:
        mf.dispatch_fetch("http://localhost/inc")
        mf.set_options(**counter_worker)
        assert mf.dispatch_fetch("http://localhost/inc").text() == "2"
    with Miniflare(**counter_worker) as mf:
        assert mf.dispatch_fetch("http://localhost/inc").text() == "1"


def test_each_object_gets_its_own_directory(counter_worker: dict[str, Any], tmp_path: Path) -> None:
    root = tmp_path / "do"
    names = ["a", "b", "c"]
    with Miniflare(**counter_worker, durable_objects_persist=str(root)) as mf:
        for name in names:
            mf.dispatch_fetch(f"http://localhost/inc?name={name}")
        unique = mf.get_durable_object_namespace("COUNTER").new_unique_id()
        mf.get_durable_object_storage(unique).put("k", "v")
    expected = {id_from_name("COUNTER", name).hex for name in names} | {unique.hex}
    assert {path.name for path in (root / "COUNTER").iterdir()} == expected
    for object_hex in expected:
        assert (root / "COUNTER" / object_hex / DATABASE_NAME).is_file()
    # Data lives only in object directories; the root holds just the commit counter.
    data_files = [path for path in files_under(root) if path != root / COUNTER_NAME]
    assert {path.parent.parent.parent for path in data_files} == {root}
    assert (root / COUNTER_NAME).stat().st_size == 8


# ---------------------------------------------------------------------- hostile keys
@pytest.mark.parametrize("persist_options", ["file", "redis"], indirect=True)
def test_hostile_keys_round_trip_through_js_and_python(persist_options: dict[str, Any], tmp_path: Path) -> None:
    with keys_worker(persist_options) as mf:
        for index, key in enumerate(HOSTILE_KEYS):
            response = mf.dispatch_fetch(
                "http://localhost/put", method="POST", body=json.dumps({"key": key, "value": index})
            )
            assert response.status == 200, response.text()
        storage = mf.get_durable_object_storage(mf.get_durable_object_namespace("STORE").id_from_name("py"))
        storage.put({key: f"py-{index}" for index, key in enumerate(HOSTILE_KEYS)})
        storage.put("lone \ud800 surrogate", "py-lone")
    with keys_worker(persist_options) as mf:
        for index, key in enumerate(HOSTILE_KEYS):
            got = mf.dispatch_fetch("http://localhost/get", method="POST", body=json.dumps({"key": key})).json()
            assert got == {"value": index}, key
        listed = mf.dispatch_fetch("http://localhost/keys").json()
        assert listed == sorted(HOSTILE_KEYS, key=lambda key: key.encode("utf-8"))
        storage = mf.get_durable_object_storage(mf.get_durable_object_namespace("STORE").id_from_name("py"))
        stored = storage.list()
        assert stored == {
            **{key: f"py-{index}" for index, key in enumerate(HOSTILE_KEYS)},
            "lone \ud800 surrogate": "py-lone",
        }
        js_view = mf.dispatch_fetch(
            "http://localhost/get?name=py", method="POST", body=json.dumps({"key": "nul\x00inside"})
        ).json()
        assert js_view == {"value": f"py-{HOSTILE_KEYS.index('nul' + chr(0) + 'inside')}"}
    if "redis_prefix" not in persist_options:  # nothing is written outside <root>/<binding>/<hex id>/
        root = tmp_path / "do"
        assert {path.relative_to(root).parts[:2] for path in files_under(tmp_path)} == {
            ("STORE", id_from_name("STORE", "default").hex),
            ("STORE", id_from_name("STORE", "py").hex),
            (COUNTER_NAME,),  # the commit counter (no data)
        }


# ---------------------------------------------------------------------- alarms
@pytest.mark.parametrize("persist_options", ["file", "redis"], indirect=True)
def test_alarm_set_before_a_restart_fires_after_it_when_due(persist_options: dict[str, Any]) -> None:
    with keys_worker(persist_options) as mf:
        at = int(time.time() * 1000) + 400
        assert mf.dispatch_fetch(f"http://localhost/alarm?at={at}").text() == "set"
    with keys_worker(persist_options) as mf:
        deadline = time.monotonic() + 10
        while mf.dispatch_fetch("http://localhost/fired").json() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mf.dispatch_fetch("http://localhost/fired").json() == 1
        assert time.time() * 1000 >= at
        storage = mf.get_durable_object_storage(mf.get_durable_object_namespace("STORE").id_from_name("default"))
        assert storage.get_alarm() is None


@pytest.mark.parametrize("persist_options", ["file", "redis"], indirect=True)
def test_alarm_due_while_stopped_fires_on_start(persist_options: dict[str, Any]) -> None:
    with keys_worker(persist_options) as mf:
        at = int(time.time() * 1000) + 100
        mf.dispatch_fetch(f"http://localhost/alarm?at={at}")
    time.sleep(0.3)  # due while no emulator runs
    with keys_worker(persist_options) as mf:
        deadline = time.monotonic() + 10
        while mf.dispatch_fetch("http://localhost/fired").json() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert mf.dispatch_fetch("http://localhost/fired").json() == 1


@pytest.mark.parametrize("persist_options", ["file", "redis"], indirect=True)
def test_flush_alarms_runs_a_restored_future_alarm(persist_options: dict[str, Any]) -> None:
    with keys_worker(persist_options) as mf:
        at = int(time.time() * 1000) + 3_600_000
        mf.dispatch_fetch(f"http://localhost/alarm?at={at}")
    with keys_worker(persist_options) as mf:
        storage = mf.get_durable_object_storage(mf.get_durable_object_namespace("STORE").id_from_name("default"))
        assert storage.get_alarm() == at
        mf.flush_alarms()
        assert mf.dispatch_fetch("http://localhost/fired").json() == 1
        assert storage.get_alarm() is None
    with keys_worker(persist_options) as mf:
        mf.flush_alarms()
        assert mf.dispatch_fetch("http://localhost/fired").json() == 1  # ran once, not again


def test_alarms_are_not_restored_when_disabled(tmp_path: Path) -> None:
    persist = {"durable_objects_persist": str(tmp_path / "do")}
    with keys_worker(persist) as mf:
        mf.dispatch_fetch(f"http://localhost/alarm?at={int(time.time() * 1000) + 100}")
    with keys_worker(persist, durable_objects_alarms=False) as mf:
        time.sleep(0.4)
        assert mf.dispatch_fetch("http://localhost/fired").json() is None


# ---------------------------------------------------------------------- read cache on disk
def test_file_objects_answer_repeated_reads_from_the_cache(counter_worker: dict[str, Any], tmp_path: Path) -> None:
    with Miniflare(**counter_worker, durable_objects_persist=str(tmp_path / "do")) as mf:
        mf.dispatch_fetch("http://localhost/inc")
        mf.trace.clear()
        assert mf.dispatch_fetch("http://localhost/inc").text() == "2"
        gets = mf.trace.events(kind="storage.get")
        assert len(gets) == 1 and gets[0].data.get("cached") is True


def test_cached_reads_see_commits_of_another_instance_on_the_same_directory(
    counter_worker: dict[str, Any], tmp_path: Path
) -> None:
    root = str(tmp_path / "do")
    with Miniflare(**counter_worker, durable_objects_persist=root) as first:
        with Miniflare(**counter_worker, durable_objects_persist=root) as second:
            assert first.dispatch_fetch("http://localhost/inc").text() == "1"  # first caches count
            assert second.dispatch_fetch("http://localhost/inc").text() == "2"
            assert first.dispatch_fetch("http://localhost/inc").text() == "3"  # not a stale 2
            second.get_durable_object_storage(
                second.get_durable_object_namespace("COUNTER").id_from_name("default")
            ).put("count", 10)
            assert first.dispatch_fetch("http://localhost/inc").text() == "11"


def test_cached_reads_see_commits_of_another_process(counter_worker: dict[str, Any], tmp_path: Path) -> None:
    import subprocess
    import sys

    root = tmp_path / "do"
    writer = f"""
from mfbook import Miniflare
mf = Miniflare(script="export default {{ fetch() {{ return new Response(''); }} }}; export class Counter {{}}",
               modules=True, durable_objects={{"COUNTER": "Counter"}}, durable_objects_persist={str(root)!r})
storage = mf.get_durable_object_storage(mf.get_durable_object_namespace("COUNTER").id_from_name("default"))
storage.put("count", 41)
mf.dispose()
"""
    with Miniflare(**counter_worker, durable_objects_persist=str(root)) as mf:
        assert mf.dispatch_fetch("http://localhost/inc").text() == "1"
        subprocess.run([sys.executable, "-c", writer], check=True, timeout=60)
        assert mf.dispatch_fetch("http://localhost/inc").text() == "42"
