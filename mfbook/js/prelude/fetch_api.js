// Fetch API classes for the mfbook prelude: Headers, FormData, Request, Response.
// Behaviour and error texts follow workerd (src/workerd/api/http.c++, headers.c++,
// form-data.c++).
//
// Bodies are kept in the form they arrived in (JS string, binary string from the bridge, or
// Uint8Array) and converted only when read; a ReadableStream is created only when `.body` is
// accessed. Headers built by the bridge or by `new Response(text)` stay a plain pair list until
// `.headers` is accessed.
//
// Internal bridge API, on `host.fetchApi` (not on globalThis):
//   requestToWire(req)   -> {method, url, headers, body} | Promise of it (only when a stream
//                           must be read); extra keys when not default: redirect, cf
//   requestFromWire(w)   -> Request (immutable headers, lazily built)
//   responseToWire(res, register?) -> {status, statusText, headers, body} | Promise of it;
//                           with `register`, a stream body becomes `stream: register(stream)`
//   responseFromWire(w)  -> Response (immutable headers; optional w.url, w.redirected)
//   isResponse(x)        -> boolean
// `headers` is a list of [lower-case name, value] pairs; `body` is null or a binary string (one
// char per byte). Converting to wire consumes the body, as sending it does in workerd.
(function (host) {
  'use strict';
  // Collections whose methods worker code cannot patch (intrinsics.js).
  const { SafeMap, SafeSet, SafeWeakMap } = globalThis.__mfIntrinsics;

  const bin = host.binary;
  const streams = host.streams;
  const INTERNAL = Symbol('mfbook.fetch.internal');
  const EMPTY = new Uint8Array(0);

  const BODY_USED = 'Body has already been used. It can only be used once. ' +
    'Use tee() first if you need to read it twice.';
  const STREAM_LOCKED = 'This ReadableStream is currently locked to a reader.';
  const STREAM_DISTURBED = 'This ReadableStream is disturbed (has already been read from), ' +
    'and cannot be used as a body.';
  const NULL_BODY = 'Response with null body status (101, 204, 205, or 304) cannot have a body.';
  const TEXT_PLAIN = 'text/plain;charset=UTF-8';
  const FORM_URLENCODED = 'application/x-www-form-urlencoded;charset=UTF-8';

  function define(name, value) {
    Object.defineProperty(globalThis, name, {
      value, writable: true, configurable: true, enumerable: false,
    });
  }

  function makeIterator(items) {
    return items[Symbol.iterator]();
  }

  // ---------------------------------------------------------------------------------------
  // Headers

  // workerd accepts any byte but controls, DEL, whitespace and RFC 2616 separators.
  const HEADER_NAME = /^[^\x00-\x20\x7f()<>@,;:\\"/[\]?={}]+$/;
  const HTTP_WS_EDGES = /^[\t\n\r ]+|[\t\n\r ]+$/g;
  const BAD_VALUE = /[\0\r\n]/;
  const UPPER = /[A-Z]/;

  function normalizeName(name) {
    const s = String(name);
    if (!HEADER_NAME.test(s)) throw new TypeError('Invalid header name.');
    return UPPER.test(s) ? s.toLowerCase() : s;
  }

  function normalizeValue(value) {
    const s = String(value).replace(HTTP_WS_EDGES, '');
    if (BAD_VALUE.test(s)) throw new TypeError('Invalid header value.');
    return s;
  }

  let headersList;  // (headers) -> [[name, value], ...], the live list
  let headersGuardOf;  // (headers) -> true when immutable
  let headersFromList;  // (list, immutable) -> Headers without validation

  class Headers {
    #list = [];  // [lower-case name, value] in insertion order
    #immutable = false;

    constructor(init = undefined) {
      if (init === INTERNAL || init === undefined) return;
      if (init === null || (typeof init !== 'object' && typeof init !== 'function')) {
        throw new TypeError("Failed to construct 'Headers': The provided value is not of type " +
          "'(record<ByteString, ByteString> or sequence<sequence<ByteString>>)'.");
      }
      if (init instanceof Headers) {
        this.#list = init.#list.map((pair) => [pair[0], pair[1]]);
      } else if (typeof init[Symbol.iterator] === 'function') {
        for (const entry of init) {
          const pair = typeof entry === 'string' ? null : Array.from(entry);
          if (pair === null || pair.length !== 2) {
            throw new TypeError('To initialize a Headers object from a sequence, each inner ' +
              'sequence must have exactly two elements.');
          }
          this.append(pair[0], pair[1]);
        }
      } else {
        for (const key of Object.keys(init)) this.append(key, init[key]);
      }
    }

    static {
      headersList = (headers) => headers.#list;
      headersGuardOf = (headers) => headers.#immutable;
      headersFromList = (list, immutable) => {
        const headers = new Headers(INTERNAL);
        headers.#list = list;
        headers.#immutable = immutable;
        return headers;
      };
    }

    #checkGuard() {
      if (this.#immutable) throw new TypeError("Can't modify immutable headers.");
    }

    append(name, value) {
      this.#checkGuard();
      const v = normalizeValue(value);
      this.#list.push([normalizeName(name), v]);
    }

    set(name, value) {
      this.#checkGuard();
      const v = normalizeValue(value);
      const key = normalizeName(name);
      const list = this.#list;
      let found = false;
      for (let i = 0; i < list.length; i++) {
        if (list[i][0] !== key) continue;
        if (!found) {
          list[i] = [key, v];
          found = true;
        } else {
          list.splice(i--, 1);
        }
      }
      if (!found) list.push([key, v]);
    }

    delete(name) {
      this.#checkGuard();
      const key = normalizeName(name);
      this.#list = this.#list.filter((pair) => pair[0] !== key);
    }

    get(name) {
      const key = normalizeName(name);
      let result = null;
      for (const pair of this.#list) {
        if (pair[0] === key) result = result === null ? pair[1] : result + ', ' + pair[1];
      }
      return result;
    }

    getAll(name) {
      if (String(name).toLowerCase() !== 'set-cookie') {
        throw new TypeError('getAll() can only be used with the header name "Set-Cookie".');
      }
      return this.getSetCookie();
    }

    getSetCookie() {
      const out = [];
      for (const pair of this.#list) if (pair[0] === 'set-cookie') out.push(pair[1]);
      return out;
    }

    has(name) {
      const key = normalizeName(name);
      return this.#list.some((pair) => pair[0] === key);
    }

    // Sorted by name, values of one name joined by ", ", except each Set-Cookie on its own.
    #displayed() {
      const byName = new SafeMap();
      for (const [name, value] of this.#list) {
        const values = byName.get(name);
        if (values === undefined) byName.set(name, [value]); else values.push(value);
      }
      const names = Array.from(byName.keys()).sort();
      const out = [];
      for (const name of names) {
        const values = byName.get(name);
        if (name === 'set-cookie') {
          for (const value of values) out.push([name, value]);
        } else {
          out.push([name, values.join(', ')]);
        }
      }
      return out;
    }

    forEach(callback, thisArg = undefined) {
      if (typeof callback !== 'function') {
        throw new TypeError("Failed to execute 'forEach' on 'Headers': parameter 1 is not of " +
          "type 'Function'.");
      }
      for (const [name, value] of this.#displayed()) {
        callback.call(thisArg, value, name, this);
      }
    }

    entries() { return makeIterator(this.#displayed()); }
    keys() { return makeIterator(this.#displayed().map((pair) => pair[0])); }
    values() { return makeIterator(this.#displayed().map((pair) => pair[1])); }
    [Symbol.iterator]() { return this.entries(); }
    get [Symbol.toStringTag]() { return 'Headers'; }
  }

  // Pairs for the wire: sorted by name (stable), one pair per value.
  function wirePairs(list) {
    const out = list.map((pair) => [pair[0], pair[1]]);
    out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // FormData

  let formEntries;

  function toFormValue(value, filename, argCount) {
    if (value instanceof Blob) {
      if (!(value instanceof File) || argCount > 2) {
        const name = argCount > 2 ? String(filename) : 'blob';
        return bin.makeFile(bin.blobBytes(value), name, value.type,
          value instanceof File ? value.lastModified : undefined);
      }
      return value;
    }
    return String(value);
  }

  class FormData {
    #entries = [];  // [name, string | File]

    constructor(form = undefined) {
      if (form !== undefined) {
        throw new TypeError("Failed to construct 'FormData': parameter 1 is not supported.");
      }
    }

    static {
      formEntries = (form) => form.#entries;
    }

    append(name, value, filename = undefined) {
      this.#entries.push([String(name), toFormValue(value, filename, arguments.length)]);
    }

    set(name, value, filename = undefined) {
      const key = String(name);
      const entry = [key, toFormValue(value, filename, arguments.length)];
      const index = this.#entries.findIndex((e) => e[0] === key);
      if (index < 0) {
        this.#entries.push(entry);
      } else {
        this.#entries = this.#entries.filter((e, i) => i === index || e[0] !== key);
        this.#entries[index] = entry;
      }
    }

    delete(name) {
      const key = String(name);
      this.#entries = this.#entries.filter((e) => e[0] !== key);
    }

    get(name) {
      const key = String(name);
      const entry = this.#entries.find((e) => e[0] === key);
      return entry === undefined ? null : entry[1];
    }

    getAll(name) {
      const key = String(name);
      return this.#entries.filter((e) => e[0] === key).map((e) => e[1]);
    }

    has(name) {
      const key = String(name);
      return this.#entries.some((e) => e[0] === key);
    }

    forEach(callback, thisArg = undefined) {
      for (const [name, value] of this.#entries.slice()) callback.call(thisArg, value, name, this);
    }

    entries() { return makeIterator(this.#entries.map((e) => [e[0], e[1]])); }
    keys() { return makeIterator(this.#entries.map((e) => e[0])); }
    values() { return makeIterator(this.#entries.map((e) => e[1])); }
    [Symbol.iterator]() { return this.entries(); }
    get [Symbol.toStringTag]() { return 'FormData'; }
  }

  // Content-Disposition parameter escaping as workerd (and Chrome) do it.
  function escapeDisposition(value) {
    if (value.endsWith('\\')) throw new TypeError("Name or filename can't end with backslash");
    return value.replace(/["\n\\]/g, (c) => (c === '"' ? '%22' : c === '\n' ? '%0A' : '\\\\'));
  }

  // -> binary string of the multipart body
  function serializeFormData(form, boundary) {
    const parts = [];
    for (const [name, value] of formEntries(form)) {
      let head = '--' + boundary + '\r\nContent-Disposition: form-data; name="' +
        escapeDisposition(name);
      if (typeof value === 'string') {
        parts.push(bin.utf8EncodeBinary(head + '"\r\n\r\n' + value + '\r\n'));
      } else {
        head += '"; filename="' + escapeDisposition(value.name) + '"\r\nContent-Type: ' +
          (value.type || 'application/octet-stream') + '\r\n\r\n';
        parts.push(bin.utf8EncodeBinary(head));
        parts.push(bin.toBinaryString(bin.blobBytes(value)));
        parts.push('\r\n');
      }
    }
    parts.push('--' + boundary + '--');
    return parts.join('');
  }

  function newBoundary() {
    const bytes = typeof host.randomBytes === 'function' ? host.randomBytes(16) :
      Uint8Array.from({ length: 16 }, () => Math.floor(Math.random() * 256));
    let hex = '';
    for (const b of bytes) hex += (b < 16 ? '0' : '') + b.toString(16);
    return hex;
  }

  // Minimal MIME type parse: essence (lower-case) and parameters.
  function parseMimeType(value) {
    const parts = String(value).split(';');
    const essence = parts[0].trim().toLowerCase();
    const params = new SafeMap();
    for (let i = 1; i < parts.length; i++) {
      const eq = parts[i].indexOf('=');
      if (eq < 0) continue;
      const key = parts[i].slice(0, eq).trim().toLowerCase();
      let val = parts[i].slice(eq + 1).trim();
      if (val.length >= 2 && val[0] === '"' && val[val.length - 1] === '"') val = val.slice(1, -1);
      if (!params.has(key)) params.set(key, val);
    }
    return { essence, params };
  }

  function parseDisposition(header) {
    const { essence, params } = parseMimeType(header);
    if (essence !== 'form-data') {
      throw new TypeError('Content-Disposition header for FormData part must have the value ' +
        '"form-data", possibly followed by parameters. Got: "' + essence + '"');
    }
    return params;
  }

  // `raw` is a binary string. Field values are decoded from UTF-8, files keep their bytes.
  function parseMultipart(form, raw, boundary) {
    const delimiter = '\n--' + boundary;
    let pos = raw.indexOf(delimiter.slice(1));
    if (pos < 0) throw new TypeError('No initial boundary string (or you have a truncated message).');
    pos += delimiter.length - 1;
    for (;;) {
      if (raw.startsWith('\n', pos)) {
        pos += 1;
      } else if (raw.startsWith('\r\n', pos)) {
        pos += 2;
      } else if (raw.startsWith('--', pos)) {
        return;
      } else {
        throw new TypeError("Boundary string was not succeeded by CRLF, LF, or '--'.");
      }
      const rest = raw.slice(pos);
      const match = /\r?\n\r?\n/.exec(rest);
      if (match === null) throw new TypeError('No multipart message header termination found.');
      const headerText = rest.slice(0, match.index);
      pos += match.index + match[0].length;
      let disposition = null;
      let type = '';
      for (const line of headerText.split(/\r?\n/)) {
        const colon = line.indexOf(':');
        if (colon <= 0) throw new TypeError('FormData part had invalid headers.');
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (name === 'content-disposition') disposition = value;
        if (name === 'content-type') type = value;
      }
      if (disposition === null) {
        throw new TypeError('No valid Content-Disposition header found in FormData part.');
      }
      const params = parseDisposition(bin.utf8DecodeBinary(disposition));
      if (!params.has('name')) {
        throw new TypeError('Content-Disposition header in FormData part is missing a name.');
      }
      const end = raw.indexOf(delimiter, pos);
      if (end < 0) throw new TypeError('No subsequent boundary string after multipart message.');
      let data = raw.slice(pos, end);
      if (data.endsWith('\r')) data = data.slice(0, -1);
      pos = end + delimiter.length;
      const name = params.get('name');
      if (params.has('filename')) {
        form.append(name, bin.makeFile(bin.fromBinaryString(data), params.get('filename'), type));
      } else {
        form.append(name, bin.utf8DecodeBinary(data));
      }
    }
  }

  function parseUrlEncoded(form, text) {
    if (typeof URLSearchParams === 'function') {
      for (const [name, value] of new URLSearchParams(text)) form.append(name, value);
      return;
    }
    const decode = (s) => {
      try {
        return decodeURIComponent(s.replace(/\+/g, ' '));
      } catch (e) {
        return s;
      }
    };
    for (const part of text.split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      form.append(decode(eq < 0 ? part : part.slice(0, eq)), decode(eq < 0 ? '' : part.slice(eq + 1)));
    }
  }

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

  // ---------------------------------------------------------------------------------------
  // Request

  // kj::HttpMethod names (accepted as given); the six below are also accepted in any case.
  const METHODS = new SafeSet(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'PURGE', 'OPTIONS',
    'TRACE', 'COPY', 'LOCK', 'MKCOL', 'MOVE', 'PROPFIND', 'PROPPATCH', 'SEARCH', 'UNLOCK', 'ACL',
    'REPORT', 'MKACTIVITY', 'CHECKOUT', 'MERGE', 'M-SEARCH', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE',
    'QUERY', 'BAN']);
  const CASELESS_METHODS = new SafeSet(['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS']);
  const CACHE_MODES = new SafeSet(['no-store', 'no-cache', 'reload']);
  const REDIRECT_ERROR = 'Invalid redirect value, must be one of "follow" or "manual" ("error" ' +
    "won't be implemented since it does not make sense at the edge; use \"manual\" and check " +
    'the response status code).';
  const GET_WITH_BODY = 'Request with a GET or HEAD method cannot have a body.';

  function normalizeMethod(value) {
    const method = String(value);
    if (METHODS.has(method)) return method;
    const upper = method.toUpperCase();
    if (CASELESS_METHODS.has(upper)) return upper;
    throw new TypeError('Invalid HTTP method string: ' + method);
  }

  function parseRequestUrl(input) {
    const text = String(input);
    let parsed;
    try {
      parsed = new URL(text);
    } catch (e) {
      throw new TypeError('Invalid URL: ' + text);
    }
    return parsed.href;
  }

  let requestFields;

  class Request extends Body {
    #method;
    #url;
    #redirect;
    #signal;  // AbortSignal | null
    #thisSignal = null;  // the never-aborting signal made on demand
    #cf;
    #cache;

    constructor(input, init = undefined) {
      if (input === INTERNAL) {
        super(INTERNAL, init.state, init.headers, init.pairs, init.immutable);
        this.#method = init.method;
        this.#url = init.url;
        this.#redirect = init.redirect;
        this.#signal = init.signal;
        this.#cf = init.cf;
        this.#cache = init.cache;
        return;
      }
      if (arguments.length === 0) {
        throw new TypeError("Failed to construct 'Request': 1 argument required, but only 0 " +
          'present.');
      }
      let url;
      let method = 'GET';
      let copyPairs = null;
      let signal = null;
      let cf;
      let redirect = 'follow';
      let cache;
      let inputState = null;
      if (input instanceof Request) {
        const fields = requestFields(input);
        url = fields.url;
        method = fields.method;
        copyPairs = wireHeaders(input);
        cf = cloneCf(fields.cf);
        redirect = fields.redirect;
        cache = fields.cache;
        signal = fields.signal;
        inputState = bodyState(input);
      } else {
        url = parseRequestUrl(input);
      }

      let headersInit;
      let extracted = null;
      let replaceBody = false;
      if (init instanceof Request) {
        const fields = requestFields(init);
        method = fields.method;
        redirect = fields.redirect;
        cache = fields.cache;
        signal = fields.signal;
        headersInit = init.headers;
        cf = cloneCf(fields.cf);
        replaceBody = true;
        extracted = { state: cloneState(bodyState(init)), type: null };
      } else if (init !== undefined && init !== null) {
        if (typeof init !== 'object') {
          throw new TypeError("Failed to construct 'Request': The provided value is not of " +
            "type 'RequestInit'.");
        }
        if (init.integrity !== undefined && String(init.integrity) !== '') {
          throw new TypeError('Subrequest integrity checking is not implemented. The integrity ' +
            'option must be either undefined or an empty string.');
        }
        if (init.method !== undefined) method = normalizeMethod(init.method);
        headersInit = init.headers;
        if (init.signal !== undefined) signal = init.signal;
        if (init.cf !== undefined) cf = cloneCf(init.cf);
        if (init.body !== undefined) {
          replaceBody = true;
          if (init.body !== null) {
            extracted = extractBody(init.body);
            if (method === 'GET' || method === 'HEAD') throw new TypeError(GET_WITH_BODY);
          }
        }
        if (init.redirect !== undefined) {
          const r = String(init.redirect).toLowerCase();
          if (r !== 'follow' && r !== 'manual') throw new TypeError(REDIRECT_ERROR);
          redirect = r;
        }
        if (init.cache !== undefined) {
          const c = String(init.cache);
          if (!CACHE_MODES.has(c)) throw new TypeError('Unsupported cache mode: ' + c);
          cache = c;
        }
        if (init.encodeResponseBody !== undefined) {
          const e = String(init.encodeResponseBody);
          if (e !== 'manual' && e !== 'automatic') {
            throw new TypeError('encodeResponseBody: unexpected value: ' + e);
          }
        }
      }

      let state = NULL_STATE;
      let contentType = null;
      if (replaceBody) {
        if (extracted !== null) {
          state = extracted.state;
          contentType = extracted.type;
        }
      } else if (inputState !== null) {
        state = takeState(inputState);
      }
      const hasInitDict = init !== undefined && init !== null && !(init instanceof Request);
      if (hasInitDict && (init.method !== undefined || init.body !== undefined) &&
          (method === 'GET' || method === 'HEAD') && state.kind !== null) {
        throw new TypeError(GET_WITH_BODY);
      }
      const built = buildHeaders(headersInit, copyPairs, contentType);
      super(INTERNAL, state, built.headers, built.pairs, false);
      this.#method = method;
      this.#url = url;
      this.#redirect = redirect;
      this.#signal = signal;
      this.#cf = cf;
      this.#cache = cache;
    }

    static {
      requestFields = (r) => ({
        method: r.#method, url: r.#url, redirect: r.#redirect, signal: r.#signal, cf: r.#cf,
        cache: r.#cache,
      });
    }

    get method() { return this.#method; }
    get url() { return this.#url; }
    get redirect() { return this.#redirect; }
    get cf() { return this.#cf; }
    get cache() { return this.#cache; }
    get integrity() { return ''; }
    get keepalive() { return false; }

    get signal() {
      if (this.#signal !== null) return this.#signal;
      if (this.#thisSignal === null && typeof AbortController === 'function') {
        this.#thisSignal = new AbortController().signal;
      }
      return this.#thisSignal;
    }

    clone() {
      const state = cloneState(bodyState(this));
      return new Request(INTERNAL, {
        state, headers: null, pairs: wireHeaders(this).map((p) => [p[0], p[1]]),
        immutable: headerGuard(this), method: this.#method, url: this.#url,
        redirect: this.#redirect, signal: this.#signal, cf: cloneCf(this.#cf), cache: this.#cache,
      });
    }

    get [Symbol.toStringTag]() { return 'Request'; }
  }

  // ---------------------------------------------------------------------------------------
  // Response

  const STATUS_TEXT = {
    100: 'Continue', 101: 'Switching Protocols', 102: 'Processing', 103: 'Early Hints',
    200: 'OK', 201: 'Created', 202: 'Accepted', 203: 'Non-Authoritative Information',
    204: 'No Content', 205: 'Reset Content', 206: 'Partial Content', 207: 'Multi-Status',
    208: 'Already Reported', 226: 'IM Used', 300: 'Multiple Choices', 301: 'Moved Permanently',
    302: 'Found', 303: 'See Other', 304: 'Not Modified', 305: 'Use Proxy',
    307: 'Temporary Redirect', 308: 'Permanent Redirect', 400: 'Bad Request',
    401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
    405: 'Method Not Allowed', 406: 'Not Acceptable', 407: 'Proxy Authentication Required',
    408: 'Request Timeout', 409: 'Conflict', 410: 'Gone', 411: 'Length Required',
    412: 'Precondition Failed', 413: 'Payload Too Large', 414: 'URI Too Long',
    415: 'Unsupported Media Type', 416: 'Range Not Satisfiable', 417: 'Expectation Failed',
    418: "I'm a teapot", 421: 'Misdirected Request', 422: 'Unprocessable Entity', 423: 'Locked',
    424: 'Failed Dependency', 426: 'Upgrade Required', 428: 'Precondition Required',
    429: 'Too Many Requests', 431: 'Request Header Fields Too Large',
    451: 'Unavailable For Legal Reasons', 500: 'Internal Server Error', 501: 'Not Implemented',
    502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
    505: 'HTTP Version Not Supported', 506: 'Variant Also Negotiates',
    507: 'Insufficient Storage', 508: 'Loop Detected', 510: 'Not Extended',
    511: 'Network Authentication Required',
  };

  function defaultStatusText(status) {
    const known = STATUS_TEXT[status];
    if (known !== undefined) return known;
    if (status >= 200 && status < 300) return 'Successful';
    if (status >= 300 && status < 400) return 'Redirection';
    if (status >= 400 && status < 500) return 'Client Error';
    if (status >= 500 && status < 600) return 'Server Error';
    return '';
  }

  const NULL_BODY_STATUS = new SafeSet([101, 204, 205, 304]);
  const REDIRECT_STATUS = new SafeSet([301, 302, 303, 307, 308]);

  function toStatus(value) {
    const n = Number(value);
    return Number.isFinite(n) ? Math.trunc(n) : 0;
  }

  let responseFields;

  class Response extends Body {
    #status;
    #statusText;  // null: the default text for the status
    #url;
    #redirected;
    #webSocket;
    #cf;
    #type;
    #encodeBody;

    constructor(body = null, init = undefined) {
      if (body === INTERNAL) {
        super(INTERNAL, init.state, init.headers, init.pairs, init.immutable);
        this.#status = init.status;
        this.#statusText = init.statusText;
        this.#url = init.url;
        this.#redirected = init.redirected;
        this.#webSocket = init.webSocket;
        this.#cf = init.cf;
        this.#type = init.type;
        this.#encodeBody = init.encodeBody;
        return;
      }
      let status = 200;
      let statusText = null;
      let headersInit;
      let cf;
      let webSocket = null;
      let encodeBody = 'automatic';
      if (init instanceof Response) {
        const fields = responseFields(init);
        status = fields.status;
        statusText = fields.statusText;
        headersInit = init.headers;
        cf = cloneCf(fields.cf);
        webSocket = fields.webSocket;
        encodeBody = fields.encodeBody;
      } else if (init !== undefined && init !== null) {
        if (typeof init !== 'object') {
          throw new TypeError("Failed to construct 'Response': The provided value is not of " +
            "type 'ResponseInit'.");
        }
        if (init.status !== undefined) status = toStatus(init.status);
        if (init.statusText !== undefined) statusText = String(init.statusText);
        if (init.encodeBody !== undefined) {
          encodeBody = String(init.encodeBody);
          if (encodeBody !== 'manual' && encodeBody !== 'automatic') {
            throw new TypeError('encodeBody: unexpected value: ' + encodeBody);
          }
        }
        headersInit = init.headers;
        if (init.cf !== undefined) cf = cloneCf(init.cf);
        if (init.webSocket !== undefined && init.webSocket !== null) webSocket = init.webSocket;
      }
      if (webSocket === null) {
        if (status < 200 || status > 599) {
          throw new RangeError('Responses may only be constructed with status codes in the ' +
            'range 200 to 599, inclusive.');
        }
      } else if (status !== 101) {
        throw new RangeError('Responses with a WebSocket must have status code 101.');
      }
      if (statusText !== null && /[\x00-\x1f]/.test(statusText)) {
        throw new TypeError('Invalid statusText');
      }
      let state = NULL_STATE;
      let contentType = null;
      if (body !== null && body !== undefined) {
        const extracted = extractBody(body);
        if (NULL_BODY_STATUS.has(status)) {
          // workerd still accepts a zero-length buffer here and treats it as no body.
          if (bodyLength(extracted.state) !== 0) throw new TypeError(NULL_BODY);
        } else {
          state = extracted.state;
          contentType = extracted.type;
        }
      }
      const built = buildHeaders(headersInit, null, contentType);
      super(INTERNAL, state, built.headers, built.pairs, false);
      this.#status = status;
      this.#statusText = statusText;
      this.#url = '';
      this.#redirected = false;
      this.#webSocket = webSocket;
      this.#cf = cf;
      this.#type = 'default';
      this.#encodeBody = encodeBody;
    }

    static {
      responseFields = (r) => ({
        status: r.#status, statusText: r.#statusText, url: r.#url, redirected: r.#redirected,
        webSocket: r.#webSocket, cf: r.#cf, type: r.#type, encodeBody: r.#encodeBody,
      });
    }

    static error() {
      return new Response(INTERNAL, {
        state: NULL_STATE, headers: null, pairs: [], immutable: true, status: 0,
        statusText: null, url: '', redirected: false, webSocket: null, cf: undefined,
        type: 'error', encodeBody: 'automatic',
      });
    }

    static redirect(url, status = 302) {
      const code = toStatus(status);
      if (!REDIRECT_STATUS.has(code)) {
        throw new RangeError(code + ' is not a redirect status code. It must be one of: 301, ' +
          '302, 303, 307, or 308.');
      }
      const text = String(url);
      let href;
      try {
        href = new URL(text).href;
      } catch (e) {
        throw new TypeError('Unable to parse URL: ' + text);
      }
      if (/[\r\n\0]/.test(href)) {
        throw new TypeError("Redirect URL cannot contain '\\r', '\\n', or '\\0': " + text);
      }
      return new Response(INTERNAL, {
        state: NULL_STATE, headers: null, pairs: [['location', href]], immutable: true,
        status: code, statusText: null, url: '', redirected: false, webSocket: null,
        cf: undefined, type: 'default', encodeBody: 'automatic',
      });
    }

    static json(data, init = undefined) {
      const text = JSON.stringify(data);
      if (text === undefined) throw new TypeError('Value is not JSON-serializable.');
      let dict;
      if (init instanceof Response) {
        const fields = responseFields(init);
        dict = {
          status: fields.status, statusText: fields.statusText === null ? undefined :
            fields.statusText, headers: new Headers(init.headers), cf: fields.cf,
          webSocket: fields.webSocket, encodeBody: fields.encodeBody,
        };
      } else {
        dict = Object.assign({}, init);
        dict.headers = new Headers(dict.headers);
      }
      if (!dict.headers.has('content-type')) dict.headers.set('content-type', 'application/json');
      return new Response(text, dict);
    }

    get status() { return this.#status; }
    get statusText() {
      return this.#statusText === null ? defaultStatusText(this.#status) : this.#statusText;
    }
    get ok() { return this.#status >= 200 && this.#status < 300; }
    get redirected() { return this.#redirected; }
    get url() { return this.#url; }
    get type() { return this.#type; }
    get webSocket() { return this.#webSocket; }
    get cf() { return this.#cf; }

    clone() {
      if (this.#webSocket !== null) {
        throw new TypeError('Cannot clone a response to a WebSocket handshake.');
      }
      const state = cloneState(bodyState(this));
      const fields = responseFields(this);
      fields.state = state;
      fields.headers = null;
      fields.pairs = wireHeaders(this).map((p) => [p[0], p[1]]);
      fields.immutable = headerGuard(this);
      fields.cf = cloneCf(fields.cf);
      return new Response(INTERNAL, fields);
    }

    get [Symbol.toStringTag]() { return 'Response'; }
  }

  // ---------------------------------------------------------------------------------------
  // Bridge

  // null | binary string | Promise<binary string>; consumes the body.
  function wireBody(state) {
    if (state.kind === null) return null;
    const taken = consume(state);
    if (typeof taken.then === 'function') {
      return taken.then((t) => bin.toBinaryString(t.data));
    }
    return asBinary(taken);
  }

  function withBody(wire, body) {
    if (body !== null && typeof body === 'object') {
      return body.then((b) => {
        wire.body = b;
        return wire;
      });
    }
    wire.body = body;
    return wire;
  }

  function requestToWire(request) {
    const fields = requestFields(request);
    const wire = { method: fields.method, url: fields.url, headers: wireHeaders(request), body: null };
    if (fields.redirect !== 'follow') wire.redirect = fields.redirect;
    if (fields.cf !== undefined) wire.cf = fields.cf;
    return withBody(wire, wireBody(bodyState(request)));
  }

  function requestState(wire) {
    if (typeof wire.bodyStream === 'number') {
      const state = newState('stream', null);
      state.stream = host.bodyStreams.fromHost(wire.bodyStream);
      return state;
    }
    return wire.body === null || wire.body === undefined ? NULL_STATE : newState('bin', wire.body);
  }

  function requestFromWire(wire) {
    return new Request(INTERNAL, {
      state: requestState(wire),
      headers: null, pairs: wireToList(wire.headers), immutable: true,
      method: wire.method || 'GET', url: wire.url, redirect: wire.redirect || 'follow',
      signal: null, cf: wire.cf === null ? undefined : wire.cf, cache: undefined,
    });
  }

  // `register` (host.bodyStreams.register) set: a stream body is not read here but handed over
  // by id (`wire.stream`), for the host to pull chunk by chunk.
  function responseToWire(response, register) {
    const fields = responseFields(response);
    const wire = {
      status: fields.status, statusText: response.statusText,
      headers: wireHeaders(response), body: null,
    };
    // A WebSocket crosses as the number of its end (prelude/websocket.js).
    if (fields.webSocket !== null) wire.ws = host.webSockets.toWire(fields.webSocket);
    const state = bodyState(response);
    if (register !== undefined && state.kind === 'stream' && !state.pulled) {
      if (isUsed(state)) throw new TypeError(BODY_USED);
      if (state.stream.locked) throw new TypeError(STREAM_LOCKED);
      state.used = true;
      wire.stream = register(state.stream);
      return wire;
    }
    return withBody(wire, wireBody(state));
  }

  function responseState(wire) {
    if (typeof wire.stream === 'number') {
      const state = newState('stream', null);
      state.stream = host.bodyStreams.reopen(wire.stream);
      return state;
    }
    return wire.body === null || wire.body === undefined ? NULL_STATE : newState('bin', wire.body);
  }

  function responseFromWire(wire) {
    const status = wire.status === undefined ? 200 : wire.status;
    return new Response(INTERNAL, {
      state: responseState(wire),
      headers: null, pairs: wireToList(wire.headers), immutable: true, status,
      statusText: wire.statusText === undefined || wire.statusText === null ||
        wire.statusText === defaultStatusText(status) ? null : wire.statusText,
      url: wire.url || '', redirected: wire.redirected === true,
      webSocket: wire.ws === undefined ? null : host.webSockets.fromWire(wire.ws), cf: undefined,
      type: 'default', encodeBody: 'automatic',
    });
  }

  host.fetchApi = {
    requestToWire,
    requestFromWire,
    responseToWire,
    responseFromWire,
    isResponse(value) { return value instanceof Response; },
    isRequest(value) { return value instanceof Request; },
  };

  define('Headers', Headers);
  define('FormData', FormData);
  define('Request', Request);
  define('Response', Response);
})(globalThis.__mfHost);
