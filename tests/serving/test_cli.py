"""``mfbook serve`` as a user runs it: a subprocess answering real HTTP clients (issue 15 item 4)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from mfbook.serving.cli import main

from .cli_process import ServeProcess

COUNTER = """
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/cf") return Response.json(request.cf);
    if (url.pathname === "/greeting") return new Response(env.GREETING ?? "hello");
    const stub = env.COUNTER.get(env.COUNTER.idFromName("a"));
    return stub.fetch(request);
  },
};
export class Counter {
  constructor(state) { this.state = state; }
  async fetch() {
    const count = ((await this.state.storage.get("n")) ?? 0) + 1;
    await this.state.storage.put("n", count);
    return new Response(String(count));
  }
}
"""

Start = Callable[..., ServeProcess]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    started: list[ServeProcess] = []

    def run(*args: str) -> ServeProcess:
        process = ServeProcess(*args, cwd=tmp_path)
        started.append(process)
        return process

    yield run
    for process in started:
        process.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "worker.mjs").write_text(COUNTER)
    return tmp_path


def test_serve_prints_its_url_answers_and_stops_cleanly_on_ctrl_c(project: Path, start: Start) -> None:
    served = start("worker.mjs", "--do", "COUNTER=Counter", "--port", "0")
    url = served.url()
    assert url.startswith("http://127.0.0.1:")
    with httpx.Client(base_url=url) as client:
        assert [client.get("/").text for _ in range(3)] == ["1", "2", "3"]
    assert served.interrupt() == 0
    assert "mfbook: stopped\n" in served.output


def test_a_wrangler_config_and_persist_keep_counting_across_restarts(project: Path, start: Start) -> None:
    (project / "wrangler.toml").write_text(
        'name = "counter"\nmain = "worker.mjs"\n[vars]\nGREETING = "from wrangler"\n'
        '[[durable_objects.bindings]]\nname = "COUNTER"\nclass_name = "Counter"\n'
    )
    first = start("--config", "wrangler.toml", "--persist", "--port", "0")
    url = first.url()
    assert httpx.get(f"{url}/greeting").text == "from wrangler"
    assert httpx.get(url).text == "1"
    assert first.interrupt() == 0
    second = start("--config", "wrangler.toml", "--persist", "--port", "0")
    assert httpx.get(second.url()).text == "2"
    assert (project / ".mf" / "do").is_dir()


def test_cf_file_sets_request_cf(project: Path, start: Start) -> None:
    (project / "cf.json").write_text(json.dumps({"colo": "AMS", "country": "NL"}))
    served = start("worker.mjs", "--do", "COUNTER=Counter", "--cf", "cf.json", "--port", "0")
    assert httpx.get(f"{served.url()}/cf").json() == {"colo": "AMS", "country": "NL"}


def test_watch_reloads_changed_code_and_keeps_storage(project: Path, start: Start) -> None:
    served = start("worker.mjs", "--do", "COUNTER=Counter", "--port", "0", "--watch")
    url = served.url()
    assert httpx.get(url).text == "1"
    time.sleep(0.05)  # a new modification time even on coarse file systems
    (project / "worker.mjs").write_text(COUNTER.replace('"hello"', '"hello again"'))
    served.wait_for("mfbook: reloaded")
    assert httpx.get(f"{url}/greeting").text == "hello again"
    assert httpx.get(url).text == "2"


def test_watch_keeps_serving_the_previous_code_when_the_new_code_is_broken(project: Path, start: Start) -> None:
    served = start("worker.mjs", "--do", "COUNTER=Counter", "--port", "0", "--watch")
    url = served.url()
    (project / "worker.mjs").write_text("export default { fetch( {")
    served.wait_for("reload failed, still serving the previous code")
    assert httpx.get(f"{url}/greeting").text == "hello"


ENDLESS = """
let cancelled = "no";
export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/cancelled") return new Response(cancelled);
    if (path === "/echo") return new Response(request.body);
    let i = 0;
    return new Response(new ReadableStream({
      async pull(c) { await scheduler.wait(1); c.enqueue(new TextEncoder().encode(`${i++}\\n`)); },
      cancel() { cancelled = "yes"; },
    }));
  },
};
"""


def test_the_served_process_streams_both_ways_and_a_client_cancels_an_endless_stream(
    tmp_path: Path, start: Start
) -> None:
    (tmp_path / "endless.mjs").write_text(ENDLESS)
    served = start("endless.mjs", "--port", "0")
    url = served.url()
    with httpx.stream("GET", f"{url}/endless") as response:
        numbers = []
        for line in response.iter_lines():
            numbers.append(int(line))
            if len(numbers) == 10:
                break
    assert numbers == list(range(10))
    deadline = time.monotonic() + 10
    while httpx.get(f"{url}/cancelled").text != "yes" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert httpx.get(f"{url}/cancelled").text == "yes"
    echoed = httpx.post(f"{url}/echo", content=(bytes([i]) * 1000 for i in range(256)))
    assert echoed.content == b"".join(bytes([i]) * 1000 for i in range(256))


def test_bindings_are_parsed_as_json_when_they_can_be(project: Path, start: Start) -> None:
    served = start("worker.mjs", "--do", "COUNTER=Counter", "--binding", "GREETING=hi there", "--port", "0")
    assert httpx.get(f"{served.url()}/greeting").text == "hi there"


def test_a_malformed_binding_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "worker.mjs", "--binding", "NOVALUE"])
    assert exit_info.value.code == 2
    assert "--binding expects NAME=VALUE, got 'NOVALUE'" in capsys.readouterr().err


def test_a_bad_option_is_reported_with_status_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", str(tmp_path / "missing.mjs"), "--port", "0"]) == 1
    assert "mfbook serve:" in capsys.readouterr().err
