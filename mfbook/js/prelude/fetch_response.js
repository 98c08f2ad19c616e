// Fetch API for the mfbook prelude, part "response": Response.
// Parts share `host.fetchParts` (fetch_headers.js describes them and the bridge API).
(function (host, F) {
  'use strict';
  const {
    SafeSet, INTERNAL, NULL_BODY, Headers, NULL_STATE, extractBody, bodyLength, cloneState,
    bodyState, wireHeaders, headerGuard, Body, buildHeaders, cloneCf, Request
  } = F;
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


  Object.assign(F, {
    defaultStatusText, responseFields, Response
  });
})(globalThis.__mfHost, globalThis.__mfHost.fetchParts);
