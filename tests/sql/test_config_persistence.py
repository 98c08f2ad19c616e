# ruff: noqa: E501 - long lines are JavaScript source inside strings
"""Which classes are SQLite-backed, and where their databases live."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mfbook import ConfigError, Miniflare
from mfbook.codec import decode

TEMPLATE_SHAPED = """
import { DurableObject } from "cloudflare:workers";
export class MyDurableObject extends DurableObject {
  constructor(ctx, env) { super(ctx, env); }
  async sayHello() {
    let result = this.ctx.storage.sql.exec("SELECT 'Hello, World!' as greeting").one();
    return result.greeting;
  }
}
export default {
  async fetch(request, env, ctx) {
    const id = env.MY_DURABLE_OBJECT.idFromName(new URL(request.url).pathname);
    const stub = env.MY_DURABLE_OBJECT.get(id);
    return new Response(await stub.sayHello());
  },
};
"""

COUNTER = """
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS c (id INTEGER PRIMARY KEY, n INTEGER); INSERT OR IGNORE INTO c VALUES (1, 0)");
  }
  async fetch() {
    const n = this.ctx.storage.sql.exec("UPDATE c SET n = n + 1 WHERE id = 1 RETURNING n").one().n;
    this.ctx.storage.kv.put("n", n);
    return new Response(String(n));
  }
}
export default { fetch: (request, env) => env.COUNTER.getByName("a").fetch(request) };
"""


def write_project(root: Path, migrations: list[dict[str, object]], class_name: str = "MyDurableObject") -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "index.js").write_text(TEMPLATE_SHAPED.replace("MyDurableObject", class_name))
    config = {
        "name": "hello",
        "main": "src/index.js",
        "compatibility_date": "2025-10-08",
        "migrations": migrations,
        "durable_objects": {"bindings": [{"class_name": class_name, "name": "MY_DURABLE_OBJECT"}]},
    }
    path = root / "wrangler.json"
    path.write_text(json.dumps(config))
    return path


def test_hello_world_template_runs_from_its_wrangler_file(tmp_path: Path) -> None:
    path = write_project(tmp_path, [{"new_sqlite_classes": ["MyDurableObject"], "tag": "v1"}])
    with Miniflare(wrangler_config_path=path) as mf:
        response = mf.dispatch_fetch("http://localhost:8787/")
        assert (response.status, response.text()) == (200, "Hello, World!")


def test_renamed_sqlite_class_stays_sqlite_backed(tmp_path: Path) -> None:
    path = write_project(
        tmp_path,
        [
            {"tag": "v1", "new_sqlite_classes": ["Old"]},
            {"tag": "v2", "renamed_classes": [{"from": "Old", "to": "Renamed"}]},
        ],
        class_name="Renamed",
    )
    with Miniflare(wrangler_config_path=path) as mf:
        assert mf.dispatch_fetch("http://localhost/").text() == "Hello, World!"


def test_new_classes_stay_kv_backed(tmp_path: Path) -> None:
    path = write_project(tmp_path, [{"tag": "v1", "new_classes": ["MyDurableObject"]}])
    with Miniflare(wrangler_config_path=path) as mf:
        response = mf.dispatch_fetch("http://localhost/")
        assert response.status == 500
        assert "SQL is not enabled for this Durable Object class" in response.text()


def test_toml_migrations(tmp_path: Path) -> None:
    (tmp_path / "index.js").write_text(TEMPLATE_SHAPED)
    path = tmp_path / "wrangler.toml"
    path.write_text(
        'name = "hello"\nmain = "index.js"\n'
        '[[durable_objects.bindings]]\nname = "MY_DURABLE_OBJECT"\nclass_name = "MyDurableObject"\n'
        '[[migrations]]\ntag = "v1"\nnew_sqlite_classes = ["MyDurableObject"]\n'
    )
    with Miniflare(wrangler_config_path=path) as mf:
        assert mf.dispatch_fetch("http://localhost/").text() == "Hello, World!"


def test_sqlite_option_must_be_a_bool() -> None:
    with pytest.raises(ConfigError, match="sqlite must be True or False") as caught:
        Miniflare(
            script=TEMPLATE_SHAPED,
            modules=True,
            durable_objects={"B": {"class_name": "MyDurableObject", "sqlite": "yes"}},
        )
    assert caught.value.option == "durable_objects"


def test_one_sqlite_binding_makes_the_class_sqlite_backed_everywhere() -> None:
    with Miniflare(
        workers=[
            {
                "name": "main",
                "script": TEMPLATE_SHAPED,
                "modules": True,
                "durable_objects": {"MY_DURABLE_OBJECT": "MyDurableObject"},
            },
            {
                "name": "other",
                "script": "export default { fetch: () => new Response('') }",
                "modules": True,
                "durable_objects": {"X": {"class_name": "MyDurableObject", "script_name": "main", "sqlite": True}},
            },
        ]
    ) as mf:
        assert mf.dispatch_fetch("http://localhost/").text() == "Hello, World!"


def test_redis_persistence_is_refused_for_sqlite_classes() -> None:
    with pytest.raises(ConfigError, match="SQLite-backed Durable Object classes cannot be stored in") as caught:
        Miniflare(
            script=TEMPLATE_SHAPED,
            modules=True,
            durable_objects={"MY_DURABLE_OBJECT": {"class_name": "MyDurableObject", "sqlite": True}},
            durable_objects_persist="redis://127.0.0.1:1/0",
        )
    assert "persist their worker to a directory" in str(caught.value)


def counter(persist: Path) -> Miniflare:
    return Miniflare(
        script=COUNTER,
        modules=True,
        durable_objects={"COUNTER": {"class_name": "Counter", "sqlite": True}},
        durable_objects_persist=str(persist),
    )


def test_file_persistence_survives_a_restart_and_reads_with_plain_sqlite(tmp_path: Path) -> None:
    with counter(tmp_path) as mf:
        assert [mf.dispatch_fetch("http://x/").text() for _ in range(3)] == ["1", "2", "3"]
    (database,) = tmp_path.glob("COUNTER/*/sql.sqlite3")
    plain = sqlite3.connect(database)
    assert plain.execute("SELECT n FROM c").fetchall() == [(3,)]
    ((raw,),) = plain.execute("SELECT value FROM _cf_KV WHERE key = CAST('n' AS BLOB)").fetchall()
    assert decode(raw.decode()) == 3
    plain.close()
    with counter(tmp_path) as mf:
        assert mf.dispatch_fetch("http://x/").text() == "4"


KILLED = """
from mfbook import Miniflare
COUNTER = {source!r}
mf = Miniflare(script=COUNTER, modules=True, durable_objects={{"COUNTER": {{"class_name": "Counter", "sqlite": True}}}}, durable_objects_persist={root!r})
while True:
    n = mf.dispatch_fetch("http://x/").text()
    if n == "20":
        print("ready", flush=True)
"""


def test_kill_9_mid_commit_leaves_a_consistent_database(tmp_path: Path) -> None:
    script = textwrap.dedent(KILLED.format(source=COUNTER, root=str(tmp_path)))
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"ready"
    time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()
    (database,) = tmp_path.glob("COUNTER/*/sql.sqlite3")
    plain = sqlite3.connect(database)
    assert plain.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    ((sql_count,),) = plain.execute("SELECT n FROM c").fetchall()
    ((raw,),) = plain.execute("SELECT value FROM _cf_KV WHERE key = CAST('n' AS BLOB)").fetchall()
    plain.close()
    assert sql_count >= 20
    assert decode(raw.decode()) == sql_count  # the SQL row and the KV pair committed together
