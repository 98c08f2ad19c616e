# ruff: noqa: E501 - long lines are JavaScript source inside strings
"""``onNextSessionRestoreBookmark``: the restore happens when the object's next session starts.

The runtime's contract (Cloudflare's storage API docs): the call "configures a Durable Object
so that the next time it restarts, it should restore its storage" to the bookmark; the
application typically calls ``ctx.abort()`` next. Until the restart the object goes on with
its data, and the returned bookmark names the state "immediately before the recovery takes
place", so the recovery can be undone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mfbook import Miniflare
from tests.do_support import call, object_worker

ROUTES = {
    "set": "storage.sql.exec('CREATE TABLE IF NOT EXISTS v (x)'); storage.sql.exec('DELETE FROM v'); storage.sql.exec('INSERT INTO v VALUES (?)', new URL(request.url).searchParams.get('x')); return 'ok';",
    "get": "return storage.sql.exec('SELECT x FROM v').one().x;",
    "bookmark": "return await storage.getCurrentBookmark();",
    "ask": "return await storage.onNextSessionRestoreBookmark(new URL(request.url).searchParams.get('b'));",
    "askThenWrite": """
        const undo = await storage.onNextSessionRestoreBookmark(new URL(request.url).searchParams.get('b'));
        storage.sql.exec("UPDATE v SET x = 'written after asking'");
        return [undo, storage.sql.exec('SELECT x FROM v').one().x];
    """,
    "abort": "state.abort();",
}


@pytest.fixture
def mf() -> Iterator[Miniflare]:
    with Miniflare(
        script=object_worker(ROUTES), modules=True, durable_objects={"TEST": {"class_name": "Test", "sqlite": True}}
    ) as instance:
        yield instance


def test_the_current_session_keeps_its_data_until_the_object_restarts(mf: Miniflare) -> None:
    call(mf, "set?x=old")
    old = call(mf, "bookmark")
    call(mf, "set?x=new")
    undo, seen = call(mf, f"askThenWrite?b={old}")
    assert seen == "written after asking"
    assert call(mf, "get") == "written after asking"  # committed, and the next event still sees it
    call(mf, "abort")
    assert call(mf, "get") == "old"  # the new session starts from the bookmark
    call(mf, f"ask?b={undo}")  # the undo bookmark: the state just before the restore
    call(mf, "abort")
    assert call(mf, "get") == "written after asking"


def test_a_reload_starts_a_new_session_too(mf: Miniflare) -> None:
    call(mf, "set?x=old")
    old = call(mf, "bookmark")
    call(mf, "set?x=new")
    call(mf, f"ask?b={old}")
    assert call(mf, "get") == "new"
    mf.set_options(script=object_worker(ROUTES), modules=True, durable_objects={"TEST": {"class_name": "Test", "sqlite": True}})
    assert call(mf, "get") == "old"


def test_an_unknown_bookmark_fails_at_once(mf: Miniflare) -> None:
    call(mf, "set?x=one")
    result = call(mf, "ask?b=0000000000000001-00000001")
    assert "point-in-time recovery window" in result["error"]["message"]
    call(mf, "abort")
    assert call(mf, "get") == "one"
