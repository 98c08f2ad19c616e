"""Static renderings of the storage browser (HTML for nbconvert/GitHub, rich for terminals)."""

from __future__ import annotations

from mfbook.widgets.static import plain_text, storage_html, storage_rich, with_fallback

SNAPSHOT = {
    "binding": "COUNTER",
    "object_id": "ab" * 32,
    "object_label": "alice · 2 keys · 20 B",
    "prefix": "",
    "page": {
        "index": 0,
        "has_next": True,
        "rows": [
            {"key": "count", "type": "number", "preview": "3", "full": None, "size": 1, "edit": "3"},
            {"key": "<b>", "type": "string", "preview": '"x…', "full": '"xxxx"', "size": 6, "edit": '"xxxx"'},
        ],
    },
}


def test_storage_html_is_an_escaped_table_with_full_values() -> None:
    html = storage_html(SNAPSHOT)
    assert "<table class='mf-storage'" in html
    assert "<tr data-key='count'>" in html
    assert "<tr data-key='&lt;b&gt;'>" in html
    assert "break-all'>&quot;xxxx&quot;</code>" in html
    assert "page 1 (more follow)" in html


def test_storage_rich_is_a_fixed_width_table() -> None:
    assert plain_text(storage_rich(SNAPSHOT), width=60).splitlines() == [
        "COUNTER · alice · 2 keys · 20 B · page 1 (more follow)",
        "┏━━━━━━━┳━━━━━━━━┳━━━━━━━┳━━━━━━━┓",
        "┃ key   ┃ type   ┃ value ┃ bytes ┃",
        "┡━━━━━━━╇━━━━━━━━╇━━━━━━━╇━━━━━━━┩",
        "│ count │ number │ 3     │     1 │",
        '│ <b>   │ string │ "x…   │     6 │',
        "└───────┴────────┴───────┴───────┘",
    ]


def test_fallback_keeps_the_widget_view_and_metadata() -> None:
    view = {"application/vnd.jupyter.widget-view+json": {"model_id": "m"}, "text/plain": "repr"}
    data, metadata = with_fallback((view, {"m": 1}), "<p>x</p>", "text")
    assert data == {**view, "text/html": "<p>x</p>", "text/plain": "text"}
    assert metadata == {"m": 1}
    assert with_fallback(view, "<p>x</p>", "text")["text/html"] == "<p>x</p>"
