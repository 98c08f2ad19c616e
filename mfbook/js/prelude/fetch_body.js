// Fetch API for the mfbook prelude, part "body": Body: the body state shared by Request and Response.
// Parts share `host.fetchParts` (fetch_headers.js describes them and the bridge API).
(function (host, F) {
  'use strict';
  const {
    SafeWeakMap, bin, streams, INTERNAL, EMPTY, BODY_USED, STREAM_LOCKED, STREAM_DISTURBED,
    TEXT_PLAIN, FORM_URLENCODED, UPPER, headersList, headersGuardOf, headersFromList, Headers,
    wirePairs, FormData, serializeFormData, newBoundary, parseMimeType, parseMultipart,
    parseUrlEncoded
  } = F;
  // ---------------------------------------------------------------------------------------
  // Body state shared by Request and Response
  //
  // kind: null (no body), 'text' (JS string), 'bin' (binary string), 'bytes' (Uint8Array, shared
  // with clones and Blobs: never mutated), 'stream' (data is unused; read `stream`).

  function newState(kind, data) {
    return { kind, data, stream: null, pulled: false, used: false };
  }

  const NULL_STATE = Object.freeze(newState(null, null));
  const streamOrigins = new SafeWeakMap();  // buffer-backed stream -> state it was made for

  function isBuffered(state) {
    return state.kind !== 'stream' && !state.pulled;
  }

  function extractBody(init) {
    if (init === undefined || init === null) return { state: NULL_STATE, type: null };
    if (typeof init === 'string') return { state: newState('text', init), type: TEXT_PLAIN };
    const view = bin.toBytes(init);
    if (view !== null) return { state: newState('bytes', view.slice()), type: null };
    if (init instanceof Blob) {
      return { state: newState('bytes', bin.blobBytes(init)), type: init.type || null };
    }
    if (typeof URLSearchParams === 'function' && init instanceof URLSearchParams) {
      return { state: newState('text', init.toString()), type: FORM_URLENCODED };
    }
    if (init instanceof FormData) {
      const boundary = newBoundary();
      return {
        state: newState('bin', serializeFormData(init, boundary)),
        type: 'multipart/form-data; boundary=' + boundary,
      };
    }
    if (streams.isReadableStream(init)) {
      if (streams.isDisturbed(init)) throw new TypeError(STREAM_DISTURBED);
      if (init.locked) throw new TypeError(STREAM_LOCKED);
      const origin = streamOrigins.get(init);
      if (origin !== undefined && isBuffered(origin)) {
        // `new Response(other.body, ...)`: take over the buffer, leave the stream locked.
        init.getReader();
        origin.used = true;
        return { state: newState(origin.kind, origin.data), type: null };
      }
      const state = newState('stream', null);
      state.stream = init;
      return { state, type: null };
    }
    if (typeof init === 'object' && typeof init[Symbol.asyncIterator] === 'function') {
      const state = newState('stream', null);
      state.stream = streams.load().ReadableStream.from(init);
      return { state, type: null };
    }
    return { state: newState('text', String(init)), type: TEXT_PLAIN };
  }

  function bodyLength(state) {
    if (state.kind === null) return 0;
    if (state.kind === 'stream') return -1;
    return state.kind === 'bytes' ? state.data.byteLength : state.data.length;
  }

  function isUsed(state) {
    return state.used || (state.stream !== null && streams.isDisturbed(state.stream));
  }

  function bodyStream(state) {
    if (state.kind === null) return null;
    if (state.stream === null) {
      if (state.used) {
        state.stream = streams.fromBytes(EMPTY);
        state.stream.cancel();
      } else {
        state.stream = streams.fromBytes(asBytes(state), () => { state.pulled = true; });
        streamOrigins.set(state.stream, state);
      }
    }
    return state.stream;
  }

  function asBytes(state) {
    if (state.kind === 'bytes') return state.data;
    if (state.kind === 'text') return bin.utf8Encode(state.data);
    return bin.fromBinaryString(state.data);
  }

  function asText(state) {
    if (state.kind === 'text') return state.data;
    if (state.kind === 'bin') return bin.utf8DecodeBinary(state.data);
    return bin.utf8Decode(state.data);
  }

  function asBinary(state) {
    if (state.kind === 'bin') return state.data;
    if (state.kind === 'text') return bin.utf8EncodeBinary(state.data);
    return bin.toBinaryString(state.data);
  }

  // Take the body for reading. Returns a state-like {kind, data} synchronously when the body is
  // buffered, or a Promise of one (kind 'bytes') when a stream must be read. Throws TypeError
  // when used or locked.
  function consume(state) {
    if (state.kind === null) return { kind: 'bytes', data: EMPTY };
    if (isUsed(state)) throw new TypeError(BODY_USED);
    const stream = state.stream;
    if (stream !== null && stream.locked) throw new TypeError(STREAM_LOCKED);
    state.used = true;
    if (isBuffered(state)) {
      if (stream !== null) stream.cancel();
      return { kind: state.kind, data: state.data };
    }
    return streams.readAll(stream).then((bytes) => ({ kind: 'bytes', data: bytes }));
  }

  function consumeThen(state, convert) {
    let taken;
    try {
      taken = consume(state);
    } catch (e) {
      return Promise.reject(e);
    }
    if (typeof taken.then === 'function') return taken.then(convert);
    try {
      return Promise.resolve(convert(taken));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  // Tee for clone(): buffered bodies are shared (they are immutable), streams are teed.
  function cloneState(state) {
    if (state.kind === null) return NULL_STATE;
    if (isUsed(state)) throw new TypeError(BODY_USED);
    if (isBuffered(state) && (state.stream === null || !state.stream.locked)) {
      return newState(state.kind, state.data);
    }
    const [a, b] = state.stream.tee();
    state.stream = a;
    const copy = newState('stream', null);
    copy.stream = b;
    return copy;
  }

  // ---------------------------------------------------------------------------------------
  // Body (base of Request and Response, as in workerd)

  let bodyState;
  let wireHeaders;
  let headerGuard;

  class Body {
    #state;
    #headers = null;  // Headers, once materialised
    #pairs = null;  // trusted [[name, value]] list until then
    #immutable = false;

    constructor(key, state, headers, pairs, immutable) {
      if (key !== INTERNAL) throw new TypeError('Illegal constructor');
      this.#state = state;
      this.#headers = headers;
      this.#pairs = pairs;
      this.#immutable = immutable;
    }

    static {
      bodyState = (body) => body.#state;
      headerGuard = (body) => (body.#headers !== null ? headersGuardOf(body.#headers) :
        body.#immutable);
      wireHeaders = (body) => (body.#headers !== null ? wirePairs(headersList(body.#headers)) :
        body.#pairs);
    }

    get headers() {
      if (this.#headers === null) {
        this.#headers = headersFromList(this.#pairs, this.#immutable);
        this.#pairs = null;
      }
      return this.#headers;
    }

    #contentType() {
      if (this.#headers !== null) return this.#headers.get('content-type');
      let result = null;
      for (const pair of this.#pairs) {
        if (pair[0] === 'content-type') result = result === null ? pair[1] : result + ', ' + pair[1];
      }
      return result;
    }

    get body() { return bodyStream(this.#state); }
    get bodyUsed() { return isUsed(this.#state); }

    arrayBuffer() {
      return consumeThen(this.#state, (t) => (t.kind === 'bytes' ? t.data.slice() : asBytes(t)).buffer);
    }

    bytes() {
      return consumeThen(this.#state, (t) => (t.kind === 'bytes' ? t.data.slice() : asBytes(t)));
    }

    text() {
      return consumeThen(this.#state, asText);
    }

    json() {
      return consumeThen(this.#state, (t) => JSON.parse(asText(t)));
    }

    blob() {
      const type = this.#contentType();
      return consumeThen(this.#state, (t) => bin.makeBlob(
        t.kind === 'bytes' ? t.data : asBytes(t), type === null ? '' : type));
    }

    formData() {
      const type = this.#contentType();
      if (isUsed(this.#state)) return Promise.reject(new TypeError(BODY_USED));
      if (type === null) {
        return Promise.reject(new TypeError(
          'Parsing a Body as FormData requires a Content-Type header.'));
      }
      return consumeThen(this.#state, (t) => {
        const form = new FormData();
        const mime = parseMimeType(type);
        if (mime.essence === 'multipart/form-data') {
          const boundary = mime.params.get('boundary');
          if (boundary === undefined) {
            throw new TypeError("No boundary string in Content-Type header. The " +
              "multipart/form-data MIME type requires a boundary parameter, e.g. " +
              "'Content-Type: multipart/form-data; boundary=\"abcd\"'. See RFC 7578, section 4.");
          }
          parseMultipart(form, asBinary(t), boundary);
        } else if (mime.essence === 'application/x-www-form-urlencoded') {
          const charset = mime.params.get('charset');
          if (charset !== undefined && !/^(utf-8|utf8|unicode-1-1-utf-8)$/i.test(charset)) {
            throw new TypeError('Non-utf-8 application/x-www-form-urlencoded body.');
          }
          parseUrlEncoded(form, asText(t));
        } else {
          throw new TypeError('Unrecognized Content-Type header value. FormData can only parse ' +
            'the following MIME types: multipart/form-data, application/x-www-form-urlencoded');
        }
        return form;
      });
    }
  }

  // Headers for a new Request/Response: (init headers or copied list) + default content-type.
  function buildHeaders(initHeaders, copyFrom, contentType) {
    if (initHeaders !== undefined) {
      const headers = new Headers(initHeaders);
      if (contentType !== null && !headers.has('content-type')) {
        headersList(headers).push(['content-type', contentType]);
      }
      return { headers, pairs: null };
    }
    const pairs = copyFrom === null ? [] : copyFrom.map((pair) => [pair[0], pair[1]]);
    if (contentType !== null && !pairs.some((pair) => pair[0] === 'content-type')) {
      pairs.push(['content-type', contentType]);
    }
    return { headers: null, pairs };
  }

  function cloneCf(cf) {
    if (cf === undefined || cf === null) return undefined;
    if (typeof structuredClone === 'function') return structuredClone(cf);
    return JSON.parse(JSON.stringify(cf));
  }

  // Take the body of `new Request(oldRequest)`: the old request is left used.
  function takeState(state) {
    if (state.kind === null) return NULL_STATE;
    if (isUsed(state)) throw new TypeError('Cannot reconstruct a Request with a used body.');
    const stream = state.stream;
    if (isBuffered(state) && (stream === null || !stream.locked)) {
      state.used = true;
      if (stream !== null) stream.getReader();
      return newState(state.kind, state.data);
    }
    const taken = newState('stream', null);
    taken.stream = stream.pipeThrough(new (streams.load().TransformStream)());
    state.used = true;
    return taken;
  }

  // Bridge pairs: lower-case names (the Python side should already send them so).
  function wireToList(pairs) {
    if (!pairs) return [];
    for (let i = 0; i < pairs.length; i++) {
      if (UPPER.test(pairs[i][0])) {
        return pairs.map((pair) => [pair[0].toLowerCase(), pair[1]]);
      }
    }
    return pairs;
  }


  Object.assign(F, {
    newState, NULL_STATE, extractBody, bodyLength, isUsed, asBinary, consume, cloneState,
    bodyState, wireHeaders, headerGuard, Body, buildHeaders, cloneCf, takeState, wireToList
  });
})(globalThis.__mfHost, globalThis.__mfHost.fetchParts);
