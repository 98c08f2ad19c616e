"""Tests for prelude/streams.js, blob.js and the fetch_*.js parts (Blob, Headers, Request, Response,
FormData, streams and the host.fetchApi bridge), with workerd's error texts."""

from __future__ import annotations

import json
import time

import pytest
from harness import JSRejection, js_eval, load_prelude, run_async

USED = "Body has already been used. It can only be used once. Use tee() first if you need to read it twice."


@pytest.fixture()
def ctx():
    return load_prelude()


def throws(ctx, expression: str) -> list[str]:
    """[name, message] of the exception a synchronous expression throws."""
    return js_eval(
        ctx,
        f"(function () {{ try {{ {expression}; return null; }} catch (e) {{ return [e.name, e.message]; }} }})()",
    )


def rejects(ctx, expression: str) -> tuple[str, str]:
    with pytest.raises(JSRejection) as info:
        run_async(ctx, expression)
    return info.value.name, info.value.message


# -- globals ---------------------------------------------------------------------------------


def test_globals_are_non_enumerable_and_fetch_api_is_internal(ctx):
    names = ["Headers", "Request", "Response", "FormData", "Blob", "File", "ReadableStream"]
    assert js_eval(ctx, f"{names}.map(n => Object.getOwnPropertyDescriptor(globalThis, n).enumerable)") == [False] * 7
    assert js_eval(ctx, "typeof globalThis.fetchApi") == "undefined"
    assert js_eval(ctx, "Object.keys(__mfHost.fetchApi).sort()") == [
        "isRequest",
        "isResponse",
        "requestFromWire",
        "requestToWire",
        "responseFromWire",
        "responseToWire",
    ]


def test_stream_globals_load_lazily(ctx):
    assert js_eval(ctx, "__mfHost.streams.loaded()") is False
    js_eval(ctx, "new Response('x')")  # no stream created on the hot path
    assert js_eval(ctx, "__mfHost.streams.loaded()") is False
    assert js_eval(ctx, "typeof new WritableStream().getWriter") == "function"
    assert js_eval(
        ctx, "__mfHost.streams.loaded() && !!Object.getOwnPropertyDescriptor(globalThis, 'ReadableStream').writable"
    )


# -- streams ---------------------------------------------------------------------------------


def test_readable_stream_reader_tee_and_pipe_through(ctx):
    result = run_async(
        ctx,
        """(async () => {
      const rs = new ReadableStream({ start(c) { c.enqueue('a'); c.enqueue('b'); c.close(); } });
      const [x, y] = rs.tee();
      const out = [];
      for await (const chunk of x) out.push(chunk);
      const upper = y.pipeThrough(new TransformStream({ transform(c, ctl) { ctl.enqueue(c.toUpperCase()); } }));
      const reader = upper.getReader();
      out.push((await reader.read()).value, (await reader.read()).value, (await reader.read()).done);
      return out;
    })()""",
    )
    assert result == ["a", "b", "A", "B", True]


def test_writable_stream_and_queuing_strategies(ctx):
    result = run_async(
        ctx,
        """(async () => {
      const seen = [];
      const ws = new WritableStream({ write(c) { seen.push(c); } }, new CountQueuingStrategy({ highWaterMark: 2 }));
      const w = ws.getWriter();
      await w.write(1); await w.write(2); await w.close();
      return [seen, new ByteLengthQueuingStrategy({ highWaterMark: 8 }).size(new Uint8Array(5))];
    })()""",
    )
    assert result == [[1, 2], 5]


def test_text_encoder_and_decoder_streams(ctx):
    result = run_async(
        ctx,
        """(async () => {
      const rs = new ReadableStream({ start(c) { c.enqueue('hé'); c.enqueue('llo'); c.close(); } });
      const text = await new Response(rs.pipeThrough(new TextEncoderStream())).text();
      const bytes = new TextEncoder().encode('€');
      const split = new ReadableStream({ start(c) { c.enqueue(bytes.slice(0, 1)); c.enqueue(bytes.slice(1)); c.close(); } });
      const parts = [];
      for await (const s of split.pipeThrough(new TextDecoderStream())) parts.push(s);
      return [text, parts.join('')];
    })()""",
    )
    assert result == ["héllo", "€"]


