"""The notebook magics, driven through a real IPython ``InteractiveShell``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.getipython import get_ipython
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import start_ipython

import mfbook
from mfbook import Miniflare
from mfbook.render import FetchResponse, IdList, RecordList, StorageDict, Table

COUNTER = """import { DurableObject } from "cloudflare:workers";

export class Counter extends DurableObject {
  async fetch(request) {
    const count = ((await this.ctx.storage.get("count")) ?? 0) + 1;
    await this.ctx.storage.put("count", count);
    return Response.json({ count });
  }
  async add(amount, extra = 0) {
    const next = ((await this.ctx.storage.get("count")) ?? 0) + amount + extra;
    await this.ctx.storage.put("count", next);
    return next;
  }
  async later(ms) {
    await this.ctx.storage.setAlarm(Date.now() + ms);
  }
  async alarm() {
    await this.ctx.storage.put("alarmed", true);
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const name = url.searchParams.get("name") ?? "demo";
    console.log(`hit ${name}`);
    return env.COUNTER.getByName(name).fetch(request);
  },
};
"""


def run(shell: InteractiveShell, cell: str) -> Any:
    """Runs a cell; returns its ExecutionResult (errors are reported, not raised)."""
    return shell.run_cell(cell, store_history=False)


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    ip = start_ipython() or get_ipython()  # the global test shell (start_ipython returns it once)
    assert ip is not None
    ip.run_line_magic("load_ext", "mfbook")
    try:
        yield ip
    finally:
        ip.run_line_magic("unload_ext", "mfbook")
        ip.config.pop("MfbookMagics", None)  # %config values outlive %reload_ext on purpose; not between tests
        for name in ("mf", "emulator", "x", "y", "r", "ids", "value", "total"):
            ip.user_ns.pop(name, None)


@pytest.fixture
def counter(shell: InteractiveShell) -> InteractiveShell:
    shell.run_cell_magic("worker", "--do COUNTER=Counter", COUNTER)
    return shell


def test_load_ext_registers_every_magic(shell: InteractiveShell) -> None:
    line = set(shell.magics_manager.magics["line"])
    assert {
        "do_get",
        "do_put",
        "do_delete",
        "do_list",
        "do_ids",
        "do_fetch",
        "do_call",
        "do_alarms",
        "do_storage",
        "do_timeline",
        "mf_reset",
    } <= line
    assert "worker" in shell.magics_manager.magics["cell"]


def test_unload_ext_removes_the_magics_and_disposes(shell: InteractiveShell) -> None:
    shell.run_cell_magic("worker", "", 'export default { fetch: () => new Response("ok") }')
    mf = shell.user_ns["mf"]
    shell.run_line_magic("unload_ext", "mfbook")
    assert "do_get" not in shell.magics_manager.magics["line"]
    assert mf.disposed
    shell.run_line_magic("load_ext", "mfbook")  # the fixture unloads again


def test_worker_cell_puts_the_emulator_in_mf_and_current(
    counter: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    mf = counter.user_ns["mf"]
    assert isinstance(mf, Miniflare)
    assert mfbook.current() is mf
    assert mf.dispatch_fetch("http://localhost/?name=a").json() == {"count": 1}


def test_worker_cell_prints_what_it_did(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_cell_magic("worker", "--do COUNTER=Counter", COUNTER)
    assert capsys.readouterr().out == "mfbook: worker 'worker' (COUNTER -> Counter) loaded into `mf`\n"
    shell.run_cell_magic("worker", "--do COUNTER=Counter", COUNTER)
    assert capsys.readouterr().out == "mfbook: worker 'worker' (COUNTER -> Counter) reloaded (storage kept)\n"


def test_current_raises_without_a_worker_cell(shell: InteractiveShell) -> None:
    with pytest.raises(LookupError, match="run a %%worker cell"):
        mfbook.current()


def test_dollar_and_brace_expressions_reach_javascript_untouched(shell: InteractiveShell) -> None:
    shell.user_ns["x"] = "PYTHON"
    source = 'const x = "js";\nexport default { fetch: () => new Response(`${x} {x} $x`) }'
    run(shell, "%%worker\n" + source)
    assert shell.run_line_magic("do_fetch", "/").text() == "js {x} $x"


def test_line_magic_leaves_braces_in_urls(counter: InteractiveShell) -> None:
    counter.user_ns["x"] = "PYTHON"
    response = counter.run_line_magic("do_fetch", "/{x}?name=$x")
    assert response.json() == {"count": 1}
    assert counter.run_line_magic("do_get", "COUNTER $x count") == 1


def test_rerunning_a_cell_hot_reloads_and_keeps_storage(counter: InteractiveShell) -> None:
    counter.run_line_magic("do_fetch", "/?name=a")
    counter.run_line_magic("do_fetch", "/?name=a")
    mf = counter.user_ns["mf"]
    counter.run_cell_magic("worker", "--do COUNTER=Counter", COUNTER.replace("+ 1;", "+ 100;"))
    assert counter.user_ns["mf"] is mf
    assert counter.run_line_magic("do_fetch", "/?name=a").json() == {"count": 102}


def test_assignment_from_do_get(counter: InteractiveShell) -> None:
    counter.run_line_magic("do_put", "COUNTER alice count 41")
    result = run(counter, "x = %do_get COUNTER alice count")
    assert result.success
    assert counter.user_ns["x"] == 41


def test_do_get_several_keys_returns_a_dict(counter: InteractiveShell) -> None:
    counter.run_line_magic("do_put", "COUNTER alice a 1")
    counter.run_line_magic("do_put", "COUNTER alice b 2")
    value = counter.run_line_magic("do_get", "COUNTER alice a b missing")
    assert isinstance(value, StorageDict)
    assert value == {"a": 1, "b": 2}
    assert counter.run_line_magic("do_get", "COUNTER alice missing") is None


def test_do_get_of_a_missing_key_says_so(counter: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    assert counter.run_line_magic("do_get", "COUNTER alice missing") is None
    assert capsys.readouterr().out == "mfbook: no key 'missing' in COUNTER alice\n"
    counter.run_line_magic("do_put", "COUNTER alice stored None")
    assert counter.run_line_magic("do_get", "COUNTER alice stored") is None
    assert capsys.readouterr().out == ""  # a stored null is a value


def test_do_put_evaluates_the_expression_in_the_user_namespace(counter: InteractiveShell) -> None:
    counter.user_ns["value"] = {"nested": [1, 2, {3}]}
    counter.run_line_magic("do_put", "COUNTER alice data value")
    counter.run_line_magic("do_put", 'COUNTER alice literal {"a": 1, "b text": "x y"}')
    storage = counter.user_ns["mf"].get_durable_object_namespace("COUNTER").storage("alice")
    assert storage.get("data") == {"nested": [1, 2, {3}]}
    assert storage.get("literal") == {"a": 1, "b text": "x y"}


def test_quoted_names_and_keys(counter: InteractiveShell) -> None:
    counter.run_line_magic("do_put", "COUNTER 'my object' \"a key\" 7")
    assert counter.run_line_magic("do_get", "COUNTER 'my object' 'a key'") == 7


def test_by_hex_id(counter: InteractiveShell) -> None:
    counter.run_line_magic("do_put", "COUNTER alice count 5")
    hex_id = counter.user_ns["mf"].get_durable_object_namespace("COUNTER").id_from_name("alice").hex
    assert counter.run_line_magic("do_get", f"COUNTER --id {hex_id} count") == 5
    counter.run_line_magic("do_put", f"COUNTER --id {hex_id} count 6")
    counter.run_line_magic("do_put", f"COUNTER --id={hex_id} other 1")
    assert counter.run_line_magic("do_list", f"COUNTER --id {hex_id}") == {"count": 6, "other": 1}
    assert counter.run_line_magic("do_fetch", f"COUNTER --id {hex_id} /").json() == {"count": 7}


def test_do_delete_returns_how_many_existed(counter: InteractiveShell) -> None:
    counter.run_line_magic("do_put", "COUNTER alice a 1")
    counter.run_line_magic("do_put", "COUNTER alice b 1")
    assert counter.run_line_magic("do_delete", "COUNTER alice a b c") == 2
    assert counter.run_line_magic("do_list", "COUNTER alice") == {}


def test_do_list_options(counter: InteractiveShell) -> None:
    for key in ("a1", "a2", "a3", "b1"):
        counter.run_line_magic("do_put", f"COUNTER alice {key} '{key}'")
    listing = counter.run_line_magic("do_list", "COUNTER alice")
    assert isinstance(listing, StorageDict)
    assert list(listing) == ["a1", "a2", "a3", "b1"]
    assert list(counter.run_line_magic("do_list", "COUNTER alice --prefix a --reverse --limit 2")) == ["a3", "a2"]
    assert list(counter.run_line_magic("do_list", "COUNTER alice --start a2 --end b1")) == ["a2", "a3"]
    assert list(counter.run_line_magic("do_list", "COUNTER alice --start-after a2")) == ["a3", "b1"]


def test_do_ids_lists_objects_with_names(counter: InteractiveShell) -> None:
    counter.run_line_magic("do_fetch", "/?name=alice")
    counter.run_line_magic("do_put", "COUNTER bob count 1")
    ids = counter.run_line_magic("do_ids", "COUNTER")
    namespace = counter.user_ns["mf"].get_durable_object_namespace("COUNTER")
    expected = sorted([namespace.id_from_name("alice").hex, namespace.id_from_name("bob").hex])
    assert isinstance(ids, IdList)
    assert list(ids) == expected
    assert sorted(ids.names.values()) == ["alice", "bob"]


def test_do_fetch_worker_and_object(counter: InteractiveShell) -> None:
    response = counter.run_line_magic("do_fetch", "/hit?name=alice")
    assert isinstance(response, FetchResponse)
    assert (response.status, response.json()) == (200, {"count": 1})
    assert counter.run_line_magic("do_fetch", "COUNTER alice /").json() == {"count": 2}
    assert counter.run_line_magic("do_fetch", "http://example.com/?name=alice").json() == {"count": 3}


def test_do_fetch_method_headers_and_body(shell: InteractiveShell) -> None:
    run(
        shell,
        "%%worker\nexport default { async fetch(r) { return Response.json("
        "{ method: r.method, type: r.headers.get('content-type'), body: await r.text() }) } }",
    )
    response = shell.run_line_magic("do_fetch", "-X PUT -H 'content-type: application/json' -d '{\"n\": 1}' /x")
    assert response.json() == {"method": "PUT", "type": "application/json", "body": '{"n": 1}'}
    assert shell.run_line_magic("do_fetch", "-d hello /").json()["method"] == "POST"


def test_do_fetch_renders_like_curl(counter: InteractiveShell) -> None:
    text = counter.run_line_magic("do_fetch", "/?name=alice").to_text()
    assert text == 'HTTP 200 OK\ncontent-type: application/json\n\n{\n  "count": 1\n}'


def test_do_call_evaluates_arguments(counter: InteractiveShell) -> None:
    counter.user_ns["y"] = 10
    assert counter.run_line_magic("do_call", "COUNTER alice add 2") == 2
    assert counter.run_line_magic("do_call", "COUNTER alice add y, y * 2") == 32
    result = run(counter, "total = %do_call COUNTER alice add 1")
    assert result.success and counter.user_ns["total"] == 33


def test_do_alarms_lists_and_flushes(counter: InteractiveShell) -> None:
    counter.run_line_magic("do_call", "COUNTER alice later 3600_000")
    alarms = counter.run_line_magic("do_alarms", "")
    assert isinstance(alarms, RecordList)
    assert [(row["binding"], row["name"]) for row in alarms] == [("COUNTER", "alice")]
    assert counter.run_line_magic("do_alarms", "--flush") == []
    assert counter.run_line_magic("do_get", "COUNTER alice alarmed") is True


def test_do_storage_static_table(counter: InteractiveShell) -> None:
    counter.run_line_magic("do_put", "COUNTER alice count 3")
    overview = counter.run_line_magic("do_storage", "")
    assert isinstance(overview, Table)
    assert overview.rows[0][0] == "COUNTER" and overview.rows[0][2:4] == ("alice", "1")
    one = counter.run_line_magic("do_storage", "COUNTER alice")
    assert one == {"count": 3}


def test_do_timeline_static_table_shows_a_conflict(counter: InteractiveShell) -> None:
    counter.run_line_magic("do_put", "COUNTER alice count 1")
    storage = counter.user_ns["mf"].get_durable_object_namespace("COUNTER").storage("alice")
    attempts: list[int] = []

    def bump(txn: Any) -> None:
        attempts.append(1)
        value = txn.get("count")
        if len(attempts) == 1:
            counter.run_line_magic("do_put", "COUNTER alice count 100")
        txn.put("count", value + 1)

    storage.transaction(bump)
    table = counter.run_line_magic("do_timeline", "")
    outcomes = [row[-1] for row in table.rows]
    assert outcomes == ["conflict on count -> retried as #2", "committed"]
    assert counter.run_line_magic("do_get", "COUNTER alice count") == 101


def test_mf_reset_forgets_everything(counter: InteractiveShell) -> None:
    mf = counter.user_ns["mf"]
    counter.run_line_magic("mf_reset", "")
    assert mf.disposed and "mf" not in counter.user_ns
    with pytest.raises(LookupError):
        mfbook.current()
    result = run(counter, "%do_get COUNTER alice count")
    assert "no worker yet" in str(result.error_in_exec)


def test_mf_reset_keep_workers_starts_with_empty_storage(counter: InteractiveShell) -> None:
    counter.run_line_magic("do_put", "COUNTER alice count 9")
    counter.run_line_magic("mf_reset", "--keep-workers")
    assert counter.run_line_magic("do_get", "COUNTER alice count") is None
    assert counter.run_line_magic("do_fetch", "/?name=alice").json() == {"count": 1}


def test_console_lines_print_in_the_cell(counter: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    counter.run_line_magic("do_fetch", "/?name=zed")
    assert capsys.readouterr().out == "hit zed\n"


def test_config_variable_renames_the_emulator(counter: InteractiveShell) -> None:
    mf = counter.user_ns["mf"]
    run(counter, "%config MfbookMagics.variable = 'emulator'")
    assert counter.user_ns["emulator"] is mf and "mf" not in counter.user_ns


def test_config_output_plain_has_no_html(counter: InteractiveShell) -> None:
    run(counter, "%config MfbookMagics.output = 'plain'")
    listing = counter.run_line_magic("do_list", "COUNTER alice")
    assert set(listing._repr_mimebundle_()) == {"text/plain"}
    run(counter, "%config MfbookMagics.output = 'rich'")
    assert "<pre" in counter.run_line_magic("do_list", "COUNTER alice")._repr_mimebundle_()["text/html"]


def test_config_persist_recreates_the_emulator(
    counter: InteractiveShell, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = counter.user_ns["mf"]
    counter.user_ns["x"] = str(tmp_path / "do")
    run(counter, "%config MfbookMagics.persist = x")
    counter.run_cell_magic("worker", "--do COUNTER=Counter", COUNTER)
    assert old.disposed and counter.user_ns["mf"] is not old
    assert "persistence changed" in capsys.readouterr().out
    counter.run_line_magic("do_put", "COUNTER alice count 4")
    assert (tmp_path / "do" / "COUNTER").is_dir()


def test_persist_option_and_reload_from_disk(shell: InteractiveShell, tmp_path: Path) -> None:
    shell.run_cell_magic("worker", f"--do COUNTER=Counter --persist {tmp_path}", COUNTER)
    shell.run_line_magic("do_put", "COUNTER alice count 12")
    shell.run_line_magic("mf_reset", "")
    shell.run_cell_magic("worker", f"--do COUNTER=Counter --persist {tmp_path}", COUNTER)
    assert shell.run_line_magic("do_get", "COUNTER alice count") == 12


def test_var_and_service_worker_and_compat_date(shell: InteractiveShell) -> None:
    run(
        shell,
        "%%worker --service-worker --var GREETING=hello --compat-date 2024-09-01\n"
        "addEventListener('fetch', (event) => event.respondWith(new Response(GREETING)));",
    )
    assert shell.run_line_magic("do_fetch", "/").text() == "hello"


def test_runaway_cell_then_a_working_request(shell: InteractiveShell) -> None:
    run(shell, "%config MfbookMagics.cpu_limit_ms = 50")
    run(
        shell,
        "%%worker\nexport default {\n  fetch(request) {\n"
        "    if (request.url.endsWith('/spin')) { while (true) {} }\n    return new Response('alive');\n  }\n}",
    )
    response = shell.run_line_magic("do_fetch", "/spin")
    assert response.status == 500
    assert response.error is not None and "CPU time limit (50 ms)" in response.error
    assert "cell line 4: if (request.url.endsWith" in response.error
    assert shell.run_line_magic("do_fetch", "/").text() == "alive"


def test_cpu_limit_config_applies_to_a_running_emulator(shell: InteractiveShell) -> None:
    run(
        shell,
        "%%worker\nexport default { fetch() { const end = Date.now() + 200; while (Date.now() < end) {} "
        "return new Response('done') } }",
    )
    assert shell.run_line_magic("do_fetch", "/").status == 200
    run(shell, "%config MfbookMagics.cpu_limit_ms = 20")
    assert shell.run_line_magic("do_fetch", "/").status == 500


STORE = """import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async inc() {
    const n = ((await this.ctx.storage.get("n")) ?? 0) + 1;
    await this.ctx.storage.put("n", n);
    return n;
  }
}
export default { fetch() { return new Response("store") } }
"""

API = """export default {
  async fetch(request, env) {
    return new Response(`${env.GREETING} ${await env.COUNTER.getByName("a").inc()}`);
  }
}
"""


def test_two_cells_compose_workers(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_cell_magic("worker", "api --do COUNTER=Counter@store --var GREETING=hi", API)
    assert "waiting for worker 'store'" in capsys.readouterr().out
    assert "mf" not in shell.user_ns
    shell.run_cell_magic("worker", "store", STORE)
    assert "workers: api, store" in capsys.readouterr().out
    assert shell.run_line_magic("do_fetch", "/").text() == "hi 1"
    assert shell.run_line_magic("do_call", "COUNTER a inc") == 2
    assert shell.run_line_magic("do_get", "COUNTER a n") == 2
    shell.run_cell_magic("worker", "store", STORE.replace("+ 1;", "+ 10;"))
    assert shell.run_line_magic("do_fetch", "/").text() == "hi 12"


def test_entry_option_chooses_the_fetch_target(shell: InteractiveShell) -> None:
    shell.run_cell_magic("worker", "store", STORE)
    shell.run_cell_magic("worker", "api --entry --do COUNTER=Counter@store --var GREETING=yo", API)
    assert shell.run_line_magic("do_fetch", "/").text() == "yo 1"
