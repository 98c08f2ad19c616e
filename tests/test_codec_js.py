"""Tests for mfbook/js/codec.js, alone and against the Python half (mfbook.codec).

Strings cross the quickjs binding only as JSON-escaped text (the binding truncates JS strings
at NUL and cannot carry lone surrogates), which is exactly what ``__mfCodec.encode`` returns.
"""

from __future__ import annotations

import importlib.util
import json
import math
import time
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import quickjs
from hypothesis import given, settings
from hypothesis import strategies as st

from mfbook import codec
from mfbook.codec import (
    INVALID_DATE,
    UNDEFINED,
    JSArray,
    JSBigInt,
    JSBoxed,
    JSError,
    JSMap,
    JSRegExp,
    JSSet,
    JSTypedArray,
)


def _load_python_codec_tests() -> ModuleType:
    """The sibling test module, for its ``same`` helper and value strategy (any import mode)."""
    path = Path(__file__).with_name("test_codec.py")
    spec = importlib.util.spec_from_file_location("_mfbook_codec_test_helpers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_helpers = _load_python_codec_tests()
same = _helpers.same
values = _helpers.values

# Deep equality for structured-clone values, cycle aware; compares prototypes, Object.is for
# numbers, Map/Set order, holes, array props, typed array bytes and error fields.
DEEP_EQUAL_JS = r"""
globalThis.deepEqual = function deepEqual(a, b, seen = new Map()) {
  if (typeof a !== typeof b) return false;
  if (typeof a !== "object" || a === null || b === null) return Object.is(a, b);
  if (seen.get(a) === b) return true;
  seen.set(a, b);
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const tag = Object.prototype.toString.call(a);
  if (tag !== Object.prototype.toString.call(b)) return false;
  if (a instanceof Date) return Object.is(a.getTime(), b.getTime());
  if (a instanceof RegExp) return a.source === b.source && a.flags === b.flags;
  if (a instanceof Map) {
    const x = [...a], y = [...b];
    return x.length === y.length && x.every((e, i) => deepEqual(e[0], y[i][0], seen)
      && deepEqual(e[1], y[i][1], seen));
  }
  if (a instanceof Set) {
    const x = [...a], y = [...b];
    return x.length === y.length && x.every((e, i) => deepEqual(e, y[i], seen));
  }
  if (a instanceof ArrayBuffer) {
    return deepEqual([...new Uint8Array(a)], [...new Uint8Array(b)], seen);
  }
  if (ArrayBuffer.isView(a)) {
    return a.byteOffset === b.byteOffset && a.byteLength === b.byteLength
      && deepEqual(a.buffer, b.buffer, seen);
  }
  if (a instanceof Error) {
    return a.name === b.name && a.message === b.message && a.stack === b.stack
      && Object.hasOwn(a, "cause") === Object.hasOwn(b, "cause")
      && deepEqual(a.cause, b.cause, seen);
  }
  if (a instanceof Number || a instanceof String || a instanceof Boolean || a instanceof BigInt) {
    return Object.is(a.valueOf(), b.valueOf());
  }
  if (Array.isArray(a) && a.length !== b.length) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && deepEqual(a[k], b[k], seen));
};
globalThis.roundTrip = function (value) {
  const text = __mfCodec.encode(value);
  const back = __mfCodec.decode(text);
  return deepEqual(value, back) && __mfCodec.encode(back) === text;
};
"""


def new_context() -> quickjs.Context:
    """A fresh QuickJS context with the codec and the deepEqual helper loaded."""
    context = quickjs.Context()
    for name in ("js/intrinsics.js", "js/codec.js", "js/v8size.js"):
        context.eval(resources.files("mfbook").joinpath(name).read_text(encoding="utf-8"))
    context.eval(DEEP_EQUAL_JS)
    return context


@pytest.fixture(scope="module")
def js() -> quickjs.Context:
    return new_context()


def js_encode(context: quickjs.Context, expression: str) -> str:
    return str(context.eval(f"__mfCodec.encode({expression})"))


def js_decode_check(context: quickjs.Context, text: str, check: str) -> Any:
    """Decode ``text`` in JS and evaluate ``check`` with the result bound to ``v``."""
    return context.eval(f"(function (t) {{ const v = __mfCodec.decode(t); return ({check}); }})")(text)


def js_reencode(context: quickjs.Context, text: str) -> str:
    return str(context.eval("(function (t) { return __mfCodec.encode(__mfCodec.decode(t)); })")(text))


# ---------------------------------------------------------------------------- JS -> JS

JS_VALUES = [
    "undefined", "null", "true", "0", "-0", "NaN", "Infinity", "-Infinity", "1.5e300", "12345n",
    "-(2n ** 70n)", "'a\\u0000b\\ud800c\\udfff'", "'\\ud83d\\ude00'",
    "new Date(0)", "new Date(NaN)", "new Date(8.64e15)", "/a+(?<n>b)/gimsuy", "new RegExp('')",
    "new Map([[1, 'a'], ['1', 'b'], [1n, 'c'], [{}, []], [NaN, -0]])",
    "new Set([1, '1', 1n, true, {}, undefined])",
    "[1, , 3]", "[, , ]", "new Array(5)", "Object.assign([1, 2], {x: 1, $: 2})",
    "(() => { const a = []; a.length = 4294967295; a[7] = 'x'; a.p = 1; return a; })()",
    "({a: undefined, b: [undefined], $: {$: 'ref', id: 0}})",
    "({2: 'two', b: 1, 1: 'one', 4294967295: 'big', '01': 'x'})",
    "JSON.parse('{\"__proto__\": {\"a\": 1}}')",
    "new ArrayBuffer(0)", "new Uint8Array([0, 1, 255]).buffer",
    "new Int8Array([-1, 2])", "new Uint8ClampedArray([300])", "new Int16Array(3)",
    "new Uint16Array([65535])", "new Int32Array([-5])", "new Uint32Array([4e9])",
    "new Float32Array([1.5, NaN])", "new Float64Array([-0, Infinity])",
    "new BigInt64Array([-1n])", "new BigUint64Array([2n ** 64n - 1n])",
    "new Float16Array([1.5, -2])",
    "(() => { const b = new ArrayBuffer(16); return {b, u: new Uint8Array(b, 3, 5),"
    " d: new DataView(b, 4, 8), f: new Float64Array(b, 8)}; })()",
    "new Error('boom')", "new TypeError('t')", "new RangeError('r', {cause: {why: 1}})",
    "new EvalError()", "new ReferenceError('x')", "new SyntaxError('s')", "new URIError('u')",
    "(() => { const e = new Error('e'); e.cause = e; return e; })()",
    "(() => { const e = new Error('custom'); e.name = 'MyError'; return e; })()",
    "new Number(-0)", "new String('boxed')", "new Boolean(false)", "Object(5n)",
    "(() => { const o = {n: 1}; return [o, o, {o}]; })()",
    "(() => { const o = {}; o.self = o; const m = new Map(); m.set(m, m);"
    " const s = new Set(); s.add(s); return {o, m, s}; })()",
    "(() => { const a = []; a.push(a, [a]); return a; })()",
]  # fmt: skip


@pytest.mark.parametrize("expression", JS_VALUES)
def test_js_round_trip(js: quickjs.Context, expression: str) -> None:
    assert js.eval(f"roundTrip({expression})") is True


def test_js_shared_references_stay_shared(js: quickjs.Context) -> None:
    check = "v[0] === v[1] && v[2].o === v[0] && v[3].self === v[3]"
    text = js_encode(js, "(() => { const o = {}; const c = {}; c.self = c; return [o, o, {o}, c]; })()")
    assert js_decode_check(js, text, check) is True


def test_js_typed_arrays_share_their_buffer(js: quickjs.Context) -> None:
    text = js_encode(
        js,
        "(() => { const b = new ArrayBuffer(8); return [new Uint8Array(b, 2), new DataView(b)]; })()",
    )
    assert js_decode_check(js, text, "v[0].buffer === v[1].buffer && v[0].byteOffset === 2") is True


def test_js_class_instance_becomes_plain_object(js: quickjs.Context) -> None:
    text = js_encode(js, "new (class P { constructor() { this.x = 1; } get y() { return 2; } })()")
    assert text == '{"x":1}'
    assert js_decode_check(js, text, "Object.getPrototypeOf(v) === Object.prototype") is True


def test_js_null_prototype_object_becomes_ordinary(js: quickjs.Context) -> None:
    text = js_encode(js, "Object.assign(Object.create(null), {a: 1})")
    assert js_decode_check(js, text, "Object.getPrototypeOf(v) === Object.prototype && v.a === 1")


def test_js_error_fields(js: quickjs.Context) -> None:
    text = js_encode(js, "(() => { const e = new RangeError('r', {cause: 1}); e.stack = 'S'; return e; })()")
    assert text == '{"$":"error","name":"RangeError","message":"r","stack":"S","cause":1}'
    check = "v instanceof RangeError && v.message === 'r' && v.cause === 1 && !Object.keys(v).length"
    assert js_decode_check(js, text, check) is True


def test_js_fast_path_text(js: quickjs.Context) -> None:
    assert js_encode(js, "({a: [1, 'x', null, true, {b: 2.5}]})") == '{"a":[1,"x",null,true,{"b":2.5}]}'
    assert js_encode(js, "'a\\u0000\\ud800'") == '"a\\u0000\\ud800"'
    assert js.eval("__mfCodec.VERSION") == 1


# ---------------------------------------------------------------------------- DataCloneError


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("function () {}", "function () {} could not be cloned."),
        ("() => 1", "() => 1 could not be cloned."),
        ("Symbol('q')", "Symbol(q) could not be cloned."),
        ("{f: class A {}}", "class A {} could not be cloned."),
        ("[new WeakMap()]", "#<WeakMap> could not be cloned."),
        ("new WeakSet()", "#<WeakSet> could not be cloned."),
        ("new WeakRef({})", "#<WeakRef> could not be cloned."),
        ("Promise.resolve(1)", "#<Promise> could not be cloned."),
        ("new Map([[1, Symbol.iterator]])", "Symbol(Symbol.iterator) could not be cloned."),
        ("(function* () {})()", "#<Generator> could not be cloned."),
    ],
)
def test_uncloneable_values_throw_data_clone_error(js: quickjs.Context, expression: str, message: str) -> None:
    result = js.eval(
        f"(() => {{ try {{ __mfCodec.encode({expression}); return 'no error'; }}"
        " catch (e) { return JSON.stringify([e.name, e.message, e instanceof Error]); } })()"
    )
    assert json.loads(result) == ["DataCloneError", message, True]


