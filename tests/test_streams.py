"""Bodies that stream between Python and workers (issue 15 item 3)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from mfbook import LimitExceeded, Miniflare, WorkerError
from mfbook.streamed import StreamedResponse

STREAMS = """
let cancelled = null;
const encoder = new TextEncoder();
const objectId = (env) => env.FEED.idFromName("feed");

export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    if (path === "/cancelled") return new Response(String(cancelled));
    if (path === "/parts") {
      const { readable, writable } = new TransformStream();
      const writer = writable.getWriter();
      (async () => {
        for (let i = 0; i < 3; i++) {
          await scheduler.wait(5);
          await writer.write(encoder.encode(`part ${i};`));
        }
        await writer.close();
      })();
      return new Response(readable, { headers: { "content-type": "text/plain" } });
    }
    if (path === "/endless") {
      let i = 0;
      return new Response(new ReadableStream({
        async pull(controller) {
          await scheduler.wait(1);
          controller.enqueue(encoder.encode(`tick ${i++}\\n`));
        },
        cancel(reason) { cancelled = `cancelled after ${i}: ${reason}`; },
      }));
    }
    if (path === "/stalls") {
      return new Response(new ReadableStream({
        start(controller) {
          controller.enqueue(encoder.encode("first"));
          this.keepAlive = setInterval(() => {}, 20);
        },
        cancel() { cancelled = "stalled stream cancelled"; clearInterval(this.keepAlive); },
      }));
    }
    if (path === "/starves") {
      return new Response(new ReadableStream({ start(c) { c.enqueue(encoder.encode("only")); } }));
    }
    if (path === "/strings") {
      return new Response(new ReadableStream({ start(c) { c.enqueue("not bytes"); c.close(); } }));
    }
    if (path === "/piped") {
      const source = new ReadableStream({
        start(c) { ["a", "b", "c"].forEach((s) => c.enqueue(s)); c.close(); },
      });
      const { readable, writable } = new TransformStream({
        transform(chunk, controller) { controller.enqueue(chunk.toUpperCase()); },
      });
      source.pipeTo(writable);
      return new Response(readable.pipeThrough(new TextEncoderStream()));
    }
    if (path === "/object") return env.FEED.get(objectId(env)).fetch(request);
    if (path === "/object-text") {
      const response = await env.FEED.get(objectId(env)).fetch(request);
      return new Response(`read: ${await response.text()}`);
    }
    if (path === "/object-cancel") {
      const response = await env.FEED.get(objectId(env)).fetch("https://fake-host/endless");
      const reader = response.body.getReader();
      const { value } = await reader.read();
      await reader.cancel(new Error("worker had enough"));
      const state = await env.FEED.get(objectId(env)).fetch("https://fake-host/state");
      return new Response(`${new TextDecoder().decode(value)} | ${await state.text()}`);
    }
    if (path === "/upper") {
      return new Response(
        request.body
          .pipeThrough(new TextDecoderStream())
          .pipeThrough(new TransformStream({ transform(c, ctl) { ctl.enqueue(c.toUpperCase()); } }))
          .pipeThrough(new TextEncoderStream()),
      );
    }
    if (path === "/first-chunk") {
      const reader = request.body.getReader();
      const { value } = await reader.read();
      await reader.cancel("enough");
      return new Response(value);
    }
    if (path === "/text") return new Response(`${(await request.text()).length} chars`);
    return new Response("not found", { status: 404 });
  },
};

