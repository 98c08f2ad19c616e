"""Several workers in one emulator: classes from other scripts, service bindings, RPC."""

from __future__ import annotations

import pytest

from mfbook import ConfigError, Miniflare

COUNTER_API = """
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async fetch(request) {
    const n = ((await this.ctx.storage.get("n")) ?? 0) + 1;
    await this.ctx.storage.put("n", n);
    return new Response(String(n));
  }
  async add(k) {
    const n = ((await this.ctx.storage.get("n")) ?? 0) + k;
    await this.ctx.storage.put("n", n);
    return n;
  }
}
export default {
  async fetch(request, env) {
    const stub = env.COUNTER.get(env.COUNTER.idFromName("shared"));
    return new Response("api:" + await (await stub.fetch(request)).text());
  },
};
"""

MAIN_USING = """
export default {
  async fetch(request, env) {
    const id = env.{binding}.idFromName("shared");
    const stub = env.{binding}.get(id);
    const text = await (await stub.fetch(request)).text();
    return new Response("main:" + text + ":" + id.toString());
  },
};
"""


def two_workers(main_binding: str = "COUNTER", api_binding: str | None = "COUNTER") -> Miniflare:
    api: dict[str, object] = {"name": "api", "script": COUNTER_API, "modules": True}
    if api_binding is not None:
        api["durable_objects"] = {api_binding: "Counter"}
        api["script"] = COUNTER_API.replace("env.COUNTER", f"env.{api_binding}")
    return Miniflare(
        workers=[
            {
                "name": "main",
                "script": MAIN_USING.replace("{binding}", main_binding),
                "modules": True,
                "durable_objects": {main_binding: {"class_name": "Counter", "script_name": "api"}},
            },
            api,
        ]
    )


def test_class_from_another_script_shares_objects_with_its_own_worker() -> None:
    with two_workers() as mf:
        assert mf.dispatch_fetch("http://x/").text().startswith("main:1:")
        assert mf.dispatch_fetch("http://x/", worker_name="api").text() == "api:2"
        assert mf.dispatch_fetch("http://x/").text().startswith("main:3:")


def test_both_workers_namespaces_give_the_same_ids_and_storage_from_python() -> None:
    with two_workers() as mf:
        mf.dispatch_fetch("http://x/")
        main_ns = mf.get_durable_object_namespace("COUNTER", worker_name="main")
        api_ns = mf.get_durable_object_namespace("COUNTER", worker_name="api")
        assert main_ns.id_from_name("shared") == api_ns.id_from_name("shared")
        storage = mf.get_durable_object_storage(main_ns.id_from_name("shared"))
        assert storage.get("n") == 1
        storage.put("n", 41)
        assert mf.dispatch_fetch("http://x/", worker_name="api").text() == "api:42"
        assert mf.get_durable_object_storage(api_ns.id_from_name("shared")).get("n") == 42


def test_ids_follow_miniflare_when_binding_names_agree() -> None:
    with two_workers() as mf:
        text = mf.dispatch_fetch("http://x/").text()
        expected = mf.get_durable_object_namespace("COUNTER").id_from_name("shared")
        assert text.split(":")[2] == expected.hex
        # Miniflare 2 hashes the binding name: the DESIGN.md vector still holds.
    with Miniflare(
        script=COUNTER_API.replace("COUNTER", "TEST"), modules=True, durable_objects={"TEST": "Counter"}
    ) as mf:
        assert str(mf.get_durable_object_namespace("TEST").id_from_name("test")) == (
            "a856dbbd5109f5217920084de35ee0a24072ca790341ed4e94ee059335e587e5"
        )


def test_bindings_with_different_names_reach_the_same_objects() -> None:
    with two_workers(main_binding="OTHER", api_binding="COUNTER") as mf:
        main_text = mf.dispatch_fetch("http://x/").text()
        assert main_text.startswith("main:1:")
        assert mf.dispatch_fetch("http://x/", worker_name="api").text() == "api:2"
        other = mf.get_durable_object_namespace("OTHER", worker_name="main")
        counter = mf.get_durable_object_namespace("COUNTER", worker_name="api")
        # The class's own worker names the namespace: ids hash "COUNTER" for both bindings.
        assert other.id_from_name("shared") == counter.id_from_name("shared")
        assert main_text.split(":")[2] == counter.id_from_name("shared").hex
        assert mf.get_durable_object_storage(other.id_from_name("shared")).get("n") == 2


