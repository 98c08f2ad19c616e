"""Value display for the storage browser: JS-like text, type labels, edit round trip."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mfbook import codec
from mfbook.widgets.values import describe, editable_text, parse_edit, preview, tree, type_label


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
    assert editable_text(b"ab") == "b'ab'"
    assert editable_text(codec.JSMap([(1, {2, 3})])) is None  # a Set inside: not JSON
    assert editable_text(codec.JSRegExp("a+", "g")) is None


def test_dates_maps_and_sets_edit_as_their_type_and_round_trip() -> None:
    joined = datetime(2023, 5, 17, 9, 30, tzinfo=timezone.utc)
    visits = codec.JSMap([("2024-01-01", 3), ("2024-01-02", 5)])
    tags = {"web", "api"}
    assert editable_text(joined) == "2023-05-17T09:30:00.000Z"
    assert editable_text(visits) == '[["2024-01-01", 3], ["2024-01-02", 5]]'
    assert editable_text(tags) == '["api", "web"]'
    for value, kind in ((joined, "Date"), (visits, "Map"), (tags, "Set")):
        text = editable_text(value)
        assert text is not None
        assert parse_edit(text, kind=kind) == value
        assert type_label(parse_edit(text, kind=kind)) == kind
    assert parse_edit('{"a": 1}', kind="Map") == codec.JSMap([("a", 1)])
    assert isinstance(parse_edit('[{"a": 1}]', kind="Set"), codec.JSSet)


def test_type_aware_edits_reject_text_of_another_shape() -> None:
    with pytest.raises(ValueError, match="not an ISO date"):
        parse_edit("yesterday", kind="Date")
    with pytest.raises(ValueError, match="a Map is a JSON object or a list of"):
        parse_edit("[1, 2]", kind="Map")
    with pytest.raises(ValueError, match="a Set is a JSON list"):
        parse_edit('{"a": 1}', kind="Set")
    with pytest.raises(ValueError, match="a Set is edited as JSON"):
        parse_edit("{1, 2", kind="Set")


def test_containers_become_trees_capped_per_node() -> None:
    assert tree(5) is None
    node = tree({"profile": {"roles": ["admin"]}, "n": 1})
    assert node == {
        "label": "Object(2)",
        "children": [
            {
                "key": "profile",
                "label": "Object(1)",
                "children": [{"key": "roles", "label": "Array(1)", "children": [{"key": "0", "label": '"admin"'}]}],
            },
            {"key": "n", "label": "1"},
        ],
    }
    big = tree(list(range(250)))
    assert big is not None and (len(big["children"]), big["more"]) == (100, 150)


def test_parse_edit_reads_json_and_python_literals() -> None:
    assert parse_edit(' {"a": [1, true, null]} ') == {"a": [1, True, None]}
    assert parse_edit("{'x', 'y'}") == {"x", "y"}
    assert parse_edit("(1, 2)") == (1, 2)
    with pytest.raises(ValueError, match="not JSON or a Python literal"):
        parse_edit("open('x')")