export class Feed {
  fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/state") return new Response(String(this.cancelled));
    if (path === "/endless") {
      let n = 0;
      return new Response(new ReadableStream({
        pull: (controller) => { controller.enqueue(encoder.encode(`n${n++}`)); },
        cancel: (reason) => { this.cancelled = `object stream cancelled: ${reason}`; },
      }));
    }
    let i = 0;
    return new Response(new ReadableStream({
      pull(controller) {
        if (i === 3) return controller.close();
        controller.enqueue(encoder.encode(`object ${i++};`));
      },
    }));
  }
}
"""


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def mf() -> Iterator[Miniflare]:
    with Miniflare(
        script=STREAMS, modules=True, durable_objects={"FEED": "Feed"}, console=None, wall_limit_ms=2_000
    ) as instance:
        yield instance


def test_a_streamed_response_yields_the_chunks_as_the_worker_writes_them(mf: Miniflare) -> None:
    response = mf.dispatch_fetch("http://localhost/parts", stream=True)
    assert isinstance(response, StreamedResponse)
    assert (response.status, response.headers["content-type"]) == (200, "text/plain")
    assert list(response) == [b"part 0;", b"part 1;", b"part 2;"]


def test_without_stream_the_same_response_is_read_whole(mf: Miniflare) -> None:
    response = mf.dispatch_fetch("http://localhost/parts")
    assert not isinstance(response, StreamedResponse)
    assert response.body == b"part 0;part 1;part 2;"


def test_body_and_text_of_a_streamed_response_read_the_rest(mf: Miniflare) -> None:
    response = mf.dispatch_fetch("http://localhost/parts", stream=True)
    assert next(response.iter_bytes()) == b"part 0;"
    assert response.text() == "part 1;part 2;"  # chunks already iterated are not kept
    assert response.stream.finished


def test_async_iteration_of_a_streamed_response(mf: Miniflare) -> None:
    async def read() -> list[bytes]:
        response = await mf.dispatch_fetch_async("http://localhost/parts", stream=True)
        return [chunk async for chunk in response]

    assert asyncio.run(read()) == [b"part 0;", b"part 1;", b"part 2;"]


def test_a_reader_that_stops_cancels_an_endless_stream_and_its_cancel_runs(mf: Miniflare) -> None:
    with mf.dispatch_fetch("http://localhost/endless", stream=True) as response:
        seen = []
        for chunk in response:
            seen.append(chunk)
            if len(seen) == 3:
                break
    assert seen == [b"tick 0\n", b"tick 1\n", b"tick 2\n"]
    assert mf.dispatch_fetch("http://localhost/cancelled").text().startswith("cancelled after ")
    assert (
        mf.dispatch_fetch("http://localhost/cancelled")
        .text()
        .endswith("Error: The reader cancelled the response body.")
    )


def test_an_async_reader_that_stops_cancels_the_stream_too(mf: Miniflare) -> None:
    async def read_two() -> None:
        async with await mf.dispatch_fetch_async("http://localhost/endless", stream=True) as response:  # type: ignore[union-attr]
            async for chunk in response:
                if chunk == b"tick 1\n":
                    break

    asyncio.run(read_two())
    assert mf.dispatch_fetch("http://localhost/cancelled").text().startswith("cancelled after ")


def test_a_stream_that_stops_producing_hits_the_wall_clock_limit_and_is_cancelled() -> None:
    with Miniflare(
        script=STREAMS, modules=True, durable_objects={"FEED": "Feed"}, console=None, wall_limit_ms=200
    ) as mf:
        response = mf.dispatch_fetch("http://localhost/stalls", stream=True)
        chunks = response.iter_bytes()
        assert next(chunks) == b"first"
        with pytest.raises(LimitExceeded, match="The response body stream stopped producing") as failure:
            next(chunks)
        assert "wall-clock time limit (200 ms)" in str(failure.value)
        assert mf.dispatch_fetch("http://localhost/cancelled").text() == "stalled stream cancelled"
        assert mf.dispatch_fetch("http://localhost/parts").text() == "part 0;part 1;part 2;"


def test_a_stream_nothing_can_feed_ends_with_the_never_generate_error(mf: Miniflare) -> None:
    response = mf.dispatch_fetch("http://localhost/starves", stream=True)
    chunks = response.iter_bytes()
    assert next(chunks) == b"only"
    with pytest.raises(WorkerError, match="The script will never generate a response."):
        next(chunks)
    assert mf.dispatch_fetch("http://localhost/parts").text() == "part 0;part 1;part 2;"


def test_a_handler_that_never_responds_ends_with_miniflares_error(mf: Miniflare) -> None:
    never = Miniflare(script="export default { fetch() { return new Promise(() => {}); } }", modules=True, console=None)
    try:
        response = never.dispatch_fetch("http://localhost/")
        assert response.status == 500
        assert response.text().startswith("Error: The script will never generate a response.")
    finally:
        never.dispose()


def test_a_stream_of_strings_is_refused_with_workerds_message(mf: Miniflare) -> None:
    response = mf.dispatch_fetch("http://localhost/strings", stream=True)
    with pytest.raises(WorkerError, match="This ReadableStream did not return bytes."):
        response.body  # noqa: B018


def test_pipe_to_and_pipe_through_stream_to_python(mf: Miniflare) -> None:
    assert b"".join(mf.dispatch_fetch("http://localhost/piped", stream=True)) == b"ABC"


def test_an_objects_streamed_response_passes_through_the_worker(mf: Miniflare) -> None:
    assert list(mf.dispatch_fetch("http://localhost/object", stream=True)) == [b"object 0;", b"object 1;", b"object 2;"]


def test_a_worker_reads_an_objects_streamed_body(mf: Miniflare) -> None:
    assert mf.dispatch_fetch("http://localhost/object-text").text() == "read: object 0;object 1;object 2;"


def test_a_worker_that_cancels_an_objects_stream_runs_the_objects_cancel(mf: Miniflare) -> None:
    assert mf.dispatch_fetch("http://localhost/object-cancel").text() == (
        "n0 | object stream cancelled: Error: worker had enough"
    )


def test_a_request_body_from_a_generator_streams_both_ways(mf: Miniflare) -> None:
    closed: list[bool] = []

    def endless_lines() -> Iterator[bytes]:
        i = 0
        try:
            while True:
                yield f"line {i}\n".encode()
                i += 1
        finally:
            closed.append(True)

    # An endless body cannot have been read whole: the worker answers while it flows.
    with mf.dispatch_fetch("http://localhost/upper", method="POST", body=endless_lines(), stream=True) as response:
        received = b""
        for chunk in response:
            received += chunk
            if received.count(b"\n") >= 3:
                break
    assert received.startswith(b"LINE 0\nLINE 1\nLINE 2\n")
    # A pull may still be running in the executor: the generator closes when it ends.
    assert eventually(lambda: closed == [True])


def test_a_finite_request_body_from_a_generator_comes_back_whole(mf: Miniflare) -> None:
    lines = (f"line {i}\n".encode() for i in range(4))
    response = mf.dispatch_fetch("http://localhost/upper", method="POST", body=lines, stream=True)
    assert response.body == b"LINE 0\nLINE 1\nLINE 2\nLINE 3\n"


def test_a_request_body_from_an_async_generator(mf: Miniflare) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            await asyncio.sleep(0.001)
            yield b"abc" * (i + 1)

    async def send() -> str:
        response = await mf.dispatch_fetch_async("http://localhost/text", method="POST", body=chunks())
        return response.text()

    assert asyncio.run(send()) == "18 chars"


def test_a_worker_that_cancels_the_request_body_closes_the_generator(mf: Miniflare) -> None:
    closed: list[bool] = []

    def endless() -> Iterator[bytes]:
        try:
            while True:
                yield b"data"
        finally:
            closed.append(True)

    assert mf.dispatch_fetch("http://localhost/first-chunk", method="POST", body=endless()).body == b"data"
    assert closed == [True]


def test_a_request_body_chunk_that_is_not_bytes_fails_the_read(mf: Miniflare) -> None:
    response = mf.dispatch_fetch("http://localhost/text", method="POST", body=iter([b"ok", 42]))  # type: ignore[list-item]
    assert response.status == 500
    assert "request body chunks must be bytes, got int" in response.text()


def test_a_get_with_an_iterable_body_is_refused() -> None:
    with Miniflare(script="export default { fetch: () => new Response('x') }", modules=True, console=None) as mf:
        with pytest.raises(TypeError, match="Request with a GET or HEAD method cannot have a body."):
            mf.dispatch_fetch("http://localhost/", body=iter([b"x"]))