def test_response_body_read_chunk_by_chunk(ctx):
    result = run_async(
        ctx,
        """(async () => {
      const enc = new TextEncoder();
      const rs = new ReadableStream({ start(c) { for (const s of ['one', 'two', 'three']) c.enqueue(enc.encode(s)); c.close(); } });
      const reader = new Response(rs).body.getReader();
      const chunks = [];
      for (;;) { const { done, value } = await reader.read(); if (done) break; chunks.push(new TextDecoder().decode(value)); }
      return chunks;
    })()""",
    )
    assert result == ["one", "two", "three"]


def test_buffered_body_stream_yields_bytes_and_disturbs(ctx):
    result = run_async(
        ctx,
        """(async () => {
      const r = new Response('abc');
      const reader = r.body.getReader();
      const first = await reader.read();
      return [first.value instanceof Uint8Array, Array.from(first.value), (await reader.read()).done, r.bodyUsed];
    })()""",
    )
    assert result == [True, [97, 98, 99], True, True]


# -- Blob / File -----------------------------------------------------------------------------


def test_blob_parts_size_type_slice(ctx):
    result = run_async(
        ctx,
        """(async () => {
      const b = new Blob(['hé', new Uint8Array([33, 34]), new Uint16Array([0x4141]).buffer, new Blob(['z'])], { type: 'Text/Plain' });
      return [b.size, b.type, await b.text(), await b.slice(1, -1).text(), await b.slice(-1).text(),
              Array.from(await b.slice(3, 5).bytes()), (await b.arrayBuffer()).byteLength,
              new Blob(['x'], { type: 'bad\\u00ff' }).type];
    })()""",
    )
    assert result == [8, "text/plain", 'hé!"AAz', 'é!"AA', "z", [33, 34], 8, ""]


def test_blob_stream_and_file(ctx):
    result = run_async(
        ctx,
        """(async () => {
      const f = new File(['data'], 'a.txt', { type: 'text/plain', lastModified: 42 });
      const reader = f.stream().getReader();
      const { value } = await reader.read();
      return [f.name, f.lastModified, f.size, f instanceof Blob, Object.prototype.toString.call(f), value.length];
    })()""",
    )
    assert result == ["a.txt", 42, 4, True, "[object File]", 4]


def test_file_requires_two_arguments(ctx):
    assert throws(ctx, "new File(['x'])") == [
        "TypeError",
        "Failed to construct 'File': 2 arguments required, but only 1 present.",
    ]


# -- Headers ---------------------------------------------------------------------------------


def test_headers_case_insensitive_sorted_and_combined(ctx):
    result = js_eval(
        ctx,
        """(() => {
      const h = new Headers({ 'X-B': '1', 'Content-Type': 'text/plain' });
      h.append('x-b', '2'); h.append('Accept', ' a ');
      return [h.get('X-b'), h.has('CONTENT-TYPE'), [...h], [...h.keys()], [...h.values()], h.get('nope')];
    })()""",
    )
    assert result == [
        "1, 2",
        True,
        [["accept", "a"], ["content-type", "text/plain"], ["x-b", "1, 2"]],
        ["accept", "content-type", "x-b"],
        ["a", "text/plain", "1, 2"],
        None,
    ]


def test_headers_set_cookie_not_combined(ctx):
    result = js_eval(
        ctx,
        """(() => {
      const h = new Headers([['Set-Cookie', 'a=1'], ['set-cookie', 'b=2'], ['x', 'y']]);
      const seen = []; h.forEach((v, k) => seen.push(k + '=' + v));
      return [h.getSetCookie(), h.getAll('Set-Cookie'), [...h.entries()], h.get('set-cookie'), seen];
    })()""",
    )
    assert result == [
        ["a=1", "b=2"],
        ["a=1", "b=2"],
        [["set-cookie", "a=1"], ["set-cookie", "b=2"], ["x", "y"]],
        "a=1, b=2",
        ["set-cookie=a=1", "set-cookie=b=2", "x=y"],
    ]


