// Fetch API for the mfbook prelude, part "request": Request.
// Parts share `host.fetchParts` (fetch_headers.js describes them and the bridge API).
(function (host, F) {
  'use strict';
  const {
    SafeSet, INTERNAL, NULL_STATE, extractBody, cloneState, bodyState, wireHeaders, headerGuard,
    Body, buildHeaders, cloneCf, takeState
  } = F;
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


  Object.assign(F, {
    requestFields, Request
  });
})(globalThis.__mfHost, globalThis.__mfHost.fetchParts);
