"""wrangler.toml / wrangler.json / wrangler.jsonc configuration files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mfbook import ConfigError, Miniflare
from mfbook.wrangler import Migration, read_config

COUNTER = """
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async fetch() {
    const n = ((await this.ctx.storage.get("n")) ?? 0) + 1;
    await this.ctx.storage.put("n", n);
    return new Response(String(n));
  }
}
export default {
  async fetch(request, env) {
    const stub = env.COUNTER.getByName("shared");
    return new Response(`${env.WHERE}:${await (await stub.fetch(request)).text()}`);
  },
};
"""

MAIN = """
export default {
  async fetch(request, env) {
    const stub = env.COUNTER.getByName("shared");
    const count = await (await stub.fetch(request)).text();
    const api = env.API ? await (await env.API.fetch("http://api/")).text() : "-";
    return new Response(`${env.WHERE}:${count}:${api}`);
  },
};
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Two workers on disk: ``api`` exports Counter, ``main`` binds it via script_name."""
    write(tmp_path / "api" / "src" / "index.js", COUNTER)
    write(
        tmp_path / "api" / "wrangler.toml",
        """
name = "api"
main = "src/index.js"
compatibility_date = "2024-09-23"

[vars]
WHERE = "api"

[durable_objects]
bindings = [{ name = "COUNTER", class_name = "Counter" }]

[[migrations]]
tag = "v1"
new_classes = ["Counter"]
""",
    )
    write(tmp_path / "main" / "src" / "index.js", MAIN)
    write(
        tmp_path / "main" / "wrangler.toml",
        """
name = "main"
main = "./src/index.js"
compatibility_date = "2024-09-23"
compatibility_flags = ["nodejs_compat"]

[vars]
WHERE = "main"

[durable_objects]
bindings = [{ name = "COUNTER", class_name = "Counter", script_name = "api" }]

[[services]]
binding = "API"
service = "api"

[env.staging]
name = "main-staging"

[env.staging.vars]
WHERE = "staging"