def test_class_bound_only_by_another_worker() -> None:
    with two_workers(main_binding="REMOTE", api_binding=None) as mf:
        assert mf.dispatch_fetch("http://x/").text().startswith("main:1:")
        namespace = mf.get_durable_object_namespace("REMOTE")
        assert mf.get_durable_object_storage(namespace.id_from_name("shared")).get("n") == 1
        assert namespace.get_by_name("shared").add(5) == 6


def test_same_binding_name_for_two_different_classes_stays_separate() -> None:
    other = COUNTER_API.replace("class Counter", "class Counter2").replace('"api:"', '"other:"')
    with Miniflare(
        workers=[
            {"name": "api", "script": COUNTER_API, "modules": True, "durable_objects": {"COUNTER": "Counter"}},
            {"name": "other", "script": other, "modules": True, "durable_objects": {"COUNTER": "Counter2"}},
        ]
    ) as mf:
        assert mf.dispatch_fetch("http://x/", worker_name="api").text() == "api:1"
        assert mf.dispatch_fetch("http://x/", worker_name="api").text() == "api:2"
        assert mf.dispatch_fetch("http://x/", worker_name="other").text() == "other:1"
        first = mf.get_durable_object_namespace("COUNTER", worker_name="api")
        second = mf.get_durable_object_namespace("COUNTER", worker_name="other")
        assert first.binding == "COUNTER"
        assert second.binding == "Counter2@other"
        assert mf.get_durable_object_storage(second.id_from_name("shared")).get("n") == 1


def test_rpc_through_a_binding_to_another_scripts_class() -> None:
    main = """
    export default {
      async fetch(request, env) {
        const stub = env.B.getByName("rpc");
        return new Response(String(await stub.add(3)) + "," + String(await stub.add(4)));
      },
    };
    """
    with Miniflare(
        workers=[
            {
                "name": "main",
                "script": main,
                "modules": True,
                "durable_objects": {"B": {"class_name": "Counter", "script_name": "api"}},
            },
            {"name": "api", "script": COUNTER_API, "modules": True, "durable_objects": {"COUNTER": "Counter"}},
        ]
    ) as mf:
        assert mf.dispatch_fetch("http://x/").text() == "3,7"


def test_script_not_found_error_is_miniflares() -> None:
    with pytest.raises(ConfigError) as caught:
        Miniflare(
            script="export default { fetch() { return new Response('') } }",
            modules=True,
            durable_objects={"B": {"class_name": "C", "script_name": "api"}},
        )
    assert str(caught.value) == (
        'Script "api" for Durable Object "B" not found.\n'
        'Make sure "api" is mounted so Miniflare knows where to find it.'
    )


def test_class_not_found_in_other_script_error_is_miniflares() -> None:
    with pytest.raises(ConfigError) as caught:
        Miniflare(
            workers=[
                {
                    "name": "main",
                    "script": "export default {}",
                    "modules": True,
                    "durable_objects": {"B": {"class_name": "C", "script_name": "api"}},
                },
                {"name": "api", "script": "export class D {}; export default {}", "modules": True},
            ]
        )
    assert str(caught.value) == 'Class "C" in script "api" for Durable Object "B" not found'


def test_class_not_found_in_own_script_error_is_miniflares() -> None:
    with pytest.raises(ConfigError) as caught:
        Miniflare(script="export default {}", modules=True, durable_objects={"B": "C"})
    assert str(caught.value) == 'Class "C" for Durable Object "B" not found'


def test_unknown_worker_name_is_a_config_error() -> None:
    with two_workers() as mf:
        with pytest.raises(ConfigError, match="no worker named 'nope'"):
            mf.get_durable_object_namespace("COUNTER", worker_name="nope")
        with pytest.raises(ConfigError, match="No Durable Object binding 'MISSING' in worker 'api'"):
            mf.get_durable_object_namespace("MISSING", worker_name="api")


