"""Tests for mfbook.codec: the Python half of the value codec."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfbook.codec import (
    HOLE,
    INVALID_DATE,
    NO_CAUSE,
    UNDEFINED,
    JSArray,
    JSBigInt,
    JSBoxed,
    JSDate,
    JSError,
    JSMap,
    JSRegExp,
    JSSet,
    JSTypedArray,
    decode,
    decode_bytes,
    encode,
    encode_bytes,
    encoded_size,
)

# ---------------------------------------------------------------------------- helpers


def same(a: Any, b: Any, _seen: set[tuple[int, int]] | None = None) -> bool:
    """Strict structural equality: types matter, NaN equals NaN, -0.0 differs from 0.0."""
    seen = set() if _seen is None else _seen
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, JSBoxed):
        return same(a.value, b.value)
    if isinstance(a, (str, int, bytes, datetime, JSDate, JSRegExp)) or a is None:
        return bool(a == b)
    if isinstance(a, (list, dict, JSMap, JSSet, JSArray, JSError, JSTypedArray)):
        pair = (id(a), id(b))
        if pair in seen:
            return True
        seen.add(pair)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y, seen) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], seen) for k in a)
    if isinstance(a, JSMap):
        return len(a) == len(b) and all(
            same(k1, k2, seen) and same(v1, v2, seen) for (k1, v1), (k2, v2) in zip(a.items(), b.items(), strict=True)
        )
    if isinstance(a, JSSet):
        return len(a) == len(b) and all(same(x, y, seen) for x, y in zip(a, b, strict=True))
    if isinstance(a, set):
        return bool(a == b)
    if isinstance(a, JSArray):
        return (
            a.length == b.length
            and a.items.keys() == b.items.keys()
            and all(same(a.items[k], b.items[k], seen) for k in a.items)
            and same(a.props, b.props, seen)
        )
    if isinstance(a, JSError):
        return (a.name, a.message, a.stack) == (b.name, b.message, b.stack) and (
            a.cause is b.cause or same(a.cause, b.cause, seen)
        )
    if isinstance(a, JSTypedArray):
        return bool(a == b)
    return a is b


def roundtrip(value: Any) -> Any:
    return decode(encode(value))


# ---------------------------------------------------------------------------- strategies


def _no_surrogate_pairs(text: str) -> bool:
    return not re.search("[\ud800-\udbff][\udc00-\udfff]", text)


texts = st.text(alphabet=st.one_of(st.characters(), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))).filter(
    _no_surrogate_pairs
)
keys = st.one_of(texts, st.sampled_from(["$", "0", "1", "10", "01", "__proto__", "length"]))
safe_ints = st.integers(min_value=-(2**53), max_value=2**53)
floats = st.floats().filter(lambda x: not x.is_integer() or x > 2**53 or x < -(2**53)) | st.just(-0.0)
ms_datetimes = st.datetimes(timezones=st.just(timezone.utc)).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
# Sources in the canonical form RegExp#source gives (JS must accept them and echo them).
regex_sources = st.one_of(
    st.from_regex(r"[a-z0-9 ]{1,8}", fullmatch=True),
    st.sampled_from(["(?:)", "a+(?<n>b)?", "\\/", "[^\\n]*$", "^\\d{2,}\\b", "\\u{1F600}|é"]),
)
regexps = st.builds(
    JSRegExp,
    regex_sources,
    st.lists(st.sampled_from("dgimsuy"), unique=True).map(lambda fs: "".join(f for f in "dgimsuy" if f in fs)),
)
primitives = st.one_of(
    st.none(),
    st.just(UNDEFINED),
    st.booleans(),
    safe_ints,
    floats,
    st.integers().map(JSBigInt),
    texts,
)


_KINDS = {
    "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array",
    "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array",
    "DataView", "Float16Array",
}  # fmt: skip


@st.composite
def typed_arrays(draw: st.DrawFn) -> JSTypedArray:
    kind = draw(st.sampled_from(sorted(_KINDS)))
    size = JSTypedArray(kind, b"").item_size
    data = draw(st.binary(max_size=64))
    count = len(data) // size
    start = draw(st.integers(0, count))
    length = draw(st.integers(0, count - start))
    return JSTypedArray(kind, data, start * size, length)


leaves = st.one_of(
    primitives,
    ms_datetimes,
    st.just(INVALID_DATE),
    st.integers(-8_640_000_000_000_000, 8_640_000_000_000_000)
    .map(JSDate)
    .filter(lambda d: not -62135596800000 <= d.ms <= 253402300799999),
    regexps,
    st.binary(max_size=32),
    typed_arrays(),
    st.builds(JSBoxed, st.one_of(st.booleans(), safe_ints, floats, texts)),
)


# NaN and -0.0 keys are normalized by JS Map (tested separately).
map_keys = primitives.filter(lambda k: k == k and not (type(k) is float and k == 0))


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(keys, children, max_size=5),
        st.lists(st.tuples(map_keys, children), max_size=4).map(JSMap),
        st.sets(st.one_of(texts, safe_ints), max_size=4),
        st.builds(
            lambda items, extra, props: JSArray(length=max(items, default=-1) + 1 + extra, items=items, props=props),
            st.dictionaries(st.integers(0, 6), children, max_size=3),
            st.integers(1, 3),
            st.dictionaries(texts.filter(lambda k: not k.isdigit()), children, max_size=2),
        ),
        st.builds(
            JSError,
            st.sampled_from(["Error", "TypeError", "RangeError", "MyError"]),
            texts,
            st.none() | texts,
            st.just(NO_CAUSE) | children,
        ),
    )


values = st.recursive(leaves, _containers, max_leaves=20)


# ---------------------------------------------------------------------------- primitives


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (0, "0"),
        (-7, "-7"),
        (2**53, "9007199254740992"),
        (1.5, "1.5"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (1.5e-6, "0.0000015"),
        (123456789.125, "123456789.125"),
        (2.0**60, "1152921504606847000"),
        (5e-324, "5e-324"),
        (-1.7976931348623157e308, "-1.7976931348623157e+308"),
        ("plain", '"plain"'),
        ("é\n\x00\x7f", '"é\\n\\u0000\x7f"'),
        (UNDEFINED, '{"$":"undefined"}'),
        (-0.0, '{"$":"number","v":"-0"}'),
        (math.inf, '{"$":"number","v":"Infinity"}'),
        (-math.inf, '{"$":"number","v":"-Infinity"}'),
        (math.nan, '{"$":"number","v":"NaN"}'),
        (JSBigInt(-12), '{"$":"bigint","v":"-12"}'),
    ],
)
def test_primitive_encodes_to_js_text(value: Any, text: str) -> None:
    assert encode(value) == text
    assert same(decode(text), value)


def test_integral_float_decodes_as_int() -> None:
    assert same(roundtrip(3.0), 3)


def test_int_beyond_safe_range_encodes_as_bigint() -> None:
    assert encode(2**53 + 1) == '{"$":"bigint","v":"9007199254740993"}'
    assert same(roundtrip(-(2**64)), JSBigInt(-(2**64)))


def test_big_integral_number_decodes_as_float() -> None:
    assert same(decode("1152921504606846976"), float(2**60))
    assert same(decode("[9007199254740993]"), [9007199254740992.0])


def test_lone_surrogates_are_escaped() -> None:
    text = encode({"k\ud800": "\udc00x"})
    assert text == '{"k\\ud800":"\\udc00x"}'
    assert text.encode("utf-8")  # always valid UTF-8
    assert roundtrip("\ud800\udfff-\udbff") == "\ud800\udfff-\udbff".encode("utf-16", "surrogatepass").decode(
        "utf-16", "surrogatepass"
    )


def test_undefined_is_a_falsy_singleton() -> None:
    assert not UNDEFINED
    assert repr(UNDEFINED) == "undefined"
    assert roundtrip({"a": UNDEFINED})["a"] is UNDEFINED


def test_bigint_is_an_int() -> None:
    value = roundtrip(JSBigInt(5))
    assert isinstance(value, int) and isinstance(value, JSBigInt)
    assert value + 1 == 6


# ---------------------------------------------------------------------------- objects


def test_datetime_round_trips_in_utc() -> None:
    when = datetime(2024, 2, 29, 12, 30, 1, 123000, tzinfo=timezone.utc)
    assert encode(when) == '{"$":"date","v":1709209801123}'
    assert roundtrip(when) == when and roundtrip(when).tzinfo is timezone.utc


def test_naive_datetime_means_utc_and_microseconds_truncate() -> None:
    assert roundtrip(datetime(1969, 12, 31, 23, 59, 59, 999999)) == datetime(
        1969, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc
    )


def test_aware_datetime_converts_to_utc() -> None:
    when = datetime(2024, 1, 1, 9, tzinfo=timezone(timedelta(hours=9)))
    assert roundtrip(when) == datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_invalid_and_out_of_range_dates() -> None:
    assert roundtrip(INVALID_DATE) is INVALID_DATE
    assert decode('{"$":"date","v":8640000000000000}') == JSDate(8640000000000000)
    assert encode(JSDate(-8640000000000000)) == '{"$":"date","v":-8640000000000000}'
    with pytest.raises(ValueError, match="out of range"):
        encode(JSDate(8640000000000001))


def test_regexp_keeps_js_source_and_flags() -> None:
    value = roundtrip(JSRegExp("a+(?<x>b)", "gi"))
    assert value == JSRegExp("a+(?<x>b)", "gi")
    assert JSRegExp("a.b", "is").to_python().match("A\nB")


def test_python_pattern_encodes_as_regexp() -> None:
    assert roundtrip(re.compile("x+", re.I | re.M)) == JSRegExp("x+", "im")


def test_map_keeps_order_and_any_keys() -> None:
    key = ["list", "key"]
    value = roundtrip(JSMap([(2, "a"), (True, "b"), (JSBigInt(2), "c"), (key, "d"), (None, "e")]))
    assert list(value.keys())[:3] == [2, True, JSBigInt(2)]
    assert value[2] == "a" and value[True] == "b" and value[JSBigInt(2)] == "c"
    assert value[None] == "e" and len(value) == 5
    assert list(value.items())[3] == (["list", "key"], "d")


def test_map_primitive_keys_follow_same_value_zero() -> None:
    value = JSMap([(1, "int")])
    value[1.0] = "float"
    value[math.nan] = "nan"
    assert len(value) == 2 and value[1] == "float" and value[float("nan")] == "nan"


def test_map_negative_zero_key_becomes_zero() -> None:
    assert list(roundtrip(JSMap([(-0.0, "z")])).items()) == [(0, "z")]


def test_set_of_primitives_decodes_as_set() -> None:
    assert roundtrip({1, "a", None}) == {1, "a", None}
    assert roundtrip(frozenset({2})) == {2}


def test_set_that_python_would_merge_decodes_as_jsset() -> None:
    value = decode('{"$":"set","values":[1,true,{"$":"bigint","v":"1"},{}]}')
    assert isinstance(value, JSSet)
    assert list(value) == [1, True, JSBigInt(1), {}]


def test_array_with_holes_and_props() -> None:
    value = roundtrip([1, HOLE, 3])
    assert value == JSArray(length=3, items={0: 1, 2: 3})
    assert value[1] is HOLE and value.to_list() == [1, HOLE, 3]
    named = JSArray(length=2, items={0: "a", 1: "b"}, props={"x": 1})
    assert encode(named) == '{"$":"array","length":2,"items":["a","b"],"props":{"x":1}}'
    assert roundtrip(named) == named


def test_huge_sparse_array_stays_small() -> None:
    text = '{"$":"array","length":4294967295,"items":{"7":1}}'
    assert encode(decode(text)) == text


def test_object_keys_follow_js_order() -> None:
    assert encode({"b": 1, "10": 2, "2": 3, "01": 4}) == '{"2":3,"10":2,"b":1,"01":4}'


def test_dollar_key_is_escaped() -> None:
    value = {"$": "date", "v": 1}
    text = encode(value)
    assert text == '{"$":"object","props":{"$":"date","v":1}}'
    assert decode(text) == value


def test_bytes_round_trip_as_arraybuffer() -> None:
    assert encode(b"\x00\xff") == '{"$":"arraybuffer","base64":"AP8="}'
    assert roundtrip(bytearray(b"ab")) == b"ab"
    assert roundtrip(memoryview(b"cd")) == b"cd"


def test_typed_arrays_share_their_buffer() -> None:
    buffer = bytes(range(16))
    first = JSTypedArray("Uint16Array", buffer, 2, 3)
    second = JSTypedArray("DataView", buffer, 1, 4)
    back = roundtrip([first, second, buffer])
    assert back[0] == first and back[1] == second
    assert back[0].buffer is back[1].buffer is back[2]
    assert back[0].values() == [0x0302, 0x0504, 0x0706]


def test_typed_array_values() -> None:
    view = JSTypedArray.from_values("Float32Array", [1.5, -2.0])
    assert roundtrip(view).values() == [1.5, -2.0]
    assert JSTypedArray("BigInt64Array", bytes(16), 8).length == 1
    with pytest.raises(ValueError, match="multiple of 4"):
        JSTypedArray("Int32Array", bytes(8), 2, 1)


def test_error_round_trips_with_cause() -> None:
    error = JSError("TypeError", "bad", "at x", cause=JSError("Error", "inner"))
    assert roundtrip(error) == error
    assert roundtrip(JSError("Error")).cause is NO_CAUSE


def test_boxed_primitives() -> None:
    assert roundtrip(JSBoxed("s")) == JSBoxed("s")
    assert same(roundtrip(JSBoxed(-0.0)).value, -0.0)
    assert encode(JSBoxed(JSBigInt(3))) == '{"$":"boxed","v":{"$":"bigint","v":"3"}}'


def test_tuple_decodes_as_list() -> None:
    assert roundtrip((1, (2,))) == [1, [2]]


# ---------------------------------------------------------------------------- references


def test_shared_reference_decodes_to_one_object() -> None:
    shared = {"x": 1}
    text = encode([shared, shared])
    assert text == '[{"x":1},{"$":"ref","id":1}]'
    first, second = decode(text)
    assert first is second


def test_circular_references() -> None:
    node: dict[str, Any] = {"name": "a"}
    node["self"] = node
    items: list[Any] = [node]
    items.append(items)
    back = roundtrip(items)
    assert back[1] is back and back[0]["self"] is back[0]


def test_map_and_set_can_contain_themselves() -> None:
    text = '{"$":"set","values":[{"$":"ref","id":0},1]}'
    value = decode(text)
    assert isinstance(value, JSSet) and list(value)[0] is value
    assert encode(value) == text
    mapping = decode('{"$":"map","entries":[[{"$":"ref","id":0},{"$":"ref","id":0}]]}')
    key, item = next(iter(mapping.items()))
    assert key is mapping and item is mapping


def test_error_cause_can_be_the_error() -> None:
    error = decode('{"$":"error","name":"Error","message":"m","cause":{"$":"ref","id":0}}')
    assert error.cause is error


# ---------------------------------------------------------------------------- errors


def test_unsupported_value_names_its_type() -> None:
    with pytest.raises(TypeError, match="complex"):
        encode([1j])


def test_non_str_dict_key_suggests_jsmap() -> None:
    with pytest.raises(TypeError, match="JSMap"):
        encode({1: "a"})


def test_hole_outside_list_is_rejected() -> None:
    with pytest.raises(TypeError, match="HOLE"):
        encode({"a": HOLE})


def test_unknown_tag_and_version_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown tag"):
        decode('{"$":"nope"}')
    with pytest.raises(ValueError, match="version"):
        decode('{"$":"codec","v":2,"value":1}')
    assert decode('{"$":"codec","v":1,"value":{"$":"undefined"}}') is UNDEFINED


def test_bad_ref_is_rejected() -> None:
    with pytest.raises(ValueError, match="bad ref"):
        decode('[{"$":"ref","id":5}]')


# ---------------------------------------------------------------------------- helpers API


def test_bytes_helpers_and_size() -> None:
    assert encode_bytes({"a": "é"}) == '{"a":"é"}'.encode()
    assert decode_bytes(b'{"a":"\xc3\xa9"}') == {"a": "é"}
    assert encoded_size('"é"') == 4 and encoded_size("abc") == 3


# ---------------------------------------------------------------------------- properties


@settings(max_examples=300, deadline=None)
@given(values)
def test_python_round_trip_is_lossless(value: Any) -> None:
    text = encode(value)
    back = decode(text)
    assert same(back, value), (value, text, back)
    assert same(decode(encode(back)), value)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_text_is_the_shortest_round_trip(value: float) -> None:
    text = encode(value)
    if value == 0 and math.copysign(1, value) < 0:
        return
    assert float(text) == value
    assert "e" not in text or abs(value) >= 1e21 or abs(value) < 1e-6
