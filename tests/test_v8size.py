"""Value sizes as V8 serializes them (mfbook/v8size.py and its JS twin in js/v8size.js)."""

from __future__ import annotations

from importlib import resources

import pytest
import quickjs

from mfbook import codec
from mfbook.codec_types import JSTypedArray
from mfbook.v8size import v8_size, v8_size_of_text

# (JS expression, len(v8.serialize(value)) measured with Node's v8 module)
NODE_SIZES = [
    ("null", 3),
    ("true", 3),
    ("undefined", 3),
    ("0", 4),
    ("1", 4),
    ("-1", 4),
    ("63", 4),
    ("64", 5),
    ("2**31-1", 8),
    ("-(2**31)", 8),
    ("2**31", 11),
    ("1.5", 11),
    ("-0", 11),
    ("NaN", 11),
    ("1e300", 11),
    ("'abc'", 7),
    ("'é'", 5),
    ("'中'", 6),
    ("'a'.repeat(200)", 205),
    ("'中'.repeat(70)", 146),
    ("'😀'", 8),
    ("'\\ud800'", 6),
    ("['中','中']", 15),
    ("({'中': 1})", 12),
    ("({a: '中'})", 12),
    ("({})", 5),
    ("({a: 1, b: [1, 2]})", 22),
    ("({'0': 1, '01': 2, '4294967294': 3, '4294967295': 4})", 40),
    ("({$: 1})", 10),
    ("[]", 7),
    ("[1, 'x', null, undefined]", 14),
    ("[[], [[]]]", 22),
    ("[1, , 3]", 15),
    ("Object.assign([1, 2], {x: 1})", 16),
    ("Object.assign([1, , 3], {x: 1})", 20),
    ("new Array(5)", 7),
    ("new Date(0)", 11),
    ("new Date(NaN)", 11),
    ("/a/g", 7),
    ("/x+/dgimsuy", 9),
    ("/中/u", 9),
    ("new Map([[1, 2], ['k', {}]])", 15),
    ("new Set([1, 'a'])", 10),
    ("0n", 4),
    ("-1n", 12),
    ("2n ** 64n", 20),
    ("-(2n ** 200n)", 36),
    ("new ArrayBuffer(10)", 14),
    ("new Uint8Array(10)", 15),
    ("new Uint16Array(3)", 11),
    ("new Float64Array(4)", 37),
    ("new BigInt64Array(2)", 21),
    ("new DataView(new ArrayBuffer(4))", 9),
    ("new Uint8Array(new ArrayBuffer(8), 2, 3)", 8),
    ("new Uint8Array(200)", 206),
    ("(() => { const b = new ArrayBuffer(8); return [new Uint8Array(b), new Uint16Array(b, 2, 2)]; })()", 25),
    ("(() => { const o = {}; return [o, o, {o}]; })()", 20),
    ("(() => { const a = []; a.push(a); return a; })()", 9),
    ("(() => { const e = new Error('m'); e.stack = 'Error: m\\n    at x'; return e; })()", 28),
    ("(() => { const e = new TypeError('bad'); e.stack = 's'; return e; })()", 15),
    ("(() => { const e = new RangeError(''); e.stack = 's'; return e; })()", 12),
    ("(() => { const e = new Error('x', {cause: [1]}); e.stack = 's'; return e; })()", 20),
    ("new Number(1)", 11),
    ("new String('ab')", 7),
    ("new Boolean(false)", 3),
    ("Object(5n)", 12),
    ("({when: new Date(1), list: [1.25, 'x'.repeat(130)], m: new Map([[{}, new Set()]])})", 185),
]


@pytest.fixture(scope="module")
def js() -> quickjs.Context:
    context = quickjs.Context()
    for name in ("js/intrinsics.js", "js/codec.js", "js/v8size.js"):
        context.eval(resources.files("mfbook").joinpath(name).read_text(encoding="utf-8"))
    return context


@pytest.mark.parametrize(("source", "expected"), NODE_SIZES, ids=[source[:40] for source, _ in NODE_SIZES])
def test_python_size_matches_node(js: quickjs.Context, source: str, expected: int) -> None:
    text = js.eval(f"__mfCodec.encode({source})")
    assert v8_size_of_text(text) == expected


@pytest.mark.parametrize(("source", "expected"), NODE_SIZES, ids=[source[:40] for source, _ in NODE_SIZES])
def test_js_size_matches_node(js: quickjs.Context, source: str, expected: int) -> None:
    assert js.eval(f"__mfCodec.v8Size(__mfCodec.encode({source}))") == expected


def test_python_values_are_measured_on_their_encoding() -> None:
    assert v8_size_of_text(codec.encode(bytes(99_000))) == 2 + 1 + 3 + 99_000
    assert v8_size_of_text(codec.encode(JSTypedArray("Uint8Array", bytes(131_072)))) == 131_079
    assert v8_size_of_text(codec.encode({"n": None, "s": {1, 2}})) == 2 + 1 + 3 + 1 + 3 + 1 + 2 + 2 + 1 + 1 + 1 + 1


def test_unknown_tags_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown codec tag 'nope'"):
        v8_size({"$": "nope"})