def test_dispatch_fetch_defaults_to_the_first_worker() -> None:
    with Miniflare(
        workers=[
            {"name": "a", "script": "export default { fetch: () => new Response('a') }", "modules": True},
            {"name": "b", "script": "addEventListener('fetch', e => e.respondWith(new Response('b')))"},
        ]
    ) as mf:
        assert mf.workers == ["a", "b"]
        assert mf.dispatch_fetch("http://x/").text() == "a"
        assert mf.dispatch_fetch("http://x/", worker_name="b").text() == "b"


# ---------------------------------------------------------------------- service bindings
def test_service_binding_fetch_reaches_the_other_worker() -> None:
    main = """
    export default {
      async fetch(request, env) {
        const response = await env.API.fetch("http://api/hello", { method: "POST", body: "ping" });
        return new Response(`${response.status}:${await response.text()}`);
      },
    };
    """
    api = """
    export default {
      async fetch(request, env) {
        const path = new URL(request.url).pathname;
        return new Response(`${request.method} ${path} ${await request.text()} ${env.WHO}`, { status: 201 });
      },
    };
    """
    with Miniflare(
        workers=[
            {"name": "main", "script": main, "modules": True, "service_bindings": {"API": "api"}},
            {"name": "api", "script": api, "modules": True, "bindings": {"WHO": "api-worker"}},
        ]
    ) as mf:
        assert mf.dispatch_fetch("http://x/").text() == "201:POST /hello ping api-worker"


def test_service_binding_recursion_stops_at_the_pipeline_depth_limit() -> None:
    script = """
    export default {
      async fetch(request, env) {
        const n = Number(new URL(request.url).searchParams.get("n") ?? "1");
        try {
          return await env.SELF.fetch(`http://self/?n=${n + 1}`);
        } catch (error) {
          return new Response(`${n}|${error.message}`);
        }
      },
    };
    """
    with Miniflare(script=script, modules=True, service_bindings={"SELF": "worker"}) as mf:
        depth, message = mf.dispatch_fetch("http://x/").text().split("|", 1)
    assert depth == "32"
    assert message == (
        "Subrequest depth limit exceeded. This request recursed through Workers too many times. "
        "This can happen e.g. if you have a Worker or Durable Object that calls other Workers or "
        "objects recursively.\nService bindings can recurse up to 32 times."
    )


def test_service_not_found_error_is_miniflares() -> None:
    with pytest.raises(ConfigError) as caught:
        Miniflare(script="export default {}", modules=True, service_bindings={"API": "api"})
    assert str(caught.value) == (
        'Service "api" for binding "API" not found.\nMake sure "api" is mounted so Miniflare knows where to find it.'
    )


ENTRYPOINTS = """
import { WorkerEntrypoint } from "cloudflare:workers";
export class Admin extends WorkerEntrypoint {
  async fetch(request) { return new Response("admin " + this.env.WHO); }
  async add(a, b) { return { sum: a + b, who: this.env.WHO, when: new Date(0) }; }
  boom() { throw new RangeError("no way"); }
}
export default class extends WorkerEntrypoint {
  async fetch(request) { return new Response("default"); }
  greet(name) { return `hello ${name}`; }
}
"""


def _rpc_main(body: str) -> str:
    return "export default { async fetch(request, env) { " + body + " } };"


def test_rpc_to_a_named_worker_entrypoint() -> None:
    main = _rpc_main(
        "const r = await env.ADMIN.add(2, 3);"
        "return new Response(JSON.stringify([r.sum, r.who, r.when instanceof Date, await (await env.ADMIN.fetch('http://a/')).text()]));"
    )
    with Miniflare(
        workers=[
            {
                "name": "main",
                "script": main,
                "modules": True,
                "service_bindings": {"ADMIN": {"name": "api", "entrypoint": "Admin"}},
            },
            {"name": "api", "script": ENTRYPOINTS, "modules": True, "bindings": {"WHO": "api"}},
        ]
    ) as mf:
        assert mf.dispatch_fetch("http://x/").json() == [5, "api", True, "admin api"]


def test_rpc_to_a_default_export_worker_entrypoint() -> None:
    main = _rpc_main(
        "return new Response(await env.API.greet('ada') + '/' + await (await env.API.fetch('http://a/')).text());"
    )
    with Miniflare(
        workers=[
            {"name": "main", "script": main, "modules": True, "service_bindings": {"API": "api"}},
            {"name": "api", "script": ENTRYPOINTS, "modules": True},
        ]
    ) as mf:
        assert mf.dispatch_fetch("http://x/").text() == "hello ada/default"