# ---------------------------------------------------------------------------- JS -> Python


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("undefined", UNDEFINED),
        ("-0", -0.0),
        ("2 ** 60", float(2**60)),
        ("2 ** 53", 2**53),
        ("0.1", 0.1),
        ("12n", JSBigInt(12)),
        ("'x\\u0000\\ud800'", "x\x00\ud800"),
        ("new Date(1709209801123)", datetime(2024, 2, 29, 12, 30, 1, 123000, tzinfo=timezone.utc)),
        ("new Date(NaN)", INVALID_DATE),
        ("/a.b/gs", JSRegExp("a.b", "gs")),
        ("new Map([[1, 'a'], [true, 'b']])", JSMap([(1, "a"), (True, "b")])),
        ("new Set(['a', 2])", {"a", 2}),
        ("new Set([1, true])", JSSet([1, True])),
        ("[1, , 3]", JSArray(length=3, items={0: 1, 2: 3})),
        ("({$: 1, a: [undefined]})", {"$": 1, "a": [UNDEFINED]}),
        ("new Uint8Array([1, 2]).buffer", b"\x01\x02"),
        ("new Int16Array([-2, 3])", JSTypedArray.from_values("Int16Array", [-2, 3])),
        (
            "(() => { const e = new TypeError('t', {cause: 2}); e.stack = 's'; return e; })()",
            JSError("TypeError", "t", "s", 2),
        ),
        ("new String('b')", JSBoxed("b")),
    ],
)
def test_js_to_python(js: quickjs.Context, expression: str, expected: Any) -> None:
    assert same(codec.decode(js_encode(js, expression)), expected)


