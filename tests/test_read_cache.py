"""The JS read cache of in-memory objects stays coherent with every other writer."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from mfbook import Miniflare

WORKER = """
export class Store {
  constructor(state) { this.storage = state.storage; }
  async fetch(request) {
    const url = new URL(request.url);
    const key = url.searchParams.get("key") ?? "k";
    switch (url.pathname) {
      case "/get": return Response.json((await this.storage.get(key)) ?? null);
      case "/inc": {
        const next = ((await this.storage.get(key)) ?? 0) + 1;
        await this.storage.put(key, next);
        return Response.json(next);
      }
      case "/txn": {
        const next = await this.storage.transaction(async (txn) => {
          const value = ((await txn.get(key)) ?? 0) + 100;
          await txn.put(key, value);
          return value;
        });
        return Response.json(next);
      }
      case "/race": {
        // A read issued before a write must not put the old value in the cache.
        const before = this.storage.get(key);
        this.storage.put(key, "new");
        const first = await before;
        return Response.json([first, await this.storage.get(key)]);
      }
      case "/delete": return Response.json(await this.storage.delete(key));
      case "/list": return Response.json([...(await this.storage.list()).keys()]);
    }
    return new Response("no route", { status: 404 });
  }
}
export default { fetch: (request, env) => env.STORE.getByName("one").fetch(request) };
"""


@pytest.fixture
def mf() -> Iterator[Miniflare]:
    with Miniflare(script=WORKER, modules=True, durable_objects={"STORE": "Store"}, console=None) as instance:
        yield instance


def get(mf: Miniflare, key: str = "k") -> object:
    return mf.dispatch_fetch(f"http://localhost/get?key={key}").json()


def storage(mf: Miniflare):  # type: ignore[no-untyped-def]
    return mf.get_durable_object_namespace("STORE").storage("one")


def test_repeated_reads_are_answered_from_the_cache_and_traced(mf: Miniflare) -> None:
    storage(mf).put("k", 1)
    assert get(mf) == 1
    mf.trace.clear()
    assert get(mf) == 1
    reads = mf.trace.events(kind="storage.get")
    assert len(reads) == 1 and reads[0].data == {"cached": True} and reads[0].keys == ("k",)


def test_a_python_write_is_seen_by_the_next_request(mf: Miniflare) -> None:
    assert mf.dispatch_fetch("http://localhost/inc").json() == 1
    storage(mf).put("k", 41)
    assert mf.dispatch_fetch("http://localhost/inc").json() == 42
    storage(mf).delete("k")
    assert get(mf) is None
    storage(mf).put("k", 7)
    storage(mf).delete_all()
    assert get(mf) is None


def test_transactions_from_js_and_python_invalidate_the_cache(mf: Miniflare) -> None:
    assert mf.dispatch_fetch("http://localhost/inc").json() == 1
    assert mf.dispatch_fetch("http://localhost/txn").json() == 101
    assert mf.dispatch_fetch("http://localhost/inc").json() == 102
    storage(mf).transaction(lambda txn: txn.put("k", txn.get("k") + 1000))
    assert mf.dispatch_fetch("http://localhost/inc").json() == 1103


def test_a_read_racing_a_write_does_not_cache_the_old_value(mf: Miniflare) -> None:
    storage(mf).put("k", "old")
    assert mf.dispatch_fetch("http://localhost/race").json() == ["old", "new"]
    assert get(mf) == "new"


def test_deletes_and_listing_keep_the_cache_right(mf: Miniflare) -> None:
    storage(mf).put({"a": 1, "b": 2})
    assert mf.dispatch_fetch("http://localhost/list").json() == ["a", "b"]
    assert mf.dispatch_fetch("http://localhost/delete?key=a").json() is True
    assert get(mf, "a") is None and get(mf, "b") == 2
    storage(mf).put("a", 3)
    assert get(mf, "a") == 3


def test_an_import_is_seen_by_the_next_request(mf: Miniflare) -> None:
    storage(mf).put("k", 1)
    assert get(mf) == 1
    exported = io.StringIO()
    mf.export_storage(exported)
    storage(mf).put("k", 2)
    assert get(mf) == 2
    mf.import_storage(io.StringIO(exported.getvalue()))
    assert get(mf) == 1


def test_redis_objects_never_cache(redis_url: str, redis_prefix: str) -> None:
    # Other processes write Redis without telling this one, so every read must reach Redis.
    with Miniflare(
        script=WORKER,
        modules=True,
        durable_objects={"STORE": "Store"},
        durable_objects_persist=redis_url,
        redis_prefix=redis_prefix,
        console=None,
    ) as persisted:
        storage(persisted).put("k", 1)
        assert get(persisted) == 1 and get(persisted) == 1
        assert all(not event.data.get("cached") for event in persisted.trace.events(kind="storage.get"))
