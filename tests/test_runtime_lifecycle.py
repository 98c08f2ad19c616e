"""End-to-end: construction, options, reload, async twins, disposal and errors of ``Miniflare`` (issue 2)."""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import mfbook
from mfbook import ConfigError, DisposedError, Miniflare, WorkerError

HELLO = 'export default { fetch: (request) => new Response("hello " + new URL(request.url).pathname) }'
REPO = Path(__file__).resolve().parents[1]


def new(script: str = HELLO, **options: Any) -> Miniflare:
    options.setdefault("console", None)
    options.setdefault("modules", True)
    return Miniflare(script=script, **options)


# ---------------------------------------------------------------- async twins
def test_dispatch_fetch_async_from_asyncio_run() -> None:
    mf = new()
    try:
        response = asyncio.run(mf.dispatch_fetch_async("http://localhost/a"))
        assert (response.status, response.text()) == (200, "hello /a")
    finally:
        mf.dispose()


def test_gather_of_dispatch_fetch_async_from_a_foreign_loop() -> None:
    mf = new(
        """export default { async fetch(request) {
            const n = Number(new URL(request.url).searchParams.get("n"));
            await new Promise((resolve) => setTimeout(resolve, 30 - n));
            return new Response(String(n * n));
        } };"""
    )

    async def main() -> tuple[list[str], str]:
        responses = await asyncio.gather(*(mf.dispatch_fetch_async(f"http://localhost/?n={n}") for n in range(20)))
        return [response.text() for response in responses], threading.current_thread().name

    try:
        texts, thread_name = asyncio.run(main())
        assert texts == [str(n * n) for n in range(20)]
        assert thread_name == threading.main_thread().name
    finally:
        mf.dispose()


def test_async_twin_does_not_block_the_callers_loop() -> None:
    mf = new(
        "export default { async fetch() { await new Promise((r) => setTimeout(r, 100)); "
        'return new Response("slow"); } }'
    )

    async def main() -> list[str]:
        events: list[str] = []

        async def ticker() -> None:
            for _ in range(5):
                events.append("tick")
                await asyncio.sleep(0.005)

        async def fetch() -> None:
            response = await mf.dispatch_fetch_async("http://localhost/")
            events.append(response.text())

        await asyncio.gather(fetch(), ticker())
        return events

    try:
        assert asyncio.run(main()) == ["tick"] * 5 + ["slow"]
    finally:
        mf.dispose()


def test_async_context_manager() -> None:
    async def main() -> Miniflare:
        async with new() as mf:
            assert (await mf.dispatch_fetch_async("http://localhost/")).text() == "hello /"
        return mf

    mf = asyncio.run(main())
    assert mf.disposed


def test_blocking_api_usable_from_many_threads() -> None:
    mf = new()
    results: list[str] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        text = mf.dispatch_fetch(f"http://localhost/{index}").text()
        with lock:
            results.append(text)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == sorted(f"hello /{index}" for index in range(8))
    finally:
        mf.dispose()


# ---------------------------------------------------------------- reload
def test_set_options_hot_reloads_new_code() -> None:
    mf = new('let n = 0; export default { fetch: () => new Response("v1 " + (++n)) }')
    try:
        assert mf.dispatch_fetch("http://localhost/").text() == "v1 1"
        assert mf.dispatch_fetch("http://localhost/").text() == "v1 2"
        mf.set_options(
            script='addEventListener("fetch", (e) => e.respondWith(new Response("v2")))', modules=False, console=None
        )
        assert mf.dispatch_fetch("http://localhost/").text() == "v2"
        mf.set_options(
            script='let n = 0; export default { fetch: () => new Response("v3 " + (++n)) }', modules=True, console=None
        )
        assert mf.dispatch_fetch("http://localhost/").text() == "v3 1"
    finally:
        mf.dispose()


def test_set_options_changes_bindings_and_limits() -> None:
    mf = new("export default { fetch: (r, env) => new Response(env.WHO) }", bindings={"WHO": "a"})
    try:
        assert mf.dispatch_fetch("http://localhost/").text() == "a"
        mf.set_options(
            script="export default { fetch: (r, env) => new Response(env.WHO) }",
            modules=True,
            bindings={"WHO": "b"},
            console=None,
        )
        assert mf.dispatch_fetch("http://localhost/").text() == "b"
    finally:
        mf.dispose()


