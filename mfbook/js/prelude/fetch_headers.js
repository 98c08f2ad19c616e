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
//
// The Fetch API is six files loaded in this order: fetch_headers.js, fetch_form_data.js,
// fetch_body.js, fetch_request.js, fetch_response.js, fetch_bridge.js. They share one
// internal namespace, `host.fetchParts`: each part adds what later parts use, and takes what
// it needs from earlier parts when it loads (no part reads a later one).
// This part: Headers (and the definitions the other fetch parts share).
(function (host) {
  'use strict';
  const F = host.fetchParts = Object.create(null);
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


  Object.assign(F, {
    SafeMap, SafeSet, SafeWeakMap, bin, streams, INTERNAL, EMPTY, BODY_USED, STREAM_LOCKED,
    STREAM_DISTURBED, NULL_BODY, TEXT_PLAIN, FORM_URLENCODED, define, makeIterator, UPPER,
    headersList, headersGuardOf, headersFromList, Headers, wirePairs
  });
})(globalThis.__mfHost);