def test_rpc_errors_keep_their_type_and_message() -> None:
    main = _rpc_main(
        "const out = [];"
        "for (const call of [() => env.ADMIN.boom(), () => env.ADMIN.missing()]) {"
        "  try { await call(); out.push('no error'); } catch (e) { out.push(`${e.name}: ${e.message}`); }"
        "}"
        "return new Response(JSON.stringify(out));"
    )
    with Miniflare(
        workers=[
            {
                "name": "main",
                "script": main,
                "modules": True,
                "service_bindings": {"ADMIN": {"name": "api", "entrypoint": "Admin"}},
            },
            {"name": "api", "script": ENTRYPOINTS, "modules": True},
        ]
    ) as mf:
        assert mf.dispatch_fetch("http://x/").json() == [
            "RangeError: no way",
            'TypeError: The RPC receiver does not implement the method "missing".',
        ]


def test_rpc_to_a_plain_object_default_export_is_refused() -> None:
    main = _rpc_main(
        "try { await env.API.hello(); return new Response('no error'); } catch (e) { return new Response(e.message); }"
    )
    with Miniflare(
        workers=[
            {"name": "main", "script": main, "modules": True, "service_bindings": {"API": "api"}},
            {"name": "api", "script": "export default { fetch: () => new Response('x') }", "modules": True},
        ]
    ) as mf:
        text = mf.dispatch_fetch("http://x/").text()
    assert "does not support RPC" in text
    assert "extends WorkerEntrypoint" in text


def test_service_binding_to_an_unknown_entrypoint_fails_the_call() -> None:
    main = _rpc_main(
        "try { await env.X.add(1, 2); return new Response('no error'); } catch (e) { return new Response(e.message); }"
    )
    with Miniflare(
        workers=[
            {
                "name": "main",
                "script": main,
                "modules": True,
                "service_bindings": {"X": {"name": "api", "entrypoint": "Nope"}},
            },
            {"name": "api", "script": ENTRYPOINTS, "modules": True},
        ]
    ) as mf:
        assert mf.dispatch_fetch("http://x/").text() == 'Worker has no entrypoint named "Nope".'


def test_bad_service_binding_option() -> None:
    with pytest.raises(ConfigError, match="service_bindings: binding 'API' must map to a worker name"):
        Miniflare(script="export default {}", modules=True, service_bindings={"API": 3})


def test_reload_keeps_the_shared_objects_storage() -> None:
    with two_workers(main_binding="OTHER") as mf:
        mf.dispatch_fetch("http://x/")
        mf.set_options(
            workers=[
                {
                    "name": "main",
                    "script": MAIN_USING.replace("{binding}", "OTHER"),
                    "modules": True,
                    "durable_objects": {"OTHER": {"class_name": "Counter", "script_name": "api"}},
                },
                {"name": "api", "script": COUNTER_API, "modules": True, "durable_objects": {"COUNTER": "Counter"}},
            ]
        )
        assert mf.dispatch_fetch("http://x/", worker_name="api").text() == "api:2"


def test_alarm_of_a_class_bound_from_another_worker_runs_in_the_class_worker() -> None:
    api = """
    import { DurableObject } from "cloudflare:workers";
    export class Timer extends DurableObject {
      async arm() { await this.ctx.storage.setAlarm(Date.now() + 60_000); return "armed"; }
      async alarm() { await this.ctx.storage.put("fired", this.env.WHO); }
    }
    export default {};
    """
    main = "export default { async fetch(r, env) { return new Response(await env.T.getByName('t').arm()); } };"
    with Miniflare(
        workers=[
            {
                "name": "main",
                "script": main,
                "modules": True,
                "bindings": {"WHO": "main"},
                "durable_objects": {"T": {"class_name": "Timer", "script_name": "api"}},
            },
            {"name": "api", "script": api, "modules": True, "bindings": {"WHO": "api"}},
        ]
    ) as mf:
        assert mf.dispatch_fetch("http://x/").text() == "armed"
        mf.flush_alarms()
        storage = mf.get_durable_object_storage(mf.get_durable_object_namespace("T").id_from_name("t"))
        assert storage.get("fired") == "api"