def test_headers_set_delete_and_copy(ctx):
    result = js_eval(
        ctx,
        """(() => {
      const h = new Headers([['a', '1'], ['a', '2'], ['b', '3']]);
      h.set('A', '9'); h.delete('b');
      const copy = new Headers(h); copy.append('c', '4');
      return [[...h], [...copy]];
    })()""",
    )
    assert result == [[["a", "9"]], [["a", "9"], ["c", "4"]]]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("new Headers().append('bad name', 'x')", ["TypeError", "Invalid header name."]),
        ("new Headers().append('a:b', 'x')", ["TypeError", "Invalid header name."]),
        ("new Headers().set('a', 'x\\r\\ny: z')", ["TypeError", "Invalid header value."]),
        ("new Headers().get('(')", ["TypeError", "Invalid header name."]),
        (
            "new Headers([['a']])",
            [
                "TypeError",
                "To initialize a Headers object from a sequence, each inner sequence must have exactly two elements.",
            ],
        ),
        ("new Headers().getAll('x')", ["TypeError", 'getAll() can only be used with the header name "Set-Cookie".']),
        ("Response.redirect('https://a.com/').headers.set('x', 'y')", ["TypeError", "Can't modify immutable headers."]),
        (
            "__mfHost.fetchApi.requestFromWire({method: 'GET', url: 'https://a.com/', headers: [], body: null}).headers.append('x', 'y')",
            ["TypeError", "Can't modify immutable headers."],
        ),
    ],
)
def test_headers_errors(ctx, expression, expected):
    assert throws(ctx, expression) == expected


# -- Request ---------------------------------------------------------------------------------


def test_request_defaults_and_normalisation(ctx):
    result = js_eval(
        ctx,
        """(() => {
      const r = new Request('https://Example.com/a?b#c', { method: 'post', body: 'x', headers: { 'X-Y': 'z' }, redirect: 'MANUAL', cf: { a: 1 } });
      const g = new Request('https://a.com');
      return [r.url, r.method, r.headers.get('content-type'), r.headers.get('x-y'), r.redirect, r.cf, r.bodyUsed,
              g.method, g.body, g.cf === undefined, g.redirect, typeof g.signal, new Request('https://a.com', { method: 'PATCH' }).method];
    })()""",
    )
    assert result == [
        "https://example.com/a?b#c",
        "POST",
        "text/plain;charset=UTF-8",
        "z",
        "manual",
        {"a": 1},
        False,
        "GET",
        None,
        True,
        "follow",
        "object",
        "PATCH",
    ]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("new Request('/relative')", ["TypeError", "Invalid URL: /relative"]),
        (
            "new Request('https://a.com', { body: 'x' })",
            ["TypeError", "Request with a GET or HEAD method cannot have a body."],
        ),
        (
            "new Request('https://a.com', { method: 'HEAD', body: 'x' })",
            ["TypeError", "Request with a GET or HEAD method cannot have a body."],
        ),
        ("new Request('https://a.com', { method: 'patch' })", ["TypeError", "Invalid HTTP method string: patch"]),
        (
            "new Request('https://a.com', { redirect: 'error' })",
            [
                "TypeError",
                'Invalid redirect value, must be one of "follow" or "manual" ("error" won\'t be implemented since it does not make sense at the edge; use "manual" and check the response status code).',
            ],
        ),
        ("new Request('https://a.com', { cache: 'default' })", ["TypeError", "Unsupported cache mode: default"]),
        (
            "new Request('https://a.com', { integrity: 'sha' })",
            [
                "TypeError",
                "Subrequest integrity checking is not implemented. The integrity option must be either undefined or an empty string.",
            ],
        ),
    ],
)
def test_request_errors(ctx, expression, expected):
    assert throws(ctx, expression) == expected


def test_request_from_request_steals_body_and_copies_fields(ctx):
    result = run_async(
        ctx,
        """(async () => {
      const a = new Request('https://a.com/', { method: 'PUT', body: 'payload', headers: { x: '1' } });
      const b = new Request(a, { headers: { y: '2' } });
      const c = new Request(b.clone());
      let error = null;
      try { new Request(a); } catch (e) { error = e.message; }
      return [b.method, b.url, [...b.headers], a.bodyUsed, await b.text(), await c.text(), error];
    })()""",
    )
    # As in workerd, replacing the headers drops the content-type the original body brought.
    assert result == [
        "PUT",
        "https://a.com/",
        [["y", "2"]],
        True,
        "payload",
        "payload",
        "Cannot reconstruct a Request with a used body.",
    ]