def test_js_shared_buffer_to_python(js: quickjs.Context) -> None:
    value = codec.decode(
        js_encode(js, "(() => { const b = new ArrayBuffer(4); return [b, new Uint16Array(b, 2)]; })()")
    )
    assert value[1].buffer is value[0] and value[1].byte_offset == 2


# ---------------------------------------------------------------------------- Python -> JS

PYTHON_TO_JS = [
    (UNDEFINED, "v === undefined"),
    (-0.0, "Object.is(v, -0)"),
    (math.nan, "Number.isNaN(v)"),
    (2**64, "v === 2n ** 64n"),
    ("a\x00b\ud800", "v.length === 4 && v.charCodeAt(1) === 0 && v.charCodeAt(3) === 0xd800"),
    (datetime(2024, 1, 1), "v instanceof Date && v.toISOString() === '2024-01-01T00:00:00.000Z'"),
    (INVALID_DATE, "v instanceof Date && Number.isNaN(v.getTime())"),
    (JSRegExp("^x$", "im"), "v instanceof RegExp && v.test('a\\nX')"),
    (
        JSMap([((), 1), ("k", 2)]),
        "v instanceof Map && Array.isArray([...v.keys()][0]) && v.get('k') === 2",
    ),
    ({1, 2}, "v instanceof Set && v.has(1) && v.has(2)"),
    ({"$": "date", "1": None}, "v.$ === 'date' && Object.keys(v).join() === '1,$'"),
    (b"\xff", "v instanceof ArrayBuffer && new Uint8Array(v)[0] === 255"),
    (
        JSTypedArray.from_values("Float64Array", [0.5]),
        "v instanceof Float64Array && v[0] === 0.5",
    ),
    (
        JSError("URIError", "u"),
        "v instanceof URIError && v.message === 'u' && v.stack === undefined",
    ),
    (JSError("Custom", "c"), "v instanceof Error && v.name === 'Custom'"),
    (JSBoxed(True), "v instanceof Boolean && v.valueOf() === true"),
    (JSArray(length=3, items={1: "x"}, props={"p": 1}), "v.length === 3 && !(0 in v) && v.p === 1"),
]


