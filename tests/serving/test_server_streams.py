"""Streams both ways through ``mf.serve()``: real clients and an endless stream they cancel."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from mfbook import Miniflare
from mfbook.serving import ServeHandle

STREAMING = """
let cancelled = "not cancelled";
const encoder = new TextEncoder();
export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/cancelled") return new Response(cancelled);
    if (path === "/never") return new Promise(() => {});
    if (path === "/endless") {
      let i = 0;
      return new Response(new ReadableStream({
        async pull(controller) {
          await scheduler.wait(2);
          controller.enqueue(encoder.encode(`event ${i++}\\n`));
        },
        cancel() { cancelled = `cancelled after ${i} chunks`; },
      }), { headers: { "content-type": "text/event-stream" } });
    }
    if (path === "/upper") {
      return new Response(request.body
        .pipeThrough(new TextDecoderStream())
        .pipeThrough(new TransformStream({ transform(c, ctl) { ctl.enqueue(c.toUpperCase()); } }))
        .pipeThrough(new TextEncoderStream()));
    }
    return new Response("?", { status: 404 });
  },
};
"""


@pytest.fixture
def served() -> Iterator[ServeHandle]:
    with Miniflare(script=STREAMING, modules=True, console=None) as mf:
        yield mf.serve(port=0)


def wait_for_text(url: str, unwanted: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = httpx.get(url).text
        if text != unwanted or time.monotonic() > deadline:
            return text
        time.sleep(0.02)


def test_an_endless_stream_reaches_the_client_and_its_disconnect_cancels_it(served: ServeHandle) -> None:
    with httpx.stream("GET", f"{served.url}/endless") as response:
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["transfer-encoding"] == "chunked"
        lines = []
        for line in response.iter_lines():
            lines.append(line)
            if len(lines) == 5:
                break
    assert lines == [f"event {i}" for i in range(5)]
    assert wait_for_text(f"{served.url}/cancelled", "not cancelled").startswith("cancelled after ")


def test_a_chunked_request_body_streams_in_and_the_answer_streams_out(served: ServeHandle) -> None:
    def body() -> Iterator[bytes]:
        for i in range(50):
            yield f"line {i}\n".encode()

    response = httpx.post(f"{served.url}/upper", content=body())
    assert response.text == "".join(f"LINE {i}\n" for i in range(50))


def test_a_request_that_never_gets_a_response_is_a_500_with_miniflares_error(served: ServeHandle) -> None:
    response = httpx.get(f"{served.url}/never", timeout=30)
    assert response.status_code == 500
    assert response.text.startswith("Error: The script will never generate a response.")