[[env.staging.durable_objects.bindings]]
name = "COUNTER"
class_name = "Counter"
script_name = "api"
""",
    )
    return tmp_path


def test_class_exported_by_another_script_from_wrangler_files(project: Path) -> None:
    with Miniflare(
        workers=[
            {"wrangler_config_path": project / "main" / "wrangler.toml"},
            {"wrangler_config_path": project / "api" / "wrangler.toml"},
        ]
    ) as mf:
        assert mf.workers == ["main", "api"]
        assert mf.dispatch_fetch("http://x/").text() == "main:1:api:2"
        assert mf.dispatch_fetch("http://x/", worker_name="api").text() == "api:3"
        main_ns = mf.get_durable_object_namespace("COUNTER", worker_name="main")
        api_ns = mf.get_durable_object_namespace("COUNTER", worker_name="api")
        assert main_ns.id_from_name("shared") == api_ns.id_from_name("shared")
        assert mf.get_durable_object_storage(main_ns.id_from_name("shared")).get("n") == 3


def test_read_config_maps_keys_to_worker_options(project: Path) -> None:
    config = read_config(project / "main" / "wrangler.toml")
    assert config.options == {
        "name": "main",
        "script_path": (project / "main" / "src" / "index.js").resolve(),
        "modules": True,
        "compatibility_date": "2024-09-23",
        "compatibility_flags": ["nodejs_compat"],
        "bindings": {"WHERE": "main"},
        "durable_objects": {"COUNTER": {"class_name": "Counter", "script_name": "api"}},
        "service_bindings": {"API": {"name": "api"}},
    }
    assert read_config(project / "api" / "wrangler.toml").migrations == (Migration("v1", new_classes=("Counter",)),)


def test_environment_replaces_non_inheritable_keys_and_inherits_the_rest(project: Path) -> None:
    config = read_config(project / "main" / "wrangler.toml", environment="staging")
    assert config.options["name"] == "main-staging"
    assert config.options["script_path"] == (project / "main" / "src" / "index.js").resolve()
    assert config.options["compatibility_date"] == "2024-09-23"
    assert config.options["bindings"] == {"WHERE": "staging"}
    assert "service_bindings" not in config.options  # [[services]] is not inherited


def test_staging_environment_runs(project: Path) -> None:
    with Miniflare(
        workers=[
            {"wrangler_config_path": project / "main" / "wrangler.toml", "environment": "staging"},
            {"wrangler_config_path": project / "api" / "wrangler.toml"},
        ]
    ) as mf:
        assert mf.workers == ["main-staging", "api"]
        assert mf.dispatch_fetch("http://x/").text() == "staging:1:-"


def test_environment_name_defaults_to_name_dash_env(tmp_path: Path) -> None:
    write(tmp_path / "index.js", "export default { fetch: (r, env) => new Response(env.LEVEL ?? 'none') }")
    path = write(tmp_path / "wrangler.toml", 'name = "app"\nmain = "index.js"\n[vars]\nLEVEL = "top"\n[env.dev]\n')
    config = read_config(path, environment="dev")
    assert config.options["name"] == "app-dev"
    assert "bindings" not in config.options
    with Miniflare(wrangler_config_path=path, environment="dev") as mf:
        assert mf.dispatch_fetch("http://x/").text() == "none"


def test_unknown_environment_is_an_error(project: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        read_config(project / "main" / "wrangler.toml", environment="prod")
    assert str(caught.value) == (
        'wrangler.toml: No environment found in configuration with name "prod" (environments: staging).'
    )


def test_environment_without_a_file_is_an_error() -> None:
    with pytest.raises(ConfigError, match="environment= selects a section of a wrangler file"):
        Miniflare(script="export default {}", modules=True, environment="staging")


def test_explicit_options_override_the_file(project: Path) -> None:
    with Miniflare(
        workers=[
            {
                "wrangler_config_path": project / "main" / "wrangler.toml",
                "name": "front",
                "bindings": {"WHERE": "python"},
                "service_bindings": {},
            },
            {"wrangler_config_path": project / "api" / "wrangler.toml"},
        ]
    ) as mf:
        assert mf.workers == ["front", "api"]
        assert mf.dispatch_fetch("http://x/").text() == "python:1:-"


def test_explicit_script_replaces_main(tmp_path: Path) -> None:
    write(tmp_path / "index.js", "export default { fetch: () => new Response('file') }")
    path = write(tmp_path / "wrangler.toml", 'name = "app"\nmain = "index.js"\n')
    with Miniflare(
        wrangler_config_path=path, script="export default { fetch: () => new Response('inline') }", modules=True
    ) as mf:
        assert mf.dispatch_fetch("http://x/").text() == "inline"


def test_wrangler_json_and_jsonc(tmp_path: Path) -> None:
    write(tmp_path / "src" / "index.js", COUNTER)
    config = {
        "name": "api",
        "main": "src/index.js",
        "vars": {"WHERE": "json"},
        "durable_objects": {"bindings": [{"name": "COUNTER", "class_name": "Counter"}]},
        "migrations": [{"tag": "v1", "new_sqlite_classes": ["Counter"]}],
    }
    json_path = write(tmp_path / "wrangler.json", json.dumps(config))
    with Miniflare(wrangler_config_path=json_path) as mf:
        assert mf.dispatch_fetch("http://x/").text() == "json:1"
    jsonc_path = write(
        tmp_path / "wrangler.jsonc",
        """{
  // comments and trailing commas, as wrangler allows
  "name": "api",
  "main": "src/index.js",
  /* block comment */
  "vars": { "WHERE": "jsonc", },
  "durable_objects": { "bindings": [{ "name": "COUNTER", "class_name": "Counter" },] },
}
""",
    )
    with Miniflare(wrangler_config_path=jsonc_path) as mf:
        assert mf.dispatch_fetch("http://x/").text() == "jsonc:1"
    assert read_config(json_path).sqlite_classes == frozenset({"Counter"})


def test_service_worker_main_is_detected(tmp_path: Path) -> None:
    write(tmp_path / "sw.js", "addEventListener('fetch', (e) => e.respondWith(new Response('sw')));")
    path = write(tmp_path / "wrangler.toml", 'name = "sw"\nmain = "sw.js"\n')
    assert read_config(path).options["modules"] is False
    with Miniflare(wrangler_config_path=path) as mf:
        assert mf.dispatch_fetch("http://x/").text() == "sw"


def test_rules_and_entrypoint_services(tmp_path: Path) -> None:
    write(
        tmp_path / "api.js",
        """
