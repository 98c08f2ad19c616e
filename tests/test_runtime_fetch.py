"""End-to-end: requests and responses through ``Miniflare.dispatch_fetch`` (issue 2)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import pytest

from mfbook import Miniflare, Response

Factory = Callable[..., Miniflare]


@pytest.fixture
def make() -> Iterator[Factory]:
    created: list[Miniflare] = []

    def factory(script: str | None = None, **options: object) -> Miniflare:
        options.setdefault("console", None)
        if script is not None:
            options["script"] = script
        options.setdefault("modules", True)
        mf = Miniflare(**options)
        created.append(mf)
        return mf

    yield factory
    for mf in created:
        mf.dispose()


ECHO = """
export default {
  async fetch(request) {
    const body = new Uint8Array(await request.arrayBuffer());
    const headers = new Headers({"x-method": request.method, "x-url": request.url, "x-length": String(body.length)});
    for (const [name, value] of request.headers) headers.set("x-echo-" + name, value);
    return new Response(request.method === "HEAD" ? null : body, {status: 201, statusText: "Made", headers});
  },
};
"""


# ---------------------------------------------------------------- status, headers, bodies
def test_text_response_status_headers_and_body(make: Factory) -> None:
    mf = make('export default { fetch: () => new Response("héllo ✓", {status: 418, headers: {"X-Custom": "yes"}}) }')
    response = mf.dispatch_fetch("http://localhost/")
    assert isinstance(response, Response)
    assert response.status == 418
    assert response.headers["x-custom"] == "yes"
    assert response.headers["Content-Type"] == "text/plain;charset=UTF-8"
    assert response.text() == "héllo ✓"
    assert response.body == "héllo ✓".encode()


def test_request_method_url_headers_reach_the_handler(make: Factory) -> None:
    mf = make(ECHO)
    response = mf.dispatch_fetch(
        "http://example.com/path?q=1", method="put", headers={"X-One": "1", "Accept": "text/plain"}, body="data"
    )
    assert response.status == 201
    assert response.status_text == "Made"
    assert response.headers["x-method"] == "PUT"
    assert response.headers["x-url"] == "http://example.com/path?q=1"
    assert response.headers["x-echo-x-one"] == "1"
    assert response.headers["x-echo-accept"] == "text/plain"
    assert response.text() == "data"


def test_all_256_byte_values_round_trip_both_directions(make: Factory) -> None:
    mf = make(ECHO)
    body = bytes(range(256)) * 4
    response = mf.dispatch_fetch("http://localhost/", method="POST", body=body)
    assert response.headers["x-length"] == str(len(body))
    assert response.body == body


def test_binary_body_built_in_js_reaches_python_exactly(make: Factory) -> None:
    mf = make(
        """export default { fetch() {
            const bytes = new Uint8Array(256);
            for (let i = 0; i < 256; i++) bytes[i] = 255 - i;
            return new Response(bytes.buffer, {headers: {"content-type": "application/octet-stream"}});
        } }"""
    )
    response = mf.dispatch_fetch("http://localhost/")
    assert response.body == bytes(range(255, -1, -1))
    assert response.headers["content-type"] == "application/octet-stream"


def test_request_body_bytes_seen_in_js_match_python(make: Factory) -> None:
    mf = make(
        """export default { async fetch(request) {
            const bytes = new Uint8Array(await request.arrayBuffer());
            let sum = 0;
            for (let i = 0; i < bytes.length; i++) sum = (sum * 31 + bytes[i] * (i + 1)) % 1000000007;
            return Response.json({length: bytes.length, first: bytes[0], last: bytes[bytes.length - 1], sum});
        } }"""
    )
    body = bytes(range(256))
    expected = 0
    for index, value in enumerate(body):
        expected = (expected * 31 + value * (index + 1)) % 1_000_000_007
    assert mf.dispatch_fetch("http://localhost/", method="POST", body=body).json() == {
        "length": 256,
        "first": 0,
        "last": 255,
        "sum": expected,
    }


def test_json_round_trip(make: Factory) -> None:
    mf = make(
        """export default { async fetch(request) {
            const value = await request.json();
            return Response.json({got: value, keys: Object.keys(value).sort()}, {status: 202});
        } }"""
    )
    payload = {"b": [1, 2.5, None, True], "a": {"nested": "ünï ✓ \u0000 end"}}
    response = mf.dispatch_fetch(
        "http://localhost/", method="POST", body=json.dumps(payload), headers={"content-type": "application/json"}
    )
    assert response.status == 202
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"got": payload, "keys": ["a", "b"]}


def test_large_bodies_round_trip(make: Factory) -> None:
    mf = make(ECHO)
    body = (bytes(range(256)) * 4096 * 4)[: 4 * 1024 * 1024 + 7]  # 4 MiB and change
    response = mf.dispatch_fetch("http://localhost/", method="POST", body=body)
    assert response.headers["x-length"] == str(len(body))
    assert response.body == body


def test_large_text_body_generated_in_js(make: Factory) -> None:
    mf = make('export default { fetch: () => new Response("ab\\u00e9".repeat(1 << 20)) }')
    assert mf.dispatch_fetch("http://localhost/").text() == "abé" * (1 << 20)


def test_repeated_headers_and_set_cookie(make: Factory) -> None:
    mf = make(
        """export default { fetch() {
            const headers = new Headers();
            headers.append("Set-Cookie", "a=1");
            headers.append("Set-Cookie", "b=2");
            headers.append("X-Multi", "one");
            headers.append("x-multi", "two");
            return new Response("ok", {headers});
        } }"""
    )
    response = mf.dispatch_fetch("http://localhost/")
    assert response.headers.get_all("set-cookie") == ["a=1", "b=2"]
    assert response.headers["x-multi"] == "one, two"


def test_empty_and_null_bodies(make: Factory) -> None:
    mf = make(
        """export default { fetch(request) {
            if (new URL(request.url).pathname === "/204") return new Response(null, {status: 204});
            return new Response("");
        } }"""
    )
    no_content = mf.dispatch_fetch("http://localhost/204")
    assert (no_content.status, no_content.body) == (204, b"")
    empty = mf.dispatch_fetch("http://localhost/")
    assert (empty.status, empty.body) == (200, b"")


def test_redirect_response(make: Factory) -> None:
    mf = make('export default { fetch: () => Response.redirect("https://example.com/next", 307) }')
    response = mf.dispatch_fetch("http://localhost/")
    assert response.status == 307
    assert response.headers["location"] == "https://example.com/next"


# ---------------------------------------------------------------- streams
def test_request_body_read_as_a_readable_stream(make: Factory) -> None:
    mf = make(
        """export default { async fetch(request) {
            const reader = request.body.getReader();
            const chunks = [];
            let total = 0;
            for (;;) {
                const {done, value} = await reader.read();
                if (done) break;
                if (!(value instanceof Uint8Array)) throw new TypeError("chunk is not a Uint8Array");
                chunks.push(value);
                total += value.length;
            }
            const all = new Uint8Array(total);
            let offset = 0;
            for (const chunk of chunks) { all.set(chunk, offset); offset += chunk.length; }
            return new Response(all, {headers: {"x-used": String(request.bodyUsed)}});
        } }"""
    )
    body = bytes(range(256)) * 64
    response = mf.dispatch_fetch("http://localhost/", method="POST", body=body)
    assert response.status == 200, response.text()
    assert response.headers["x-used"] == "true"
    assert response.body == body


def test_get_request_has_null_body(make: Factory) -> None:
    mf = make("export default { fetch: (request) => new Response(String(request.body)) }")
    assert mf.dispatch_fetch("http://localhost/").text() == "null"


def test_response_built_from_a_readable_stream(make: Factory) -> None:
    mf = make(
        """export default { fetch() {
            const encoder = new TextEncoder();
            let i = 0;
            const stream = new ReadableStream({
                pull(controller) {
                    if (i < 3) controller.enqueue(encoder.encode(`chunk${i++};`));
                    else { controller.enqueue(new Uint8Array([0, 255])); controller.close(); }
                },
            });
            return new Response(stream, {headers: {"content-type": "application/octet-stream"}});
        } }"""
    )
    response = mf.dispatch_fetch("http://localhost/")
    assert response.body == b"chunk0;chunk1;chunk2;\x00\xff"


def test_response_stream_fed_by_timers(make: Factory) -> None:
    mf = make(
        """export default { fetch() {
            const {readable, writable} = new TransformStream();
            const writer = writable.getWriter();
            (async () => {
                for (let i = 0; i < 3; i++) {
                    await new Promise((resolve) => setTimeout(resolve, 5));
                    await writer.write(new TextEncoder().encode(String(i)));
                }
                await writer.close();
            })();
            return new Response(readable);
        } }"""
    )
    assert mf.dispatch_fetch("http://localhost/").text() == "012"


# ---------------------------------------------------------------- script formats
def test_service_worker_script(make: Factory) -> None:
    mf = make(
        """addEventListener("fetch", (event) => {
            event.respondWith(new Response("sw " + new URL(event.request.url).pathname));
        });""",
        modules=False,
    )
    assert mf.dispatch_fetch("http://localhost/x").text() == "sw /x"


def test_service_worker_async_respond_with_and_globals(make: Factory) -> None:
    mf = make(
        """const GREETING = "hello";
        async function handle(request) {
            await null;
            return new Response(`${GREETING} ${request.method} ${typeof MY_VAR}`);
        }
        addEventListener("fetch", (event) => event.respondWith(handle(event.request)));""",
        modules=False,
    )
    assert mf.dispatch_fetch("http://localhost/", method="POST", body="x").text() == "hello POST undefined"


def test_service_worker_without_respond_with_is_a_500(make: Factory) -> None:
    mf = make('addEventListener("fetch", () => {});', modules=False)
    response = mf.dispatch_fetch("http://localhost/")
    assert response.status == 500
    assert "respondWith" in response.text() or "response" in response.text().lower()


def test_module_worker_env_bindings(make: Factory) -> None:
    mf = make(
        "export default { fetch: (request, env) => Response.json({greeting: env.GREETING, n: env.N}) }",
        bindings={"GREETING": "hi", "N": [1, 2]},
    )
    assert mf.dispatch_fetch("http://localhost/").json() == {"greeting": "hi", "n": [1, 2]}


def test_module_worker_class_default_export(make: Factory) -> None:
    mf = make(
        """import { WorkerEntrypoint } from "cloudflare:workers";
        export default class extends WorkerEntrypoint {
            fetch(request) { return new Response("entrypoint " + (this.env !== undefined)); }
        }"""
    )
    assert mf.dispatch_fetch("http://localhost/").text() == "entrypoint true"


def test_script_path_module_with_relative_import(make: Factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "lib.js").write_text("export const double = (x) => x * 2;\n")
    (tmp_path / "worker.js").write_text(
        'import { double } from "./lib.js";\nexport default { fetch: () => new Response(String(double(21))) };\n'
    )
    mf = make(script_path=str(tmp_path / "worker.js"))
    assert mf.dispatch_fetch("http://localhost/").text() == "42"


def test_script_path_service_worker(make: Factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "sw.js"
    path.write_text('addEventListener("fetch", (e) => e.respondWith(new Response("from file")));\n')
    mf = make(script_path=path, modules=False)
    assert mf.dispatch_fetch("http://localhost/").text() == "from file"


def test_cloudflare_workers_import_resolves(make: Factory) -> None:
    mf = make(
        """import { DurableObject, WorkerEntrypoint, RpcTarget } from "cloudflare:workers";
        import * as cf from "cloudflare:workers";
        export default { fetch: () => Response.json([typeof DurableObject, typeof WorkerEntrypoint,
                                                       typeof RpcTarget, "DurableObject" in cf]) };"""
    )
    assert mf.dispatch_fetch("http://localhost/").json() == ["function", "function", "function", True]


def test_unknown_import_is_a_config_error(make: Factory) -> None:
    from mfbook import ConfigError

    with pytest.raises(ConfigError):
        make('import x from "./missing.js";\nexport default { fetch: () => new Response(x) };')


# ---------------------------------------------------------------- errors escaping a handler
THROWING = """export default {
  fetch(request) {
    return helper(request);
  },
};
function helper(request) {
  throw new TypeError("no good: " + new URL(request.url).pathname);
}
"""


def test_js_exception_is_a_500_with_the_stack_and_script_lines(make: Factory, caplog: pytest.LogCaptureFixture) -> None:
    mf = make(THROWING)
    with caplog.at_level(logging.ERROR, logger="mfbook"):
        response = mf.dispatch_fetch("http://localhost/bad")
    assert response.status == 500
    text = response.text()
    assert text.startswith("TypeError: no good: /bad")
    assert "at helper (worker.js:7:" in text
    assert "at fetch (worker.js:3:" in text
    assert text.count("TypeError: no good") == 1, text
    assert "worker.js:7:" in caplog.text
    # the emulator keeps answering
    assert mf.dispatch_fetch("http://localhost/again").status == 500


def test_async_rejection_is_a_500_with_the_stack(make: Factory) -> None:
    mf = make(
        """export default {
  async fetch() {
    await new Promise((resolve) => setTimeout(resolve, 1));
    throw new RangeError("later");
  },
};"""
    )
    response = mf.dispatch_fetch("http://localhost/")
    assert response.status == 500
    assert response.text().startswith("RangeError: later")
    assert "worker.js:4:" in response.text()


def test_script_path_stack_uses_the_file_name(make: Factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "app.js"
    path.write_text(THROWING)
    mf = make(script_path=path)
    assert "app.js:7:" in mf.dispatch_fetch("http://localhost/").text()


def test_non_error_throw_is_a_500(make: Factory) -> None:
    mf = make('export default { fetch() { throw "plain string"; } }')
    response = mf.dispatch_fetch("http://localhost/")
    assert response.status == 500
    assert "plain string" in response.text()


def test_handler_returning_a_non_response_is_a_500(make: Factory) -> None:
    mf = make('export default { fetch: () => "not a response" }')
    response = mf.dispatch_fetch("http://localhost/")
    assert response.status == 500
    assert "TypeError" in response.text()


def test_missing_fetch_handler_is_a_500(make: Factory) -> None:
    mf = make("export default {}")
    response = mf.dispatch_fetch("http://localhost/")
    assert response.status == 500
    assert "fetch" in response.text()


def test_pass_through_on_exception_is_callable(make: Factory) -> None:
    mf = make(
        """export default { fetch(request, env, ctx) {
            ctx.passThroughOnException();
            if (new URL(request.url).pathname === "/throw") throw new Error("after pass-through");
            return new Response("ok");
        } }"""
    )
    assert mf.dispatch_fetch("http://localhost/").text() == "ok"
    # no origin is configured: the exception still becomes a 500
    assert mf.dispatch_fetch("http://localhost/throw").status == 500


def test_pass_through_on_exception_in_service_worker(make: Factory) -> None:
    mf = make(
        """addEventListener("fetch", (event) => {
            event.passThroughOnException();
            event.respondWith(new Response("sw ok"));
        });""",
        modules=False,
    )
    assert mf.dispatch_fetch("http://localhost/").text() == "sw ok"


# ---------------------------------------------------------------- outbound fetch
FETCHER = """export default { async fetch(request) {
    const target = new URL(request.url).searchParams.get("to");
    try {
        const response = await fetch(target, {method: "POST", headers: {"x-from": "worker"}, body: "ping"});
        return new Response(`${response.status} ${response.headers.get("x-up")} ${await response.text()}`);
    } catch (error) {
        return new Response(`${error.constructor.name}|${error.name}|${error.message}`, {status: 502});
    }
} }"""


def test_outbound_fetch_is_blocked_with_a_type_error(make: Factory) -> None:
    mf = make(FETCHER)
    response = mf.dispatch_fetch("http://localhost/?to=https://example.com/api")
    assert response.status == 502
    kind, name, message = response.text().split("|", 2)
    assert (kind, name) == ("TypeError", "TypeError")
    assert "https://example.com/api" in message
    assert "Network access is disabled" in message
    assert "upstream" in message


def test_uncaught_outbound_fetch_rejection_is_a_500(make: Factory) -> None:
    mf = make('export default { fetch: () => fetch("https://example.com/") }')
    response = mf.dispatch_fetch("http://localhost/")
    assert response.status == 500
    assert response.text().startswith("TypeError: Network access is disabled")


def test_upstream_callable_answers_outbound_fetch(make: Factory) -> None:
    seen: list[dict[str, object]] = []

    def upstream(wire: dict[str, object]) -> Response:
        seen.append(wire)
        return Response(200, body=b"pong", headers={"X-Up": "1"})

    mf = make(FETCHER, upstream=upstream)
    response = mf.dispatch_fetch("http://localhost/?to=https://example.com/api")
    assert response.text() == "200 1 pong"
    assert len(seen) == 1
    assert seen[0]["url"] == "https://example.com/api"
    assert seen[0]["method"] == "POST"
    assert ["x-from", "worker"] in seen[0]["headers"]  # type: ignore[operator]
    assert seen[0]["body"] == "ping"


def test_async_upstream_callable(make: Factory) -> None:
    async def upstream(wire: dict[str, object]) -> Response:
        return Response(203, body=bytes(range(256)))

    mf = make(
        """export default { async fetch() {
            const response = await fetch("https://example.com/");
            const bytes = new Uint8Array(await response.arrayBuffer());
            return new Response(bytes, {status: response.status});
        } }""",
        upstream=upstream,
    )
    response = mf.dispatch_fetch("http://localhost/")
    assert (response.status, response.body) == (203, bytes(range(256)))


def test_upstream_exception_rejects_the_fetch(make: Factory) -> None:
    def upstream(wire: dict[str, object]) -> Response:
        raise RuntimeError("origin down")

    mf = make(FETCHER, upstream=upstream)
    response = mf.dispatch_fetch("http://localhost/?to=https://example.com/")
    assert response.status == 502
    assert "origin down" in response.text()


# ---------------------------------------------------------------- invalid requests from Python
@pytest.mark.parametrize("url", ["/relative", "", "no scheme here"])
def test_dispatch_fetch_needs_an_absolute_url(make: Factory, url: str) -> None:
    mf = make(ECHO)
    with pytest.raises(TypeError, match="Failed to parse URL from"):
        mf.dispatch_fetch(url)


@pytest.mark.parametrize("method", ["GET", "head"])
def test_get_and_head_requests_cannot_have_a_body(make: Factory, method: str) -> None:
    mf = make(ECHO)
    with pytest.raises(TypeError, match="Request with a GET or HEAD method cannot have a body."):
        mf.dispatch_fetch("http://localhost/", method=method, body=b"x")


def test_headers_given_as_pairs_keep_repeats(make: Factory) -> None:
    mf = make("export default { fetch: (request) => Response.json([...request.headers]) }")
    response = mf.dispatch_fetch("http://localhost/", headers=[("X-A", "1"), ("x-a", "2"), ("Content-Type", "text/x")])
    assert response.json() == [["content-type", "text/x"], ["x-a", "1, 2"]]


# ---------------------------------------------------------------- handlers that never respond
HANGING = """let release;
export default { async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/hang") await new Promise(() => {});
    if (path === "/hang-after-timer") { await new Promise((r) => setTimeout(r, 20)); await new Promise(() => {}); }
    if (path === "/wait") { await new Promise((resolve) => { release = resolve; }); return new Response("released"); }
    if (path === "/release") { release(); return new Response("ok"); }
    return new Response("fine");
} };"""


@pytest.mark.parametrize("path", ["/hang", "/hang-after-timer"])
def test_a_handler_that_can_never_respond_is_a_500_not_a_hang(make: Factory, path: str) -> None:
    mf = make(HANGING)
    response = mf.dispatch_fetch("http://localhost" + path)
    assert response.status == 500
    assert response.text() == "Error: The script will never generate a response."
    assert mf.dispatch_fetch("http://localhost/").text() == "fine"


def test_a_pending_timer_or_host_operation_is_not_a_hang(make: Factory) -> None:
    import time

    def upstream(wire: dict[str, object]) -> Response:
        time.sleep(0.2)
        return Response(200, body=b"slow origin")

    mf = make(
        """export default { async fetch(request) {
            if (new URL(request.url).pathname === "/timer") {
                return await new Promise((resolve) => setTimeout(() => resolve(new Response("timer")), 150));
            }
            return fetch("https://origin.example/");
        } };""",
        upstream=upstream,
    )
    assert mf.dispatch_fetch("http://localhost/timer").text() == "timer"
    assert mf.dispatch_fetch("http://localhost/").text() == "slow origin"


def test_async_callers_get_their_own_results_and_may_give_up_waiting(make: Factory) -> None:
    import asyncio

    mf = make(
        """
        addEventListener("fetch", (event) => {
          const url = new URL(event.request.url);
          const ms = Number(url.searchParams.get("ms"));
          event.respondWith(new Promise((resolve) => setTimeout(() => resolve(new Response(url.search)), ms)));
        });
        """,
        modules=False,
    )

    async def run() -> tuple[list[str], str]:
        # Results of one burst come back in batches; each caller must still get its own.
        texts = [
            response.text()
            for response in await asyncio.gather(
                *(mf.dispatch_fetch_async(f"http://localhost/?ms={i % 3}&i={i}") for i in range(30))
            )
        ]
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(mf.dispatch_fetch_async("http://localhost/?ms=200"), 0.02)
        await asyncio.sleep(0.25)  # the abandoned response arrives and is dropped quietly
        return texts, (await mf.dispatch_fetch_async("http://localhost/?ms=0&after=1")).text()

    texts, after = asyncio.run(run())
    assert texts == [f"?ms={i % 3}&i={i}" for i in range(30)]
    assert after == "?ms=0&after=1"