def test_request_json_form_data_and_array_buffer(ctx):
    result = run_async(
        ctx,
        """(async () => {
      const j = await new Request('https://a.com', { method: 'POST', body: '{"a":[1,2]}' }).json();
      const params = new URLSearchParams({ q: 'a b', r: 'é' });
      const r = new Request('https://a.com', { method: 'POST', body: params });
      const ct = r.headers.get('content-type');
      const form = await r.formData();
      const ab = await new Request('https://a.com', { method: 'POST', body: new Uint8Array([1, 2, 3]) }).arrayBuffer();
      return [j, ct, [...form], ab instanceof ArrayBuffer, ab.byteLength];
    })()""",
    )
    assert result == [
        {"a": [1, 2]},
        "application/x-www-form-urlencoded;charset=UTF-8",
        [["q", "a b"], ["r", "é"]],
        True,
        3,
    ]


# -- Response --------------------------------------------------------------------------------


def test_response_defaults(ctx):
    result = js_eval(
        ctx,
        """(() => {
      const r = new Response();
      const s = new Response('x', { status: 299, statusText: 'Fine', headers: [['a', 'b']] });
      return [r.status, r.statusText, r.ok, r.body, r.bodyUsed, r.redirected, r.url, r.webSocket, r.type, [...r.headers],
              s.status, s.statusText, s.ok, new Response(null, { status: 599 }).statusText, new Response(null, { status: 404 }).ok];
    })()""",
    )
    assert result == [
        200,
        "OK",
        True,
        None,
        False,
        False,
        "",
        None,
        "default",
        [],
        299,
        "Fine",
        True,
        "Server Error",
        False,
    ]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (
            "new Response('x', { status: 199 })",
            ["RangeError", "Responses may only be constructed with status codes in the range 200 to 599, inclusive."],
        ),
        (
            "new Response('x', { status: 600 })",
            ["RangeError", "Responses may only be constructed with status codes in the range 200 to 599, inclusive."],
        ),
        (
            "new Response('x', { status: 204 })",
            ["TypeError", "Response with null body status (101, 204, 205, or 304) cannot have a body."],
        ),
        (
            "new Response(new ReadableStream(), { status: 304 })",
            ["TypeError", "Response with null body status (101, 204, 205, or 304) cannot have a body."],
        ),
        ("new Response('x', { statusText: 'a\\nb' })", ["TypeError", "Invalid statusText"]),
        ("new Response('x', { encodeBody: 'gzip' })", ["TypeError", "encodeBody: unexpected value: gzip"]),
        (
            "Response.redirect('https://a.com/', 200)",
            ["RangeError", "200 is not a redirect status code. It must be one of: 301, 302, 303, 307, or 308."],
        ),
        ("Response.redirect('nope')", ["TypeError", "Unable to parse URL: nope"]),
    ],
)
def test_response_errors(ctx, expression, expected):
    assert throws(ctx, expression) == expected


def test_null_body_status_accepts_empty_body(ctx):
    assert js_eval(ctx, "[new Response('', { status: 204 }).body, new Response(null, { status: 304 }).status]") == [
        None,
        304,
    ]
    assert throws(ctx, "new Response(null, { status: 101 })")[0] == "RangeError"  # 101 only with a webSocket


def test_response_body_used_once(ctx):
    assert run_async(ctx, "(async () => { const r = new Response('a'); await r.text(); return r.bodyUsed; })()") is True
    assert rejects(ctx, "(async () => { const r = new Response('a'); await r.text(); return r.text(); })()") == (
        "TypeError",
        USED,
    )
    assert rejects(
        ctx, "(async () => { const r = new Response('a'); await r.arrayBuffer(); return r.clone(); })()"
    ) == ("TypeError", USED)
    assert rejects(
        ctx, "(async () => { const r = new Response(new ReadableStream()); r.body.getReader(); return r.text(); })()"
    ) == ("TypeError", "This ReadableStream is currently locked to a reader.")


def test_response_static_json_redirect_error(ctx):
    result = run_async(
        ctx,
        """(async () => {
      const j = Response.json({ a: 1 }, { status: 201, headers: { 'x': 'y' } });
      const k = Response.json([1], { headers: { 'content-type': 'application/vnd+json' } });
      const r = Response.redirect('https://a.com/x', 307);
      const e = Response.error();
      return [j.status, j.headers.get('content-type'), await j.json(), k.headers.get('content-type'),
              r.status, r.headers.get('location'), r.body, Response.redirect('https://b.com').status,
              e.status, e.type, e.ok];
    })()""",
    )
    assert result == [
        201,
        "application/json",
        {"a": 1},
        "application/vnd+json",
        307,
        "https://a.com/x",
        None,
        302,
        0,
        "error",
        False,
    ]