import { WorkerEntrypoint } from "cloudflare:workers";
import readme from "./README.md";
export class Docs extends WorkerEntrypoint { read() { return readme.trim(); } }
export default { fetch: () => new Response("api") };
""",
    )
    write(tmp_path / "README.md", "# docs\n")
    write(
        tmp_path / "main.js", "export default { async fetch(r, env) { return new Response(await env.DOCS.read()); } };"
    )
    api = write(tmp_path / "api.toml", 'name = "api"\nmain = "api.js"\n[[rules]]\ntype = "Text"\nglobs = ["**/*.md"]\n')
    main = write(
        tmp_path / "main.toml",
        'name = "main"\nmain = "main.js"\nservices = [{ binding = "DOCS", service = "api", entrypoint = "Docs" }]\n',
    )
    with Miniflare(workers=[{"wrangler_config_path": main}, {"wrangler_config_path": api}]) as mf:
        assert mf.dispatch_fetch("http://x/").text() == "# docs"


# ---------------------------------------------------------------------- migrations
def migrations_project(
    tmp_path: Path, migrations: str, bindings: str = 'bindings = [{ name = "COUNTER", class_name = "Counter" }]'
) -> Path:
    write(tmp_path / "index.js", COUNTER)
    return write(
        tmp_path / "wrangler.toml",
        f'name = "api"\nmain = "index.js"\n[vars]\nWHERE = "m"\n[durable_objects]\n{bindings}\n{migrations}',
    )


def test_migration_of_a_class_the_script_does_not_export(tmp_path: Path) -> None:
    path = migrations_project(tmp_path, '[[migrations]]\ntag = "v1"\nnew_classes = ["Counter", "Ghost"]\n')
    with pytest.raises(ConfigError) as caught:
        Miniflare(wrangler_config_path=path)
    assert str(caught.value) == (
        'wrangler.toml: migration "v1" declares Durable Object class "Ghost", but worker "api" does not '
        "export a class with that name (exported classes: Counter)"
    )


def test_binding_to_a_deleted_class(tmp_path: Path) -> None:
    path = migrations_project(
        tmp_path,
        '[[migrations]]\ntag = "v1"\nnew_classes = ["Counter"]\n'
        '[[migrations]]\ntag = "v2"\ndeleted_classes = ["Counter"]\n',
    )
    with pytest.raises(ConfigError) as caught:
        Miniflare(wrangler_config_path=path)
    assert str(caught.value) == (
        'wrangler.toml: Durable Object binding "COUNTER" uses class "Counter" of worker "api", '
        'but migration "v2" deleted it'
    )


def test_binding_to_a_renamed_class(tmp_path: Path) -> None:
    path = migrations_project(
        tmp_path,
        '[[migrations]]\ntag = "v1"\nnew_classes = ["Counter"]\n'
        '[[migrations]]\ntag = "v2"\nrenamed_classes = [{ from = "Counter", to = "Tally" }]\n',
    )
    with pytest.raises(
        ConfigError, match='migration "v2" declares Durable Object class "Tally", but worker "api" does not export'
    ):
        Miniflare(wrangler_config_path=path)
    write(tmp_path / "index.js", COUNTER + "\nexport class Tally extends Counter {}\n")
    with pytest.raises(ConfigError) as caught:
        Miniflare(wrangler_config_path=path)
    assert str(caught.value) == (
        'wrangler.toml: Durable Object binding "COUNTER" uses class "Counter" of worker "api", '
        'but migration "v2" renamed it to "Tally"'
    )


def test_rename_then_bind_the_new_name(tmp_path: Path) -> None:
    path = migrations_project(
        tmp_path,
        '[[migrations]]\ntag = "v1"\nnew_classes = ["Tally"]\n'
        '[[migrations]]\ntag = "v2"\nrenamed_classes = [{ from = "Tally", to = "Counter" }]\n',
    )
    with Miniflare(wrangler_config_path=path) as mf:
        assert mf.dispatch_fetch("http://x/").text() == "m:1"


def test_binding_to_a_class_no_migration_creates(tmp_path: Path) -> None:
    write(tmp_path / "index.js", COUNTER + "\nexport class Other {}\n")
    path = write(
        tmp_path / "wrangler.toml",
        'name = "api"\nmain = "index.js"\n'
        '[durable_objects]\nbindings = [{ name = "COUNTER", class_name = "Counter" }]\n'
        '[[migrations]]\ntag = "v1"\nnew_classes = ["Other"]\n',
    )
    with pytest.raises(
        ConfigError, match='binding "COUNTER" uses class "Counter" of worker "api", but no migration creates it'
    ):
        Miniflare(wrangler_config_path=path)


@pytest.mark.parametrize(
    ("migrations", "message"),
    [
        (
            '[[migrations]]\ntag = "v1"\nnew_classes = ["Counter"]\n[[migrations]]\ntag = "v1"\n',
            'migration tag "v1" is used twice',
        ),
        (
            '[[migrations]]\ntag = "v1"\ndeleted_classes = ["Counter"]\n',
            'migration "v1" deletes class "Counter", which no earlier migration created',
        ),
        (
            '[[migrations]]\ntag = "v1"\nrenamed_classes = [{ from = "A", to = "B" }]\n',
            'migration "v1" renames class "A", which no earlier migration created',
        ),
        (
            '[[migrations]]\ntag = "v1"\nnew_classes = ["Counter"]\n'
            '[[migrations]]\ntag = "v2"\nnew_sqlite_classes = ["Counter"]\n',
            'migration "v2" creates class "Counter", which migration "v1" already created',
        ),
    ],
)
def test_inconsistent_migrations(tmp_path: Path, migrations: str, message: str) -> None:
    path = migrations_project(tmp_path, migrations)
    with pytest.raises(ConfigError) as caught:
        read_config(path)
    assert str(caught.value) == f"wrangler.toml: {message}"


def test_migrations_of_a_class_bound_from_another_worker(project: Path) -> None:
    api_toml = project / "api" / "wrangler.toml"
    api_toml.write_text(
        api_toml.read_text().replace(
            'new_classes = ["Counter"]',
            'new_classes = ["Counter"]\n\n[[migrations]]\ntag = "v2"\ndeleted_classes = ["Counter"]',
        )
    )
    api_toml.write_text(
        api_toml.read_text().replace(
            '[durable_objects]\nbindings = [{ name = "COUNTER", class_name = "Counter" }]\n', ""
        )
    )
    write(project / "api" / "src" / "index.js", COUNTER.replace("env.COUNTER.getByName", "env.MISSING?.getByName"))
    with pytest.raises(
        ConfigError, match='binding "COUNTER" uses class "Counter" of worker "api", but migration "v2" deleted it'
    ):
        Miniflare(
            workers=[
                {"wrangler_config_path": project / "main" / "wrangler.toml"},
                {"wrangler_config_path": api_toml},
            ]
        )


# ---------------------------------------------------------------------- file errors
def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "wrangler.toml", 'name = "x\n')
    with pytest.raises(ConfigError, match=r"^wrangler.toml: invalid TOML: .*line 1"):
        read_config(path)


def test_invalid_jsonc_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "wrangler.jsonc", '{ "name": }')
    with pytest.raises(ConfigError, match="^wrangler.jsonc: invalid JSON"):
        read_config(path)


def test_missing_file_and_wrong_suffix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        read_config(tmp_path / "wrangler.toml")
    with pytest.raises(ConfigError, match="expected a .toml, .json or .jsonc file"):
        read_config(write(tmp_path / "wrangler.yaml", "name: x"))


def test_durable_object_binding_without_class_name(tmp_path: Path) -> None:
    path = write(tmp_path / "wrangler.toml", '[durable_objects]\nbindings = [{ name = "B" }]\n')
    with pytest.raises(ConfigError, match="each durable_objects binding needs name and class_name"):
        read_config(path)


def test_invalid_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "wrangler.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=r"^wrangler.toml: not valid UTF-8 \(byte 11: invalid continuation byte\)"):
        read_config(path)


@pytest.mark.parametrize("how", ["script", "script_path"])
def test_a_module_script_beside_a_wrangler_file_needs_no_modules_flag(tmp_path: Path, how: str) -> None:
    source = "export class C {} export default { fetch: () => new Response('module') }"
    path = write(
        tmp_path / "wrangler.toml", 'name = "app"\n[[durable_objects.bindings]]\nname = "C"\nclass_name = "C"\n'
    )
    script = {"script": source} if how == "script" else {"script_path": write(tmp_path / "w.js", source)}
    with Miniflare(wrangler_config_path=path, **script) as mf:  # wrangler infers the format
        assert mf.dispatch_fetch("http://x/").text() == "module"


def test_a_service_worker_script_beside_a_wrangler_file_stays_a_service_worker(tmp_path: Path) -> None:
    path = write(tmp_path / "wrangler.toml", 'name = "sw"\n')
    source = "addEventListener('fetch', (e) => e.respondWith(new Response('sw')));"
    with Miniflare(wrangler_config_path=path, script=source) as mf:
        assert mf.dispatch_fetch("http://x/").text() == "sw"
