// Bodies that stream to the host: a response's ReadableStream handed to Python chunk by chunk.
//
// When Python asks for a streamed response (`dispatch_fetch(..., stream=True)`, `mfbook serve`),
// the kernel does not read a stream body to its end: it registers the stream here and sends
// its id on the wire (`{..., body: null, stream: id}`). Python then reads it with `pullBody`
// events — one chunk each, delivered like any event, so the wall-clock limit covers a stream
// that stops producing and the hang check ends one that never can — and cancels it with
// `cancelBody` when its reader stops early: the stream's `cancel()` runs with the reason.
//
// Internal API (`host.bodyStreams`):
//   register(stream) -> id        locks the stream (a reader is taken at once)
//   pull(id)         -> Promise<{done: true} | {done: false, chunk: binary string}>
//   cancel(id, why)  -> Promise<null>
//   size()           -> number of registered streams
//   fromHost(id)     -> ReadableStream of a request body that Python feeds chunk by chunk
//                       (`body_pull` host operations; cancelling it sends `body_cancel`)
(function (host) {
  'use strict';
  const { SafeMap } = globalThis.__mfIntrinsics;
  const bin = host.binary;

  const GONE = 'This response body stream is no longer available (it was read to its end, ' +
    'cancelled, or the worker was reloaded).';
  const NOT_BYTES = 'This ReadableStream did not return bytes.';

  const open = new SafeMap();  // id -> reader
  let nextId = 1;

  function register(stream) {
    const id = nextId++;
    open.set(id, stream.getReader());
    return id;
  }

  function bytesOf(chunk) {
    if (chunk instanceof Uint8Array) return chunk;
    if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
    return null;
  }

  function pull(id) {
    const reader = open.get(id);
    if (reader === undefined) return Promise.reject(new TypeError(GONE));
    return reader.read().then(
      (result) => {
        if (result.done) {
          open.delete(id);
          return { done: true };
        }
        const bytes = bytesOf(result.value);
        if (bytes === null) {
          const error = new TypeError(NOT_BYTES);
          open.delete(id);
          reader.cancel(error);
          throw error;
        }
        return { done: false, chunk: bin.toBinaryString(bytes) };
      },
      (error) => {
        open.delete(id);
        throw error;
      },
    );
  }

  function cancel(id, reason) {
    const reader = open.get(id);
    if (reader === undefined) return Promise.resolve(null);
    open.delete(id);
    const why = reason === undefined || reason === null ? undefined : new Error(String(reason));
    return reader.cancel(why).then(() => null, () => null);
  }

  // A request body from a Python iterable: each pull asks the host for the next chunk
  // (a binary string, or null at the end).
  function fromHost(id) {
    const ns = host.streams.load();
    return new ns.ReadableStream({
      type: 'bytes',
      pull(controller) {
        return host.op('body_pull', { s: id }).then((chunk) => {
          if (chunk === null) controller.close();
          else if (chunk.length > 0) controller.enqueue(bin.fromBinaryString(chunk));
        });
      },
      cancel() {
        host.op('body_cancel', { s: id });
      },
    });
  }

  host.bodyStreams = {
    register,
    fromHost,
    pull,
    cancel,
    size() { return open.size; },
  };
})(globalThis.__mfHost);