def test_response_clone_tees_stream_and_buffer(ctx):
    result = run_async(
        ctx,
        """(async () => {
      const a = new Response('buffered', { headers: { x: '1' } });
      const b = a.clone();
      const enc = new TextEncoder();
      const s = new Response(new ReadableStream({ start(c) { c.enqueue(enc.encode('str')); c.enqueue(enc.encode('eam')); c.close(); } }));
      const t = s.clone();
      return [await a.text(), await b.text(), b.headers.get('x'), await s.text(), await t.text()];
    })()""",
    )
    assert result == ["buffered", "buffered", "1", "stream", "stream"]


def test_response_blob_and_bytes(ctx):
    result = run_async(
        ctx,
        """(async () => {
      const blob = await new Response(new Blob(['hi'], { type: 'text/x' })).blob();
      const r = new Response(new Blob(['hi'], { type: 'text/x' }));
      return [blob.type, blob.size, r.headers.get('content-type'), Array.from(await new Response('ab').bytes())];
    })()""",
    )
    assert result == ["text/x", 2, "text/x", [97, 98]]


def test_response_from_other_response_body_reuses_buffer(ctx):
    result = run_async(
        ctx,
        """(async () => {
      const a = new Response('same', { status: 202, headers: { x: '1' } });
      const b = new Response(a.body, a);
      return [b.status, b.headers.get('x'), await b.text(), a.bodyUsed];
    })()""",
    )
    assert result == [202, "1", "same", True]


@pytest.mark.parametrize(
    "make",
    [
        "new Uint8Array(all)",
        "all.buffer",
        "new DataView(all.buffer)",
        "new Blob([all])",
    ],
)
def test_binary_body_round_trip_all_256_bytes(ctx, make):
    result = run_async(
        ctx,
        f"""(async () => {{
      const all = new Uint8Array(256).map((_, i) => i);
      const r = new Response({make});
      const back = new Uint8Array(await r.arrayBuffer());
      return back.length === 256 && back.every((b, i) => b === i);
    }})()""",
    )
    assert result is True


def test_text_decoding_replaces_invalid_utf8_and_strips_bom(ctx):
    result = run_async(
        ctx,
        """Promise.all([
      new Response(new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0xff, 0x62])).text(),
      new Response('\\ud800x').text().then(t => Array.from(new TextEncoder().encode(t))),
    ])""",
    )
    assert result == ["a\ufffdb", [239, 191, 189, 120]]


# -- FormData --------------------------------------------------------------------------------


def test_form_data_methods(ctx):
    result = js_eval(
        ctx,
        """(() => {
      const f = new FormData();
      f.append('a', '1'); f.append('a', '2'); f.append('b', new Blob(['x']), 'x.txt'); f.set('c', 3);
      const before = [f.get('a'), f.getAll('a'), f.has('b'), f.get('b').name, f.get('c'), [...f.keys()]];
      f.set('a', 'z'); f.delete('c');
      return before.concat([[...f.keys()], f.get('a'), f.get('zz')]);
    })()""",
    )
    assert result == ["1", ["1", "2"], True, "x.txt", "3", ["a", "a", "b", "c"], ["a", "b"], "z", None]


def test_form_data_multipart_round_trip(ctx):
    result = run_async(
        ctx,
        """(async () => {
      const f = new FormData();
      f.append('name', 'välue "q"');
      f.append('file', new File([new Uint8Array([0, 255, 13, 10])], 'f.bin', { type: 'application/x-bin' }));
      const r = new Request('https://a.com', { method: 'POST', body: f });
      const ct = r.headers.get('content-type');
      const parsed = await r.clone().formData();
      const raw = await r.text();
      const file = parsed.get('file');
      return [/^multipart\\/form-data; boundary=[0-9a-f]{32}$/.test(ct), parsed.get('name'), file.name, file.type,
              Array.from(await file.bytes()), raw.includes('Content-Disposition: form-data; name="file"; filename="f.bin"')];
    })()""",
    )
    assert result == [True, 'välue "q"', "f.bin", "application/x-bin", [0, 255, 13, 10], True]


