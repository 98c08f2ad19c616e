"""The synchronous JS → Python entry: one string each way, nothing raises through QuickJS."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mfbook import Miniflare
from mfbook.bridge.host_entry import HostEntry
from mfbook.errors import WorkerError


def _entry(**handlers: Any) -> tuple[HostEntry, list[str]]:
    interrupts: list[str] = []
    return HostEntry(dict(handlers), on_interrupt=lambda: interrupts.append("tripped")), interrupts


def test_a_result_comes_back_as_ascii_json() -> None:
    entry, _ = _entry(echo=lambda payload: payload)
    answer = entry(json.dumps(["echo", {"text": "a\u0000b\ud800c é"}]))
    assert answer.isascii()
    assert json.loads(answer) == [1, {"text": "a\u0000b\ud800c é"}]


def test_a_raising_handler_becomes_an_error_envelope_and_the_next_call_works() -> None:
    def fail(_payload: Any) -> None:
        raise WorkerError("TypeError", "bad thing")

    entry, _ = _entry(fail=fail, ok=lambda payload: 1)
    assert json.loads(entry('["fail", null]')) == [0, {"name": "TypeError", "message": "bad thing", "stack": ""}]
    assert json.loads(entry('["ok", null]')) == [1, 1]


def test_unknown_operations_malformed_text_and_unencodable_results_are_errors_not_crashes() -> None:
    entry, _ = _entry(weird=lambda payload: object())
    assert json.loads(entry('["nope", 1]'))[1]["message"] == "Unknown synchronous host operation 'nope'"
    assert json.loads(entry("not json"))[0] == 0
    assert json.loads(entry('["weird", 1]'))[0] == 0


def test_ctrl_c_inside_a_handler_trips_the_isolate_instead_of_escaping() -> None:
    def interrupted(_payload: Any) -> None:
        raise KeyboardInterrupt

    entry, interrupts = _entry(slow=interrupted)
    assert json.loads(entry('["slow", null]'))[0] == 0
    assert interrupts == ["tripped"]


DIGEST = """
export default {
  async fetch(request) {
    const text = await request.text();
    const bytes = new Uint8Array([...text].map((c) => c.charCodeAt(0) & 0xff));
    const turns = [];
    const pending = crypto.subtle.digest("SHA-256", bytes).then(() => turns.push("digest"));
    await null; await null; await null;
    turns.push("next");
    await pending;
    const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    return Response.json({ turns, hash: [...hash].map((b) => b.toString(16).padStart(2, "0")).join("") });
  },
};
"""


def test_js_reaches_the_host_synchronously_with_nul_and_lone_surrogates_intact() -> None:
    import hashlib

    payload = "a\u0000b\ud800c"
    with Miniflare(script=DIGEST, modules=True, console=None) as mf:
        result = mf.dispatch_fetch("http://localhost/", method="POST", body=payload.encode("utf-8", "surrogatepass"))
        data = result.json()
    # Settled in the same delivery: its reactions run within a few jobs, not after the queue drains.
    assert data["turns"] == ["digest", "next"]
    text = payload.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    expected = hashlib.sha256(bytes(ord(c) & 0xFF for c in text)).hexdigest()
    assert data["hash"] == expected


@pytest.mark.parametrize("mode", ["time-limit"])
def test_without_the_hook_the_same_api_works_through_the_outbox(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MFBOOK_INTERRUPT", mode)
    with Miniflare(script=DIGEST, modules=True, console=None) as mf:
        data = mf.dispatch_fetch("http://localhost/", method="POST", body=b"abc").json()
    assert data["turns"] == ["next", "digest"]  # a second delivery settles it
    assert len(data["hash"]) == 64