def test_set_options_with_a_bad_script_keeps_nothing_broken() -> None:
    mf = new()
    try:
        with pytest.raises(ConfigError):
            mf.set_options(script="export default {", modules=True, console=None)
        mf.set_options(script=HELLO, modules=True, console=None)
        assert mf.dispatch_fetch("http://localhost/z").text() == "hello /z"
    finally:
        mf.dispose()


COUNTING = """
export class C {
  constructor(state) { this.storage = state.storage; }
  async fetch() {
    const n = ((await this.storage.get("n")) ?? 0) + 1;
    await this.storage.put("n", n);
    return new Response("old " + n);
  }
}
export default { fetch: (request, env) => env.C.get(env.C.idFromName("a")).fetch(request) };
"""


@pytest.mark.parametrize(
    ("script", "durable_objects", "message"),
    [
        ('throw new Error("load fails"); export default {};', {}, "The worker failed to start: Error: load fails"),
        ("export default { fetch: () => new Response('new') };", {"C": "C"}, 'Class "C" for Durable Object "C" not found'),
        ("export class C {} export default {", {"C": "C"}, "SyntaxError"),
    ],
    ids=["throws-at-load", "missing-class", "syntax-error"],
)
def test_a_failed_set_options_leaves_the_old_configuration_serving(script, durable_objects, message) -> None:
    with Miniflare(script=COUNTING, modules=True, durable_objects={"C": "C"}, cpu_limit_ms=900, console=None) as mf:
        assert mf.dispatch_fetch("http://localhost/").text() == "old 1"
        with pytest.raises((ConfigError, SyntaxError), match=message):
            mf.set_options(script=script, modules=True, durable_objects=durable_objects, cpu_limit_ms=5, console=None)
        assert mf.dispatch_fetch("http://localhost/").text() == "old 2"
        stub = mf.get_durable_object_namespace("C").get_by_name("a")
        assert stub.fetch("/").text() == "old 3"
        assert mf._runtime.limits.cpu_ms == 900  # the failed options changed nothing


def test_set_options_from_a_script_path(tmp_path: Path) -> None:
    path = tmp_path / "worker.js"
    path.write_text('export default { fetch: () => new Response("one") };\n')
    mf = Miniflare(script_path=path, modules=True, console=None)
    try:
        assert mf.dispatch_fetch("http://localhost/").text() == "one"
        path.write_text('export default { fetch: () => new Response("two") };\n')
        mf.set_options(script_path=path, modules=True, console=None)
        assert mf.dispatch_fetch("http://localhost/").text() == "two"
    finally:
        mf.dispose()


def test_pending_timers_of_the_old_code_do_not_fire_after_reload() -> None:
    lines: list[tuple[str, str]] = []
    mf = new(
        """export default { fetch(request, env, ctx) {
            setTimeout(() => console.log("old timer"), 50);
            return new Response("armed");
        } };""",
        console=lambda level, text: lines.append((level, text)),
    )
    try:
        assert mf.dispatch_fetch("http://localhost/").text() == "armed"
        mf.set_options(script=HELLO, modules=True, console=lambda level, text: lines.append((level, text)))
        import time

        time.sleep(0.15)
        assert mf.dispatch_fetch("http://localhost/").text() == "hello /"
        assert ("log", "old timer") not in lines
    finally:
        mf.dispose()


# ---------------------------------------------------------------- dispose
def test_context_manager_disposes() -> None:
    with new() as mf:
        assert mf.dispatch_fetch("http://localhost/").status == 200
        thread = mf._loop._thread
    assert mf.disposed
    assert not thread.is_alive()


def test_using_a_disposed_instance_raises_disposed_error() -> None:
    mf = new(
        durable_objects={"OBJ": "Obj"},
        script="""
        export class Obj { fetch() { return new Response("obj"); } }
        export default { fetch: () => new Response("hi") };""",
    )
    namespace = mf.get_durable_object_namespace("OBJ")
    stub = namespace.get(namespace.id_from_name("x"))
    mf.dispose()
    mf.dispose()  # idempotent
    with pytest.raises(DisposedError):
        mf.dispatch_fetch("http://localhost/")
    with pytest.raises(DisposedError):
        asyncio.run(mf.dispatch_fetch_async("http://localhost/"))
    with pytest.raises(DisposedError):
        mf.set_options(script=HELLO, modules=True)
    with pytest.raises(DisposedError):
        mf.get_durable_object_namespace("OBJ")
    with pytest.raises(DisposedError):
        stub.fetch("/")
    with pytest.raises(DisposedError) as raised:
        mf.get_durable_object_storage(namespace.id_from_name("x"))
    assert "disposed" in str(raised.value)
    assert isinstance(raised.value, mfbook.MfbookError)


