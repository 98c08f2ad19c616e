"""End-to-end: the Web platform APIs inside a worker, observed through ``dispatch_fetch`` (issue 2)."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mfbook import Miniflare

Factory = Callable[..., Miniflare]


@pytest.fixture
def make() -> Iterator[Factory]:
    created: list[Miniflare] = []

    def factory(script: str, **options: Any) -> Miniflare:
        options.setdefault("console", None)
        options.setdefault("modules", True)
        mf = Miniflare(script=script, **options)
        created.append(mf)
        return mf

    yield factory
    for mf in created:
        mf.dispose()


def run_js(make: Factory, body: str, **options: Any) -> Any:
    """Runs ``body`` (the inside of an async function returning a JSON-able value) in a worker."""
    mf = make(
        "export default { async fetch(request, env, ctx) {\n"
        "  const result = await (async () => {\n" + body + "\n  })();\n"
        "  return Response.json(result === undefined ? null : result);\n"
        "} };",
        **options,
    )
    response = mf.dispatch_fetch("http://localhost/")
    assert response.status == 200, response.text()
    return response.json()


# ---------------------------------------------------------------- timers and microtasks
def test_set_timeout_fires_in_delay_order(make: Factory) -> None:
    assert run_js(
        make,
        """const order = [];
        await new Promise((resolve) => {
            setTimeout(() => order.push("30"), 30);
            setTimeout(() => order.push("0"), 0);
            setTimeout(() => order.push("10a"), 10);
            setTimeout(() => order.push("10b"), 10);
            setTimeout(() => { order.push("end"); resolve(); }, 50);
        });
        return order;""",
    ) == ["0", "10a", "10b", "30", "end"]


def test_set_timeout_waits_at_least_its_delay(make: Factory) -> None:
    started = time.monotonic()
    elapsed = run_js(make, "const t = Date.now(); await new Promise((r) => setTimeout(r, 60)); return Date.now() - t;")
    assert elapsed >= 55
    assert time.monotonic() - started >= 0.055


def test_set_timeout_passes_arguments(make: Factory) -> None:
    script = "return await new Promise((resolve) => setTimeout((a, b) => resolve([a, b]), 1, 'x', 2));"
    assert run_js(make, script) == ["x", 2]


def test_clear_timeout_cancels(make: Factory) -> None:
    assert (
        run_js(
            make,
            """const fired = [];
        const id = setTimeout(() => fired.push("cancelled"), 5);
        clearTimeout(id);
        clearTimeout(123456);  // unknown ids are ignored
        await new Promise((resolve) => setTimeout(resolve, 30));
        return fired;""",
        )
        == []
    )


def test_set_interval_repeats_until_cleared(make: Factory) -> None:
    assert (
        run_js(
            make,
            """let ticks = 0;
        await new Promise((resolve) => {
            const id = setInterval(() => {
                ticks++;
                if (ticks === 3) { clearInterval(id); setTimeout(resolve, 40); }
            }, 5);
        });
        return ticks;""",
        )
        == 3
    )


def test_queue_microtask_runs_before_timers(make: Factory) -> None:
    assert run_js(
        make,
        """const order = [];
        await new Promise((resolve) => {
            setTimeout(() => { order.push("timeout"); resolve(); }, 0);
            queueMicrotask(() => order.push("microtask"));
            Promise.resolve().then(() => order.push("promise"));
            order.push("sync");
        });
        return order;""",
    ) == ["sync", "microtask", "promise", "timeout"]


def test_timers_after_the_response_run_via_wait_until(make: Factory) -> None:
    mf = make(
        """let log = [];
        export default { fetch(request, env, ctx) {
            if (new URL(request.url).pathname === "/log") return Response.json(log);
            ctx.waitUntil(new Promise((resolve) => setTimeout(() => { log.push("late"); resolve(); }, 20)));
            log.push("responded");
            return new Response("ok");
        } };"""
    )
    assert mf.dispatch_fetch("http://localhost/").text() == "ok"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        log = mf.dispatch_fetch("http://localhost/log").json()
        if "late" in log:
            break
        time.sleep(0.01)
    assert log == ["responded", "late"]


def test_wait_until_rejection_is_logged_as_a_background_error(make: Factory, caplog: pytest.LogCaptureFixture) -> None:
    mf = make(
        """export default { fetch(request, env, ctx) {
            ctx.waitUntil((async () => { await null; throw new RangeError("background boom"); })());
            return new Response("ok");
        } };"""
    )
    with caplog.at_level(logging.ERROR, logger="mfbook"):
        assert mf.dispatch_fetch("http://localhost/").text() == "ok"
        deadline = time.monotonic() + 5
        while not mf._runtime.background_errors and time.monotonic() < deadline:
            time.sleep(0.01)
    errors = mf._runtime.background_errors
    assert len(errors) == 1
    assert (errors[0].name, errors[0].js_message) == ("RangeError", "background boom")
    assert "worker.js:2:" in errors[0].stack
    assert "background boom" in caplog.text


# ---------------------------------------------------------------- crypto
DIGEST_INPUTS = [b"", b"abc", bytes(range(256)) * 5, "héllo ✓".encode()]


@pytest.mark.parametrize("algorithm", ["SHA-1", "SHA-256", "SHA-384", "SHA-512", "MD5"])
def test_crypto_subtle_digest_matches_hashlib(make: Factory, algorithm: str) -> None:
    mf = make(
        f"""export default {{ async fetch(request) {{
            const digest = await crypto.subtle.digest("{algorithm}", await request.arrayBuffer());
            return new Response(digest);
        }} }};"""
    )
    name = algorithm.replace("-", "").lower()
    for data in DIGEST_INPUTS:
        response = mf.dispatch_fetch("http://localhost/", method="POST", body=data)
        assert response.body == hashlib.new(name, data).digest(), (algorithm, data[:8])


def test_crypto_digest_of_a_string_encoded_typed_array_and_object_algorithm(make: Factory) -> None:
    result = run_js(
        make,
        """const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
        const bytes = new TextEncoder().encode("mfbook");
        return [
            hex(await crypto.subtle.digest("sha-256", bytes)),
            hex(await crypto.subtle.digest({name: "SHA-256"}, bytes.buffer)),
            hex(await crypto.subtle.digest("SHA-256", new DataView(bytes.buffer))),
        ];""",
    )
    assert result == [hashlib.sha256(b"mfbook").hexdigest()] * 3


def test_crypto_digest_unknown_algorithm_rejects(make: Factory) -> None:
    result = run_js(
        make,
        """try { await crypto.subtle.digest("SHA-3", new Uint8Array(1)); return "resolved"; }
        catch (error) { return [error.name, error.message]; }""",
    )
    assert result == ["NotSupportedError", "Unrecognized or unimplemented digest algorithm requested."]


def test_get_random_values_and_random_uuid(make: Factory) -> None:
    result = run_js(
        make,
        """const a = crypto.getRandomValues(new Uint8Array(64));
        const b = crypto.getRandomValues(new Uint32Array(16));
        let tooBig;
        try { crypto.getRandomValues(new Uint8Array(65537)); } catch (error) { tooBig = error.name; }
        let floats;
        try { crypto.getRandomValues(new Float64Array(2)); } catch (error) { floats = error.name; }
        return {a: [...a], b: [...b], uuids: [crypto.randomUUID(), crypto.randomUUID()], tooBig, floats,
                same: crypto.getRandomValues(a) === a};""",
    )
    assert len(result["a"]) == 64 and all(0 <= v < 256 for v in result["a"])
    assert len(set(result["a"])) > 20
    assert len(set(result["b"])) == 16
    assert result["tooBig"] == "QuotaExceededError"
    assert result["floats"] == "TypeMismatchError"
    assert result["same"] is True
    first, second = result["uuids"]
    assert first != second
    for text in (first, second):
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and str(parsed) == text


def test_random_values_differ_between_requests_and_instances(make: Factory) -> None:
    script = "export default { fetch: () => new Response(crypto.getRandomValues(new Uint8Array(16))) }"
    one, two = make(script), make(script)
    values = {
        one.dispatch_fetch("http://x/").body,
        one.dispatch_fetch("http://x/").body,
        two.dispatch_fetch("http://x/").body,
    }
    assert len(values) == 3


# ---------------------------------------------------------------- console
def test_console_callable_receives_levels_and_formatted_text(make: Factory) -> None:
    lines: list[tuple[str, str]] = []
    mf = make(
        """export default { fetch() {
            console.log("hello", 1, {a: [1, 2]}, null, undefined);
            console.info("info %s=%d", "x", 42);
            console.warn("careful");
            console.error(new Error("bad"));
            console.debug("dbg");
            return new Response("ok");
        } };""",
        console=lambda level, text: lines.append((level, text)),
    )
    assert mf.dispatch_fetch("http://localhost/").text() == "ok"
    levels = [level for level, _ in lines]
    assert levels == ["log", "info", "warn", "error", "debug"]
    assert lines[0][1] == "hello 1 { a: [ 1, 2 ] } null undefined"
    assert lines[1][1] == "info x=42"
    assert lines[2][1] == "careful"
    assert lines[3][1].startswith("Error: bad")
    assert mf.console_lines == lines


def test_console_print_mode_writes_stdout_and_stderr(make: Factory, capsys: pytest.CaptureFixture[str]) -> None:
    mf = make(
        'export default { fetch() { console.log("to out"); console.error("to err"); return new Response(""); } }',
        console="print",
    )
    mf.dispatch_fetch("http://localhost/")
    captured = capsys.readouterr()
    assert "to out" in captured.out
    assert "to err" in captured.err


def test_console_log_mode_uses_logging(make: Factory, caplog: pytest.LogCaptureFixture) -> None:
    mf = make('export default { fetch() { console.warn("logged warning"); return new Response(""); } }', console="log")
    with caplog.at_level(logging.DEBUG, logger="mfbook.console"):
        mf.dispatch_fetch("http://localhost/")
    records = [r for r in caplog.records if r.name == "mfbook.console"]
    assert [(r.levelno, r.getMessage()) for r in records] == [(logging.WARNING, "logged warning")]


def test_console_in_top_level_script_and_timers_is_captured(make: Factory) -> None:
    lines: list[tuple[str, str]] = []
    mf = make(
        """console.log("loaded");
        export default { async fetch() {
            await new Promise((resolve) => setTimeout(() => { console.log("in timer"); resolve(); }, 1));
            return new Response("ok");
        } };""",
        console=lambda level, text: lines.append((level, text)),
    )
    mf.dispatch_fetch("http://localhost/")
    assert ("log", "in timer") in lines
    assert ("log", "loaded") in lines


# ---------------------------------------------------------------- structuredClone and encodings
def test_structured_clone(make: Factory) -> None:
    result = run_js(
        make,
        """const shared = {n: 1};
        const source = {map: new Map([["k", shared]]), set: new Set([1, 2]), date: new Date(86400000),
                        bytes: new Uint8Array([1, 2, 3]), big: 10n ** 20n, a: shared, b: shared, re: /x+/gi};
        source.self = source;
        const copy = structuredClone(source);
        let fn;
        try { structuredClone(() => 1); } catch (error) { fn = error.name; }
        return {
            distinct: copy !== source && copy.map !== source.map,
            cycle: copy.self === copy,
            shared: copy.a === copy.b && copy.map.get("k") === copy.a && copy.a !== shared,
            set: [...copy.set], date: copy.date.toISOString(), bytes: [...copy.bytes],
            big: String(copy.big), re: [copy.re.source, copy.re.flags], fn,
        };""",
    )
    assert result == {
        "distinct": True,
        "cycle": True,
        "shared": True,
        "set": [1, 2],
        "date": "1970-01-02T00:00:00.000Z",
        "bytes": [1, 2, 3],
        "big": "100000000000000000000",
        "re": ["x+", "gi"],
        "fn": "DataCloneError",
    }


def test_url_and_url_search_params(make: Factory) -> None:
    result = run_js(
        make,
        """const url = new URL("../b/c?x=1&y=%20z#frag", "https://user:pw@EXAMPLE.com:443/a/d/e");
        const params = new URLSearchParams("a=1&b=2&a=3");
        params.append("c", "x y&z");
        params.sort();
        let invalid;
        try { new URL("not a url"); } catch (error) { invalid = error.name; }
        return {
            href: url.href, host: url.host, path: url.pathname, search: url.search, hash: url.hash,
            y: url.searchParams.get("y"), all: params.getAll("a"), params: params.toString(),
            idn: new URL("https://bücher.example/").hostname, invalid,
            canParse: [URL.canParse("https://x/"), URL.canParse("nope")],
        };""",
    )
    assert result == {
        "href": "https://user:pw@example.com/a/b/c?x=1&y=%20z#frag",
        "host": "example.com",
        "path": "/a/b/c",
        "search": "?x=1&y=%20z",
        "hash": "#frag",
        "y": " z",
        "all": ["1", "3"],
        "params": "a=1&a=3&b=2&c=x+y%26z",
        "idn": "xn--bcher-kva.example",
        "invalid": "TypeError",
        "canParse": [True, False],
    }


def test_text_encoder_and_decoder(make: Factory) -> None:
    result = run_js(
        make,
        """const bytes = new TextEncoder().encode("héllo ✓ 😀");
        const decoder = new TextDecoder();
        const streamed = decoder.decode(bytes.subarray(0, 12), {stream: true}) + decoder.decode(bytes.subarray(12));
        let fatal;
        try { new TextDecoder("utf-8", {fatal: true}).decode(new Uint8Array([0xff])); }
        catch (error) { fatal = error.name; }
        return {bytes: [...bytes], text: new TextDecoder().decode(bytes), streamed,
                replaced: new TextDecoder().decode(new Uint8Array([0x61, 0xff, 0x62])), fatal,
                bom: new TextDecoder().decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])),
                into: new TextEncoder().encodeInto("ab", new Uint8Array(1))};""",
    )
    assert bytes(result["bytes"]) == "héllo ✓ 😀".encode()
    assert result["text"] == result["streamed"] == "héllo ✓ 😀"
    assert result["replaced"] == "a\ufffdb"
    assert result["fatal"] == "TypeError"
    assert result["bom"] == "A"
    assert result["into"] == {"read": 1, "written": 1}


def test_atob_and_btoa(make: Factory) -> None:
    binary = "".join(chr(i) for i in range(256))
    result = run_js(
        make,
        f"""const all = {binary!r};
        let bad, wide;
        try {{ atob("***"); }} catch (error) {{ bad = error.name; }}
        try {{ btoa("✓"); }} catch (error) {{ wide = error.name; }}
        return {{b64: btoa(all), back: atob(btoa(all)) === all, spaces: atob(" aGk = "), bad, wide}};""",
    )
    assert result["b64"] == base64.b64encode(bytes(range(256))).decode()
    assert result["back"] is True
    assert result["spaces"] == "hi"
    assert result["bad"] == "InvalidCharacterError"
    assert result["wide"] == "InvalidCharacterError"


# ---------------------------------------------------------------- events, abort, blob
def test_abort_controller_and_signal(make: Factory) -> None:
    result = run_js(
        make,
        """const controller = new AbortController();
        const seen = [];
        controller.signal.addEventListener("abort", (event) => seen.push(event.type));
        controller.signal.onabort = () => seen.push("onabort");
        controller.abort(new Error("stop"));
        controller.abort();  // second abort is a no-op
        let thrown;
        try { controller.signal.throwIfAborted(); } catch (error) { thrown = error.message; }
        const aborted = AbortSignal.abort();
        const timeout = AbortSignal.timeout(5);
        await new Promise((resolve) => setTimeout(resolve, 30));
        return {aborted: controller.signal.aborted, seen, thrown, reason: aborted.reason.name,
                timeout: [timeout.aborted, timeout.reason && timeout.reason.name]};""",
    )
    assert result == {
        "aborted": True,
        "seen": ["abort", "onabort"],
        "thrown": "stop",
        "reason": "AbortError",
        "timeout": [True, "TimeoutError"],
    }


def test_event_and_event_target(make: Factory) -> None:
    result = run_js(
        make,
        """const target = new EventTarget();
        const calls = [];
        const listener = (event) => calls.push(["a", event.type, event.target === target]);
        target.addEventListener("ping", listener);
        target.addEventListener("ping", listener);  // duplicates are ignored
        target.addEventListener("ping", {handleEvent: () => calls.push(["object"])});
        target.addEventListener("ping", () => calls.push(["once"]), {once: true});
        target.addEventListener("stop", (event) => {
            event.preventDefault(); event.stopImmediatePropagation(); calls.push(["stop1"]);
        });
        target.addEventListener("stop", () => calls.push(["never"]));
        target.dispatchEvent(new Event("ping"));
        target.dispatchEvent(new Event("ping"));
        target.removeEventListener("ping", listener);
        target.dispatchEvent(new Event("ping"));
        const cancelled = !target.dispatchEvent(new Event("stop", {cancelable: true}));
        class Custom extends EventTarget {}
        const custom = new Custom();
        let detail;
        custom.addEventListener("x", (event) => { detail = event.detail; });
        custom.dispatchEvent(new CustomEvent("x", {detail: 7}));
        return {calls, cancelled, detail};""",
    )
    assert result["calls"] == [
        ["a", "ping", True],
        ["object"],
        ["once"],
        ["a", "ping", True],
        ["object"],
        ["object"],
        ["stop1"],
    ]
    assert result["cancelled"] is True
    assert result["detail"] == 7


def test_blob(make: Factory) -> None:
    result = run_js(
        make,
        """const blob = new Blob(["hé", new Uint8Array([0, 255]), new Blob(["!"])], {type: "Text/Plain"});
        const slice = blob.slice(1, 3);
        const streamed = [];
        const reader = blob.stream().getReader();
        for (;;) { const {done, value} = await reader.read(); if (done) break; streamed.push(...value); }
        return {size: blob.size, type: blob.type, bytes: [...new Uint8Array(await blob.arrayBuffer())],
                slice: [...new Uint8Array(await slice.arrayBuffer())], text: await new Blob(["abc"]).text(),
                streamed, isFile: typeof File === "function" ? new File(["x"], "a.txt").name : null,
                response: await new Response(blob).text() === await blob.text()};""",
    )
    assert result["size"] == 6
    assert result["type"] == "text/plain"
    assert bytes(result["bytes"]) == "hé".encode() + b"\x00\xff!"
    assert bytes(result["slice"]) == "hé".encode()[1:3]
    assert result["text"] == "abc"
    assert bytes(result["streamed"]) == bytes(result["bytes"])
    assert result["isFile"] == "a.txt"
    assert result["response"] is True


def test_blob_body_sets_content_type(make: Factory) -> None:
    mf = make('export default { fetch: () => new Response(new Blob(["<b>x</b>"], {type: "text/html"})) }')
    response = mf.dispatch_fetch("http://localhost/")
    assert response.headers["content-type"] == "text/html"
    assert response.text() == "<b>x</b>"


def test_headers_request_response_apis(make: Factory) -> None:
    result = run_js(
        make,
        """const headers = new Headers([["B", "2"], ["a", "1"]]);
        headers.append("set-cookie", "x=1"); headers.append("Set-Cookie", "y=2");
        const response = new Response("body", {status: 404});
        const clone = response.clone();
        let badStatus, badName;
        try { new Response("", {status: 99}); } catch (error) { badStatus = error.name; }
        try { new Headers({"bad name": "x"}); } catch (error) { badName = error.name; }
        const request = new Request("https://x/p",
                                    {method: "post", body: "abc", headers: {"content-type": "text/plain"}});
        return {order: [...headers.keys()], cookies: headers.getSetCookie(), get: headers.get("A"),
                texts: [await response.text(), await clone.text()], ok: response.ok, badStatus, badName,
                method: request.method, reqText: await request.clone().text(),
                json: await Response.json({x: 1}).json(), redirect: Response.redirect("https://y/").status};""",
    )
    assert result == {
        "order": ["a", "b", "set-cookie", "set-cookie"],
        "cookies": ["x=1", "y=2"],
        "get": "1",
        "texts": ["body", "body"],
        "ok": False,  # 404
        "badStatus": "RangeError",
        "badName": "TypeError",
        "method": "POST",
        "reqText": "abc",
        "json": {"x": 1},
        "redirect": 302,
    }


def test_globals_that_must_not_exist(make: Factory) -> None:
    result = run_js(
        make,
        """return ["__mfKernel", "__mfHost", "__mfCodec", "require", "process", "std", "os"]
            .filter((name) => typeof globalThis[name] !== "undefined");""",
    )
    assert result == []


def test_date_now_advances(make: Factory) -> None:
    now_ms = run_js(make, "return Date.now();")
    assert abs(now_ms / 1000 - time.time()) < 5
    assert re.fullmatch(r"\d+", str(now_ms))