def test_form_data_parse_errors(ctx):
    assert rejects(ctx, "new Response('x').formData()") == (
        "TypeError",
        "Unrecognized Content-Type header value. FormData can only parse the following MIME types: multipart/form-data, application/x-www-form-urlencoded",
    )
    assert rejects(ctx, "new Response(new Uint8Array(1)).formData()") == (
        "TypeError",
        "Parsing a Body as FormData requires a Content-Type header.",
    )
    assert rejects(ctx, "new Response('x', { headers: { 'content-type': 'multipart/form-data' } }).formData()")[
        1
    ].startswith("No boundary string in Content-Type header.")


# -- bridge ----------------------------------------------------------------------------------


def test_response_to_wire_is_synchronous_for_buffered_bodies(ctx):
    result = js_eval(
        ctx,
        """(() => {
      const w = __mfHost.fetchApi.responseToWire(new Response('h\\u00e9', { status: 404, headers: [['Set-Cookie', 'a'], ['set-cookie', 'b'], ['X', '1']] }));
      return [typeof w.then, w];
    })()""",
    )
    assert result == [
        "undefined",
        {
            "status": 404,
            "statusText": "Not Found",
            "body": "h\u00c3\u00a9",
            "headers": [
                ["content-type", "text/plain;charset=UTF-8"],
                ["set-cookie", "a"],
                ["set-cookie", "b"],
                ["x", "1"],
            ],
        },
    ]


def test_response_to_wire_reads_streams_and_consumes(ctx):
    result = run_async(
        ctx,
        """(async () => {
      const enc = new TextEncoder();
      const r = new Response(new ReadableStream({ start(c) { c.enqueue(enc.encode('a')); c.enqueue(new Uint8Array([0, 255])); c.close(); } }));
      const p = __mfHost.fetchApi.responseToWire(r);
      const w = await p;
      return [typeof p.then, w.body, r.bodyUsed, __mfHost.fetchApi.responseToWire(new Response(null, { status: 204 })).body];
    })()""",
    )
    assert result == ["function", "a\u0000\u00ff", True, None]


def test_request_wire_round_trip_binary(ctx):
    body = "".join(chr(i) for i in range(256))
    wire = {
        "method": "POST",
        "url": "https://a.com/p?q=1",
        "headers": [["content-type", "application/octet-stream"], ["x-a", "1"]],
        "body": body,
    }
    result = js_eval(
        ctx,
        f"""(() => {{
      const api = __mfHost.fetchApi;
      const req = api.requestFromWire({json.dumps(wire)});
      const fresh = req.bodyUsed;
      const copy = new Request(req, {{ headers: req.headers }});
      return [fresh, req.headers.get('X-A'), api.requestToWire(copy), req.bodyUsed];
    }})()""",
    )
    assert result[:2] == [False, "1"]
    assert result[2] == wire
    assert result[3] is True


def test_response_from_wire_is_lazy_and_immutable(ctx):
    result = run_async(
        ctx,
        """(async () => {
      const api = __mfHost.fetchApi;
      const r = api.responseFromWire({ status: 201, statusText: 'Created', headers: [['content-type', 'text/plain']], body: 'ok', url: 'https://a.com/', redirected: true });
      const loaded = __mfHost.streams.loaded();
      return [loaded, r.status, r.statusText, r.url, r.redirected, api.isResponse(r), api.isResponse({}), await r.text()];
    })()""",
    )
    assert result == [False, 201, "Created", "https://a.com/", True, True, False, "ok"]


def test_request_to_wire_rejects_used_body(ctx):
    assert throws(
        ctx,
        """(() => { const r = new Request('https://a.com', { method: 'POST', body: 'x' });
        __mfHost.fetchApi.requestToWire(r); __mfHost.fetchApi.requestToWire(r); })()""",
    ) == ["TypeError", USED]


def test_large_binary_body_converts_quickly(ctx):
    js_eval(ctx, "(globalThis.big = new Uint8Array(3 << 20).map((_, i) => i * 7), 0)")
    start = time.perf_counter()
    assert (
        js_eval(
            ctx,
            """(() => {
      const w = __mfHost.fetchApi.responseToWire(new Response(big));
      return w.body.length === big.length && w.body.charCodeAt(12345) === ((12345 * 7) & 255);
    })()""",
        )
        is True
    )
    assert (
        run_async(
            ctx,
            """__mfHost.fetchApi.requestFromWire({ method: 'POST', url: 'https://a.com/', headers: [],
        body: __mfHost.binary.toBinaryString(big) }).bytes().then(b => b.length === big.length && b[999] === ((999 * 7) & 255))""",
        )
        is True
    )
    assert time.perf_counter() - start < 1.0
