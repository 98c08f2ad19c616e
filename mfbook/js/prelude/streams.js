// WHATWG Streams for the mfbook prelude: ReadableStream, WritableStream, TransformStream,
// the queuing strategies, TextEncoderStream/TextDecoderStream and workerd's
// IdentityTransformStream/FixedLengthStream.
//
// The implementation is the vendored web-streams-polyfill (mfbook/js/vendor/). Compiling it costs
// ~3.5 ms, too much for every isolate, so the globals are accessor properties that evaluate the
// vendored source (handed over by the loader as `host.vendor["web-streams-polyfill"]`) on first use
// and then replace themselves with plain data properties.
//
// Internal API (`host.streams`): load() -> namespace of the classes, loaded() -> boolean,
// isReadableStream(x), isDisturbed(stream), fromBytes(u8) -> ReadableStream of one chunk,
// readAll(stream) -> Promise<Uint8Array>.
(function (host) {
  'use strict';

  const VENDOR_NAME = 'web-streams-polyfill';
  const POLYFILL_NAMES = [
    'ReadableStream', 'ReadableStreamDefaultReader', 'ReadableStreamBYOBReader',
    'ReadableStreamDefaultController', 'ReadableByteStreamController',
    'ReadableStreamBYOBRequest', 'WritableStream', 'WritableStreamDefaultWriter',
    'WritableStreamDefaultController', 'TransformStream', 'TransformStreamDefaultController',
    'ByteLengthQueuingStrategy', 'CountQueuingStrategy',
  ];
  const EXTRA_NAMES = [
    'TextEncoderStream', 'TextDecoderStream', 'IdentityTransformStream', 'FixedLengthStream',
  ];

  let impl = null;

  function defineGlobal(name, value) {
    Object.defineProperty(globalThis, name, {
      value, writable: true, configurable: true, enumerable: false,
    });
  }

  function evaluatePolyfill() {
    const source = host.vendor && host.vendor[VENDOR_NAME];
    if (typeof source !== 'string') {
      throw new Error('mfbook: the ' + VENDOR_NAME + ' source was not provided to the isolate');
    }
    // Indirect eval: global scope, no access to this closure. The UMD wrapper of the polyfill
    // sees the local `exports`/`module` and fills `exports` instead of touching globalThis.
    const factory = (0, eval)(
      '(function () { var exports = {}, module = { exports: exports }, define;\n' +
      source + '\nreturn exports; })');
    return factory();
  }

  function makeExtras(ns) {
    const TransformStream = ns.TransformStream;

    class TextEncoderStream {
      constructor() {
        const encoder = new TextEncoder();
        let pending = '';  // a high surrogate split across chunks
        const transform = new TransformStream({
          transform(chunk, controller) {
            let text = pending + String(chunk);
            pending = '';
            const last = text.charCodeAt(text.length - 1);
            if (last >= 0xd800 && last <= 0xdbff) {
              pending = text.slice(-1);
              text = text.slice(0, -1);
            }
            if (text.length > 0) controller.enqueue(encoder.encode(text));
          },
          flush(controller) {
            if (pending) controller.enqueue(encoder.encode(pending));
          },
        });
        this._transform = transform;
      }
      get encoding() { return 'utf-8'; }
      get readable() { return this._transform.readable; }
      get writable() { return this._transform.writable; }
    }

    class TextDecoderStream {
      constructor(label = 'utf-8', options = {}) {
        const decoder = new TextDecoder(label, options);
        this._decoder = decoder;
        this._transform = new TransformStream({
          transform(chunk, controller) {
            const text = decoder.decode(chunk, { stream: true });
            if (text) controller.enqueue(text);
          },
          flush(controller) {
            const text = decoder.decode();
            if (text) controller.enqueue(text);
          },
        });
      }
      get encoding() { return this._decoder.encoding; }
      get fatal() { return this._decoder.fatal; }
      get ignoreBOM() { return this._decoder.ignoreBOM; }
      get readable() { return this._transform.readable; }
      get writable() { return this._transform.writable; }
    }

    function toBytes(chunk) {
      if (chunk instanceof Uint8Array) return chunk;
      if (ArrayBuffer.isView(chunk)) {
        return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      }
      if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
      throw new TypeError('This TransformStream is being used as a byte stream, but received ' +
        'an object of non-ArrayBuffer/ArrayBufferView type on its writable side.');
    }

    // workerd: a TransformStream that passes bytes through unchanged.
    class IdentityTransformStream extends TransformStream {
      constructor() {
        super({ transform(chunk, controller) { controller.enqueue(toBytes(chunk)); } });
      }
    }

    // workerd: an identity byte stream that must carry exactly `expectedLength` bytes.
    class FixedLengthStream extends TransformStream {
      constructor(expectedLength) {
        const expected = Number(expectedLength);
        if (!(expected >= 0) || !Number.isFinite(expected)) {
          throw new TypeError('FixedLengthStream requires a non-negative integer expected length.');
        }
        let seen = 0;
        super({
          transform(chunk, controller) {
            const bytes = toBytes(chunk);
            seen += bytes.byteLength;
            if (seen > expected) {
              throw new TypeError('Attempt to write too many bytes through a FixedLengthStream.');
            }
            controller.enqueue(bytes);
          },
          flush() {
            if (seen < expected) {
              throw new TypeError('FixedLengthStream did not see all expected bytes before close().');
            }
          },
        });
      }
    }

    return { TextEncoderStream, TextDecoderStream, IdentityTransformStream, FixedLengthStream };
  }

  function load() {
    if (impl !== null) return impl;
    const ns = evaluatePolyfill();
    const extras = makeExtras(ns);
    impl = Object.assign(Object.create(null), ns, extras);
    for (const name of POLYFILL_NAMES.concat(EXTRA_NAMES)) {
      // Only replace our own lazy accessor: a script may already have assigned the global.
      const desc = Object.getOwnPropertyDescriptor(globalThis, name);
      if (desc && desc.get && desc.get.mfLazy) defineGlobal(name, impl[name]);
    }
    return impl;
  }

  for (const name of POLYFILL_NAMES.concat(EXTRA_NAMES)) {
    const get = function () { return load()[name]; };
    get.mfLazy = true;
    Object.defineProperty(globalThis, name, {
      get,
      set(value) { defineGlobal(name, value); },
      configurable: true,
      enumerable: false,
    });
  }

  function isReadableStream(value) {
    return impl !== null && value instanceof impl.ReadableStream;
  }

  // The polyfill's own [[disturbed]] slot (set by read() and cancel()).
  function isDisturbed(stream) {
    return stream._disturbed === true;
  }

  // A byte stream delivering `bytes` as one chunk. A copy is enqueued: byte streams transfer
  // (detach) the buffers they are given, and `bytes` may be shared with a clone.
  function fromBytes(bytes, onPull) {
    const ns = load();
    return new ns.ReadableStream({
      type: 'bytes',
      pull(controller) {
        if (onPull) onPull();
        if (bytes.byteLength > 0) controller.enqueue(bytes.slice());
        controller.close();
      },
      cancel() {
        if (onPull) onPull();
      },
    });
  }

  function concatChunks(chunks, total) {
    if (chunks.length === 1) return chunks[0];
    const out = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      out.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return out;
  }

  // Read a stream to its end; chunks must be bytes (ArrayBuffer or views). Strings are refused
  // with workerd's message.
  function readAll(stream) {
    const reader = stream.getReader();
    const chunks = [];
    let total = 0;
    function step(result) {
      if (result.done) return concatChunks(chunks, total);
      const chunk = result.value;
      let bytes;
      if (chunk instanceof Uint8Array) {
        bytes = chunk;
      } else if (ArrayBuffer.isView(chunk)) {
        bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      } else if (chunk instanceof ArrayBuffer) {
        bytes = new Uint8Array(chunk);
      } else {
        const error = new TypeError('This ReadableStream did not return bytes.');
        reader.cancel(error);
        throw error;
      }
      chunks.push(bytes);
      total += bytes.byteLength;
      return reader.read().then(step);
    }
    return reader.read().then(step);
  }

  host.streams = {
    load,
    loaded() { return impl !== null; },
    isReadableStream,
    isDisturbed,
    fromBytes,
    readAll,
  };
})(globalThis.__mfHost);
