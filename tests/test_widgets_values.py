"""Value display for the storage browser: JS-like text, type labels, edit round trip."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mfbook import codec
from mfbook.widgets.values import describe, editable_text, parse_edit, preview, type_label


@pytest.mark.parametrize(
    ("value", "label", "text"),
    [
        ("hi", "string", '"hi"'),
        (3, "number", "3"),
        (2.5, "number", "2.5"),
        (float("nan"), "number", "NaN"),
        (-0.0, "number", "-0"),
        (True, "boolean", "true"),
        (None, "null", "null"),
        (codec.UNDEFINED, "undefined", "undefined"),
        (codec.JSBigInt(12), "bigint", "12n"),
        (datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=timezone.utc), "Date", "Date 2024-01-02T03:04:05.006Z"),
        (codec.INVALID_DATE, "Date", "Invalid Date"),
        (codec.JSRegExp("a+", "gi"), "RegExp", "/a+/gi"),
        (codec.JSMap([("a", 1), (2, [True])]), "Map", 'Map(2) {"a" => 1, 2 => [true]}'),
        ({3, 1, 2}, "Set", "Set(3) {1, 2, 3}"),
        ([1, "x", None], "Array", '[1, "x", null]'),
        (codec.JSArray(length=3, items={0: 1, 2: 3}), "Array", "[1, <empty>, 3]"),
        ({"a": 1, "b c": {"d": []}}, "Object", '{a: 1, "b c": {d: []}}'),
        (b"\x00\xff", "ArrayBuffer", "ArrayBuffer(2) <00 ff>"),
        (codec.JSTypedArray.from_values("Int16Array", [1, -2]), "Int16Array", "Int16Array(2) [1, -2]"),
        (codec.JSError("TypeError", "bad"), "TypeError", "TypeError: bad"),
        (codec.JSBoxed(1), "Number", "[Number: 1]"),
    ],
)
def test_values_show_as_a_js_console_would(value: object, label: str, text: str) -> None:
    assert type_label(value) == label
    assert describe(value) == (text, False)


def test_long_values_are_cut_to_the_limit() -> None:
    assert describe("x" * 50, limit=10) == ('"xxxxxxxxx…', True)


def test_preview_is_short_and_full_text_is_kept_when_cut() -> None:
    assert preview("abc") == ('"abc"', None)
    short, full = preview(list(range(100)), chars=10)
    assert short == "[0, 1, 2, …"
    assert full is not None and full.startswith("[0, 1, 2, 3") and full.endswith("99]")


def test_editable_text_is_json_then_python_literal_else_none() -> None:
    assert editable_text({"a": [1, None]}) == '{"a": [1, null]}'
    assert editable_text({1, 2}) == "{1, 2}"
    assert editable_text(b"ab") == "b'ab'"
    assert editable_text(codec.JSMap([("a", 1)])) is None
    assert editable_text(datetime(2024, 1, 1, tzinfo=timezone.utc)) is None


def test_parse_edit_reads_json_and_python_literals() -> None:
    assert parse_edit(' {"a": [1, true, null]} ') == {"a": [1, True, None]}
    assert parse_edit("{'x', 'y'}") == {"x", "y"}
    assert parse_edit("(1, 2)") == (1, 2)
    with pytest.raises(ValueError, match="not JSON or a Python literal"):
        parse_edit("open('x')")
