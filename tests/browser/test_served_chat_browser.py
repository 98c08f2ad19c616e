"""Headless Chromium: two pages exchange messages in a chat room served by ``mf.serve()``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mfbook import Miniflare
from mfbook.serving import ServeHandle

CHAT = Path(__file__).resolve().parents[1] / "fixtures" / "chat" / "chat.mjs"


@pytest.fixture
def served() -> Iterator[ServeHandle]:
    with Miniflare(script_path=str(CHAT), modules=True, durable_objects={"ROOMS": "ChatRoom"}, console=None) as mf:
        yield mf.serve(port=0)


def open_chat(browser: Any, served: ServeHandle, name: str) -> Any:
    page = browser.new_page()
    page.goto(f"{served.url}/?room=browsers&name={name}")
    page.wait_for_function("() => window.chatState === 'open'", timeout=15_000)
    return page


def say(page: Any, text: str) -> None:
    page.fill("#text", text)
    page.click("button")


def test_two_browser_pages_chat_through_the_served_room(browser: Any, served: ServeHandle, artifacts_dir: Path) -> None:
    alice = open_chat(browser, served, "alice")
    bob = open_chat(browser, served, "bob")
    try:
        alice.locator("li.joined", has_text="bob joined").wait_for(timeout=15_000)
        say(alice, "hello from alice")
        bob.locator("li.message", has_text="alice: hello from alice").wait_for(timeout=15_000)
        say(bob, "hi alice, bob here")
        alice.locator("li.message", has_text="bob: hi alice, bob here").wait_for(timeout=15_000)
        assert alice.locator("li.message").all_inner_texts() == [
            "alice: hello from alice",
            "bob: hi alice, bob here",
        ]
        alice.screenshot(path=str(artifacts_dir / "served-chat-alice.png"))
        bob.close()
        alice.locator("li.quit", has_text="bob left").wait_for(timeout=15_000)
    finally:
        alice.close()
        if not bob.is_closed():
            bob.close()
