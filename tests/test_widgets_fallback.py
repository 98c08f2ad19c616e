"""The static fallback beside a widget: refreshed after a cell only when its data moved."""

from __future__ import annotations

from typing import Any

from mfbook.widgets.fallback import StaticFallback


class FakeEvents:
    def __init__(self) -> None:
        self.hooks: dict[str, list[Any]] = {}

    def register(self, name: str, hook: Any) -> None:
        self.hooks.setdefault(name, []).append(hook)

    def unregister(self, name: str, hook: Any) -> None:
        self.hooks[name].remove(hook)


class FakeShell:
    def __init__(self) -> None:
        self.events = FakeEvents()


def test_after_a_cell_the_fallback_renders_only_when_its_version_moved() -> None:
    version = [1]
    rows = ["a"]
    renders: list[int] = []
    updates: list[tuple[dict[str, str], str]] = []

    def render() -> tuple[str, str]:
        renders.append(1)
        return f"<table>{''.join(rows)}</table>", " ".join(rows)

    fallback = StaticFallback(render, version=lambda: version[0], update=lambda b, i: updates.append((b, i)))
    assert fallback.bundle() == {
        "text/html": "<div class='mf-static-fallback'><table>a</table></div>",
        "text/plain": "a",
    }
    fallback.after_cell()
    assert (len(renders), updates) == (1, [])  # same version: not even rendered
    version[0] = 2
    fallback.after_cell()
    assert (len(renders), updates) == (2, [])  # rendered, but the output is the same: not sent
    rows.append("b")
    version[0] = 3
    fallback.after_cell()
    assert len(renders) == 3
    assert updates == [
        (
            {"text/html": "<div class='mf-static-fallback'><table>ab</table></div>", "text/plain": "a b"},
            fallback.display_id,
        )
    ]


def test_a_failing_render_keeps_the_last_output() -> None:
    version = [1]

    def render() -> tuple[str, str]:
        if version[0] > 1:
            raise RuntimeError("disposed")
        return "<p>x</p>", "x"

    updates: list[Any] = []
    fallback = StaticFallback(render, version=lambda: version[0], update=lambda b, i: updates.append(b))
    fallback.bundle()
    version[0] = 2
    fallback.after_cell()
    assert updates == []


def test_show_hooks_post_run_cell_and_close_unhooks(capsys: Any) -> None:
    shell = FakeShell()
    fallback = StaticFallback(lambda: ("<p>x</p>", "x"), version=lambda: 1, shell=shell)
    fallback.show()
    fallback.show()
    assert shell.events.hooks["post_run_cell"] == [fallback.after_cell]
    fallback.close()
    assert shell.events.hooks["post_run_cell"] == []
