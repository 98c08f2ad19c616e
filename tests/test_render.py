"""Rendering of tables, stored values and responses (exact text through a fixed-width rich Console)."""

from __future__ import annotations

from datetime import datetime, timezone
from io import StringIO

import pytest
from rich.console import Console

from mfbook import Response, codec
from mfbook.render import FetchResponse, IdList, RecordList, StorageDict, Table, format_value


def rich_text(renderable: object) -> str:
    console = Console(file=StringIO(), width=100, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined, no-any-return]


def test_storage_dict_renders_as_a_key_value_table() -> None:
    table = StorageDict({"count": 3, "tags": {"a"}}, title="COUNTER alice")
    assert rich_text(table) == (
        "COUNTER alice\n"
        "┏━━━━━━━┳━━━━━━━━━━━━━━┓\n"
        "┃ key   ┃ value        ┃\n"
        "┡━━━━━━━╇━━━━━━━━━━━━━━┩\n"
        "│ count │ 3            │\n"
        '│ tags  │ Set(1) {"a"} │\n'
        "└───────┴──────────────┘\n"
        "2 keys\n"
    )


def test_plain_style_is_ascii_without_html() -> None:
    table = Table(["id", "name"], [("ab12", "alice")], style="plain")
    assert (
        rich_text(table) == "+--------------+\n| id   | name  |\n|------+-------|\n| ab12 | alice |\n+--------------+\n"
    )
    assert table._repr_html_() is None
    assert set(table._repr_mimebundle_()) == {"text/plain"}


def test_html_style_escapes_cells() -> None:
    markup = Table(["k"], [("<b>&</b>",)], title="T<")._repr_html_()
    assert markup is not None
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in markup and "T&lt;" in markup and "<b>&" not in markup


def test_rich_style_html_is_richs_export() -> None:
    markup = Table(["k"], [("v",)], style="rich")._repr_html_()
    assert markup is not None and markup.startswith("<pre") and "<table" not in markup


def test_unknown_style_is_rejected() -> None:
    with pytest.raises(ValueError, match="style must be one of html, rich, plain"):
        Table(["a"], [], style="fancy")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (codec.UNDEFINED, "undefined"),
        (True, "true"),
        (1.5, "1.5"),
        (float("nan"), "NaN"),
        (-0.0, "-0"),
        ("hi", '"hi"'),
        (codec.JSBigInt(2**70), f"{2**70}n"),
        (codec.JSMap([("a", 1), (2, [True])]), 'Map(2) {"a" => 1, 2 => [true]}'),
        ({1, 2}, "Set(2) {1, 2}"),
        (datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc), "Date 2024-01-02T03:04:05.678Z"),
        (b"\x00\xff", "ArrayBuffer(2) <00 ff>"),
        (codec.JSTypedArray.from_values("Uint8Array", [1, 2]), "Uint8Array(2) [1, 2]"),
        ({"a b": 1, "c": {"d": None}}, '{"a b": 1, c: {d: null}}'),
        (codec.JSRegExp("a+", "gi"), "/a+/gi"),
        (codec.JSError("TypeError", "bad"), "TypeError: bad"),
    ],
)
def test_format_value_shows_js_values_readably(value: object, text: str) -> None:
    assert format_value(value) == text


def test_format_value_truncates() -> None:
    assert format_value("x" * 500, limit=10) == '"xxxxxxxx…'


def test_record_list_and_id_list_stay_python_lists() -> None:
    records = RecordList([{"binding": "B", "when": datetime(2024, 1, 1, tzinfo=timezone.utc)}], title="Alarms")
    assert records == [{"binding": "B", "when": datetime(2024, 1, 1, tzinfo=timezone.utc)}]
    assert "2024-01-01T00:00:00.000Z" in records.to_text()
    ids = IdList(["ab"], names={"ab": "alice"})
    assert ids == ["ab"] and "alice" in ids.to_text()
    assert "(none)" in RecordList([]).to_text()


def test_fetch_response_renders_like_curl() -> None:
    response = FetchResponse(Response(201, body=b'{"a":[1]}', headers={"content-type": "application/json"}))
    assert rich_text(response) == 'HTTP 201 Created\ncontent-type: application/json\n\n{\n  "a": [\n    1\n  ]\n}\n'
    assert response.json() == {"a": [1]}
    html = response._repr_html_()
    assert html is not None and "HTTP 201 Created" in html and "&quot;a&quot;" in html


def test_fetch_response_shows_the_error_block_and_binary_bodies() -> None:
    failed = FetchResponse(Response(500, body=b"raw", status_text="Internal Server Error"), error="TypeError: x")
    assert failed.to_text() == "HTTP 500 Internal Server Error\n\nTypeError: x"
    binary = FetchResponse(Response(200, body=b"\xff\xfe", headers={"content-type": "image/png"}), style="plain")
    assert binary.to_text() == "HTTP 200 OK\ncontent-type: image/png\n\n<2 bytes of image/png>"
    assert binary._repr_html_() is None