def test_dispose_with_requests_in_flight_fails_them() -> None:
    # an armed interval keeps the runtime from declaring the request hung
    mf = new("export default { fetch: () => { setInterval(() => {}, 1000); return new Promise(() => {}); } }")

    async def main() -> Any:
        task = asyncio.ensure_future(mf.dispatch_fetch_async("http://localhost/"))
        await asyncio.sleep(0.05)
        await mf.dispose_async()
        return await asyncio.wait_for(task, 5)

    response = asyncio.run(main())
    assert response.status == 500
    assert "disposed" in response.text()


def test_a_script_that_never_disposes_exits_at_once_with_its_data(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from mfbook import Miniflare
        mf = Miniflare(script={COUNTING!r}, modules=True, durable_objects={{"C": "C"}},
                       durable_objects_persist={str(tmp_path / "do")!r})
        print(mf.dispatch_fetch("http://localhost/").text())
        other = Miniflare(script="export default {{}}", modules=True)  # two live instances
        """
    )
    for expected in ("old 1", "old 2"):
        # Exit used to wait 30 s per instance for an emulator thread that could no longer run.
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == expected


def test_many_instances_do_not_leak_threads() -> None:
    before = threading.active_count()
    for _ in range(10):
        with new() as mf:
            mf.dispatch_fetch("http://localhost/")
    assert threading.active_count() <= before + 1


# ---------------------------------------------------------------- configuration errors
@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"script": HELLO, "modules": True, "scrpit_path": "x.js"}, "scrpit_path"),
        ({"script": 42}, "script"),
        ({}, "script"),
        ({"script": HELLO, "script_path": "worker.js"}, "script"),
        ({"script_path": "/does/not/exist.js"}, "script_path"),
        ({"script": HELLO, "modules": "yes"}, "modules"),
        ({"script": HELLO, "modules": True, "cpu_limit_ms": -1}, "cpu_limit_ms"),
        ({"script": HELLO, "modules": True, "cpu_limit_ms": "fast"}, "cpu_limit_ms"),
        ({"script": HELLO, "modules": True, "memory_limit_mb": 1}, "memory_limit_mb"),
        ({"script": HELLO, "modules": True, "upstream": "http://origin"}, "upstream"),
        ({"script": HELLO, "modules": True, "bindings": ["A"]}, "bindings"),
        ({"script": HELLO, "modules": True, "bindings": {"F": object()}}, "bindings"),
        ({"script": HELLO, "modules": True, "compatibility_date": "2024/01/01"}, "compatibility_date"),
        ({"script": HELLO, "modules": True, "compatibility_flags": "nodejs_compat"}, "compatibility_flags"),
        ({"script": HELLO, "modules": True, "durable_objects": ["A"]}, "durable_objects"),
        ({"script": HELLO, "modules": True, "durable_objects": {"A": "Missing"}}, "durable_objects"),
        ({"script": HELLO, "modules": True, "workers": []}, "workers"),
        ({"workers": [5]}, "workers"),
        ({"script": HELLO, "modules": True, "trace_maxlen": "abc"}, "trace_maxlen"),
        ({"script": HELLO, "modules": True, "trace_maxlen": -5}, "trace_maxlen"),
        ({"script": HELLO, "modules": True, "redis_options": "abc"}, "redis_options"),
        ({"script": HELLO, "modules": True, "redis_prefix": object()}, "redis_prefix"),
        ({"script": HELLO, "modules": True, "durable_objects_persist": __file__}, "durable_objects_persist"),
    ],
)
def test_bad_options_raise_config_error_naming_the_option(options: dict[str, Any], option: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Miniflare(**{"console": None, **options})
    assert raised.value.option == option
    # Miniflare's own texts (e.g. 'Class "Missing" for Durable Object "A" not found') are kept verbatim
    assert option in str(raised.value) or "Durable Object" in str(raised.value)


def test_bad_console_option() -> None:
    with pytest.raises(ConfigError) as raised:
        Miniflare(script=HELLO, modules=True, console="loud")
    assert raised.value.option == "console"
    assert "console" in str(raised.value)


def test_syntax_error_in_a_script_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.js"
    path.write_text('export default {\n  fetch() {\n    return new Response("x" +);\n  },\n};\n')
    with pytest.raises(ConfigError) as raised:
        Miniflare(script_path=path, modules=True, console=None)
    assert raised.value.option in ("script", "script_path")
    assert "broken.js:3:" in str(raised.value)


def test_syntax_error_in_an_inline_module_script() -> None:
    with pytest.raises(ConfigError) as raised:
        new("const a = 1;\nconst = 2;\nexport default {};")
    assert "worker.js:2:" in str(raised.value)


def test_syntax_error_in_a_service_worker_script() -> None:
    with pytest.raises(ConfigError) as raised:
        new("addEventListener('fetch', (e) => {\n  e.respondWith(new Response('x')\n});", modules=False)
    assert raised.value.option == "script"
    assert "SyntaxError" in str(raised.value)
    assert "worker.js:3:" in str(raised.value)


def test_exception_at_the_top_level_of_a_script_is_a_config_error_with_its_stack() -> None:
    with pytest.raises(ConfigError) as raised:
        new('const x = 1;\nthrow new Error("top-level boom");\nexport default {};')
    assert "top-level boom" in str(raised.value)
    assert "worker.js:2:" in str(raised.value)


# ---------------------------------------------------------------- WorkerError where an API call must raise
OBJECTS = """
import { DurableObject } from "cloudflare:workers";
export class Plain {
  fetch(request) {
    if (new URL(request.url).pathname === "/throw") {
      throw new RangeError("object fetch failed");
    }
    return new Response("plain ok");
  }
}
export class Rpc extends DurableObject {
  add(a, b) { return a + b; }
  explode(message) {
    throw new TypeError(message);
  }
}
export default { fetch: () => new Response("entry") };
"""


@pytest.fixture
def objects() -> Any:
    mf = new(OBJECTS, durable_objects={"PLAIN": "Plain", "RPC": "Rpc"})
    yield mf
    mf.dispose()


def test_object_fetch_from_python_raises_worker_error_with_the_js_stack(objects: Miniflare) -> None:
    stub = objects.get_durable_object_namespace("PLAIN").get_by_name("a")
    assert stub.fetch("/").text() == "plain ok"
    with pytest.raises(WorkerError) as raised:
        stub.fetch("/throw")
    error = raised.value
    assert error.name == "RangeError"
    assert error.js_message == "object fetch failed"
    assert "worker.js:6:" in error.stack
    assert str(error) == "RangeError: object fetch failed"
    assert stub.fetch("/").text() == "plain ok"


def test_rpc_error_raises_worker_error(objects: Miniflare) -> None:
    stub = objects.get_durable_object_namespace("RPC").get_by_name("b")
    assert stub.call("add", 2, 3) == 5
    assert stub.add(1.5, 1) == 2.5
    with pytest.raises(WorkerError) as raised:
        stub.call("explode", "rpc failed")
    assert (raised.value.name, raised.value.js_message) == ("TypeError", "rpc failed")
    assert "worker.js:14:" in raised.value.stack


def test_rpc_async_twin_raises_from_a_foreign_loop(objects: Miniflare) -> None:
    stub = objects.get_durable_object_namespace("RPC").get_by_name("c")

    async def main() -> Any:
        ok = await stub.call_async("add", "a", "b")
        with pytest.raises(WorkerError):
            await stub.call_async("explode", "async failed")
        return ok

    assert asyncio.run(main()) == "ab"


def test_rpc_to_an_unknown_method_raises(objects: Miniflare) -> None:
    stub = objects.get_durable_object_namespace("RPC").get_by_name("d")
    with pytest.raises(WorkerError) as raised:
        stub.call("nope")
    assert raised.value.name == "TypeError"


# ---------------------------------------------------------------- package surface
def test_all_is_sorted_and_importable() -> None:
    names = mfbook.__all__
    assert list(names) == sorted(names)
    assert len(set(names)) == len(names)
    module = importlib.import_module("mfbook")
    for name in names:
        assert hasattr(module, name), name
    namespace: dict[str, Any] = {}
    exec("from mfbook import *", namespace)
    assert set(names) <= set(namespace)


def test_engine_works_without_ipython_or_ipywidgets(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys

        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("IPython", "ipywidgets", "ipykernel", "traitlets"):
                    raise ImportError(f"{name} is blocked in this test")
                return None

        sys.meta_path.insert(0, Blocker())
        import mfbook
        from mfbook import Miniflare

        with Miniflare(script='export default { fetch: () => new Response("engine ok") }', modules=True,
                       console=None) as mf:
            print(mf.dispatch_fetch("http://localhost/").text())
        loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("IPython", "ipywidgets"))
        print("loaded:", loaded)
        """
    )
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["engine ok", "loaded: []"]
