"""mf.export_storage / mf.import_storage: JSON lines, readable values, atomic per object."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from mfbook import ConfigError, JSMap, Miniflare
from mfbook.export import StorageTransfer
from mfbook.ids import id_from_name

VALUES_WORKER = r"""
export class Counter {
  constructor(state) { this.storage = state.storage; }
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/fill") {
      await this.storage.put({
        count: 42,
        text: "héllo\u0000world",
        map: new Map([[1, "one"], ["two", 2n]]),
        date: new Date(0),
        bytes: new Uint8Array([1, 2, 255]),
        nested: { list: [1, null, { deep: true }], nan: NaN },
      });
      await this.storage.setAlarm(4102444800000);
      return new Response("filled");
    }
    if (url.pathname === "/check") {
      const map = await this.storage.get("map");
      const bytes = await this.storage.get("bytes");
      const nested = await this.storage.get("nested");
      return Response.json({
        map: map instanceof Map && map.get(1) === "one" && map.get("two") === 2n,
        bytes: bytes instanceof Uint8Array && bytes.join() === "1,2,255",
        date: (await this.storage.get("date")).getTime() === 0,
        nan: Number.isNaN(nested.nan),
        text: (await this.storage.get("text")) === "héllo\u0000world",
        alarm: await this.storage.getAlarm(),
      });
    }
    return new Response("not found", { status: 404 });
  }
  async alarm() {}
}
export default {
  fetch: (request, env) => env.COUNTER.get(env.COUNTER.idFromName(new URL(request.url).searchParams.get("name") ?? "a")).fetch(request),
};
"""

KINDS = ["memory", "file", "redis"]


def make(options: dict[str, Any]) -> Miniflare:
    return Miniflare(
        script=VALUES_WORKER, modules=True, durable_objects={"COUNTER": "Counter"}, console=None, **options
    )


def options_for(kind: str, tmp_path: Path, request: pytest.FixtureRequest, tag: str) -> dict[str, Any]:
    if kind == "memory":
        return {}
    if kind == "file":
        return {"durable_objects_persist": str(tmp_path / f"do-{tag}")}
    return {
        "durable_objects_persist": request.getfixturevalue("redis_url"),
        "redis_prefix": f"{request.getfixturevalue('redis_prefix')}{tag}:",
    }


def fill(mf: Miniflare) -> None:
    assert mf.dispatch_fetch("http://localhost/fill").text() == "filled"
    namespace = mf.get_durable_object_namespace("COUNTER")
    storage = mf.get_durable_object_storage(namespace.id_from_name("py"))
    storage.put({"lone \ud800": {1, 2}, "when": datetime(2024, 1, 1, tzinfo=timezone.utc), "../x": JSMap([(1, 2)])})


@pytest.mark.parametrize("target", KINDS)
@pytest.mark.parametrize("source", KINDS)
def test_round_trip_between_backends(source: str, target: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    exported = tmp_path / "export.jsonl"
    with make(options_for(source, tmp_path, request, "src")) as mf:
        fill(mf)
        summary = mf.export_storage(exported)
    assert summary == StorageTransfer(objects=2, keys=9, alarms=1)
    with make(options_for(target, tmp_path, request, "dst")) as mf:
        assert mf.import_storage(exported) == summary
        assert mf.dispatch_fetch("http://localhost/check").json() == {
            "map": True,
            "bytes": True,
            "date": True,
            "nan": True,
            "text": True,
            "alarm": 4102444800000,
        }
        storage = mf.get_durable_object_storage(mf.get_durable_object_namespace("COUNTER").id_from_name("py"))
        assert storage.get(["lone \ud800", "when"]) == {
            "lone \ud800": {1, 2},
            "when": datetime(2024, 1, 1, tzinfo=timezone.utc),
        }
        again = tmp_path / "again.jsonl"
        mf.export_storage(again)
    assert again.read_bytes() == exported.read_bytes()


def test_lines_are_readable_json_with_the_codec_document_as_value(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    with make({}) as mf:
        fill(mf)
        mf.export_storage(path)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    object_hex = id_from_name("COUNTER", "a").hex
    by_key = {line["key"]: line for line in lines if "key" in line and line["id"] == object_hex}
    assert by_key["count"] == {"binding": "COUNTER", "id": object_hex, "key": "count", "value": 42}
    assert by_key["text"]["value"] == "héllo\x00world"
    assert by_key["date"]["value"] == {"$": "date", "v": 0}
    assert by_key["nested"]["value"] == {"list": [1, None, {"deep": True}], "nan": {"$": "number", "v": "NaN"}}
    assert lines[len(by_key)] == {"binding": "COUNTER", "id": object_hex, "alarm": 4102444800000}
    assert "héllo" in path.read_text(encoding="utf-8")  # non-ASCII stays readable
    assert "\\ud800" in path.read_text(encoding="utf-8")  # lone surrogates are escaped (valid UTF-8)
    keys = [line["key"] for line in lines if "key" in line and line["id"] == object_hex]
    assert keys == sorted(keys, key=lambda key: key.encode("utf-8"))


def test_import_writes_one_commit_per_object(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    with make({}) as mf:
        fill(mf)
        mf.export_storage(path)
    with make({}) as mf:
        before = len([event for event in mf.trace.records() if event["kind"] == "storage.commit"])
        mf.import_storage(path)
        commits = [event for event in mf.trace.records() if event["kind"] == "storage.commit"][before:]
    assert len(commits) == 2
    assert sorted(len(event["keys"]) for event in commits) == [3, 6]


def test_import_merges_by_default_and_replace_clears_the_object_first(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    with make({}) as mf:
        storage = mf.get_durable_object_storage(mf.get_durable_object_namespace("COUNTER").id_from_name("a"))
        storage.put("count", 1)
        mf.export_storage(path)
        storage.put({"count": 5, "extra": True})
        storage.set_alarm(4102444800000)
        mf.import_storage(path)
        assert storage.list() == {"count": 1, "extra": True}
        assert storage.get_alarm() == 4102444800000
        mf.import_storage(path, replace=True)
        assert storage.list() == {"count": 1}
        assert storage.get_alarm() is None


def test_bad_lines_are_named_and_nothing_is_written(tmp_path: Path) -> None:
    object_hex = id_from_name("COUNTER", "a").hex
    good = json.dumps({"binding": "COUNTER", "id": object_hex, "key": "k", "value": 1})
    cases = {
        "not json": ValueError,
        json.dumps({"binding": "COUNTER", "id": "xyz", "key": "k", "value": 1}): ValueError,
        json.dumps({"binding": "COUNTER", "id": object_hex, "key": "k", "value": {"$": "nope"}}): ValueError,
        json.dumps({"binding": "COUNTER", "id": object_hex, "alarm": "soon"}): ValueError,
        json.dumps({"binding": "MISSING", "id": object_hex, "key": "k", "value": 1}): ConfigError,
    }
    with make({}) as mf:
        storage = mf.get_durable_object_storage(mf.get_durable_object_namespace("COUNTER").id_from_name("a"))
        for bad, error in cases.items():
            with pytest.raises(error, match=":2: "):
                mf.import_storage(io.StringIO(f"{good}\n{bad}\n"))
            assert storage.list() == {}


def test_streams_and_async_twins(tmp_path: Path) -> None:
    import asyncio

    with make({}) as mf:
        fill(mf)
        stream = io.StringIO()
        assert mf.export_storage(stream).keys == 9
        exported = stream.getvalue()

    async def run() -> StorageTransfer:
        with make({}) as other:
            summary = await other.import_storage_async(io.StringIO(exported))
            out = tmp_path / "async.jsonl"
            await other.export_storage_async(out)
            assert out.read_text(encoding="utf-8") == exported
            return summary

    assert asyncio.run(run()).objects == 2