@pytest.mark.parametrize(("value", "check"), PYTHON_TO_JS)
def test_python_to_js(js: quickjs.Context, value: Any, check: str) -> None:
    assert js_decode_check(js, codec.encode(value), check) is True


def test_python_shared_references_to_js(js: quickjs.Context) -> None:
    shared: dict[str, Any] = {}
    shared["self"] = shared
    text = codec.encode([shared, shared, JSMap([(shared, shared)])])
    check = "v[0] === v[1] && v[0].self === v[0] && v[2].get(v[0]) === v[0]"
    assert js_decode_check(js, text, check) is True


@settings(max_examples=200, deadline=None)
@given(values)
def test_python_values_survive_js(js: quickjs.Context, value: Any) -> None:
    """Python -> text -> JS -> text -> Python is lossless."""
    back = codec.decode(js_reencode(js, codec.encode(value)))
    assert same(back, value)


def _significant_digits(text: str) -> int:
    return len(text.lstrip("-").split("e")[0].replace(".", "").strip("0"))


@settings(max_examples=500, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != 0))
def test_number_text_matches_js(js: quickjs.Context, value: float) -> None:
    """Python writes numbers as JS does; QuickJS is not always shortest (2**-24), so the
    Python text must then still be the same double with no more digits."""
    js_text = js.eval("(function (t) { return __mfCodec.encode(JSON.parse(t)); })")(json.dumps(value))
    text = codec.encode(value)
    if text != js_text:
        assert float(text) == float(js_text) == value
        assert _significant_digits(text) < _significant_digits(js_text)


def test_quickjs_non_shortest_number_still_round_trips(js: quickjs.Context) -> None:
    assert js_encode(js, "2 ** -24") == "5.9604644775390625e-8"
    assert codec.encode(2.0**-24) == "5.960464477539063e-8"
    assert js_reencode(js, codec.encode(2.0**-24)) == "5.9604644775390625e-8"
    assert codec.decode("5.9604644775390625e-8") == 2.0**-24


# ---------------------------------------------------------------------------- cost


def test_micro_benchmark_reports_cost(js: quickjs.Context) -> None:
    """Encode+decode cost of the hot-path shapes; prints numbers, asserts only sanity."""
    js.eval(
        "globalThis.__bench = function (value, n) {"
        " const start = Date.now();"
        " for (let i = 0; i < n; i++) __mfCodec.decode(__mfCodec.encode(value));"
        " return (Date.now() - start) * 1000 / n; }"
    )
    shapes = {
        "number": "42",
        "object10": "({a: 1, b: 'two', c: true, d: null, e: 5.5, f: [1, 2], g: 'x', h: 0, i: {j: 1}, k: 'last'})",
        "object10+date": "({a: 1, b: 'two', c: true, d: null, e: 5.5, f: [1, 2], g: 'x', h: 0,"
        " i: {j: 1}, k: new Date(0)})",
    }
    start = time.perf_counter()
    costs = {name: js.eval(f"__bench({expr}, 2000)") for name, expr in shapes.items()}
    print("\ncodec.js encode+decode µs/op:", {k: round(v, 2) for k, v in costs.items()})
    assert time.perf_counter() - start < 30
