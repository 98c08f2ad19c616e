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
//   reopen(id)       -> ReadableStream reading a registered stream (direct calls of objects)
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

  // The next chunk as bytes: {done: true} | {done: false, bytes: Uint8Array}.
  function pullBytes(id) {
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
        return { done: false, bytes };
      },
      (error) => {
        open.delete(id);
        throw error;
      },
    );
  }

  function pull(id) {
    return pullBytes(id).then((result) =>
      result.done ? result : { done: false, chunk: bin.toBinaryString(result.bytes) });
  }

  // A registered stream read again inside this isolate: an object's streamed response
  // handed to its caller by a direct call (the id crosses where the stream cannot).
  function reopen(id) {
    const ns = host.streams.load();
    return new ns.ReadableStream({
      type: 'bytes',
      pull(controller) {
        return pullBytes(id).then((result) => {
          if (result.done) controller.close();
          else if (result.bytes.byteLength > 0) controller.enqueue(result.bytes.slice());
        });
      },
      cancel(reason) {
        return cancel(id, reason);
      },
    });
  }

  function cancel(id, reason) {
    const reader = open.get(id);
    if (reader === undefined) return Promise.resolve(null);
    open.delete(id);
    const why = reason === undefined || reason === null || reason instanceof Error ? reason : new Error(String(reason));
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
    reopen,
    fromHost,
    pull,
    cancel,
    size() { return open.size; },
  };
})(globalThis.__mfHost);
