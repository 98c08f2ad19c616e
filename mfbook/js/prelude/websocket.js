// WebSocket, WebSocketPair, MessageEvent, CloseEvent, ErrorEvent and
// WebSocketRequestResponsePair for the mfbook prelude. Behaviour and error texts follow workerd
// (src/workerd/api/web-socket.c++, actor-state.c++).
//
// A WebSocket object only carries the number of its end: the host (mfbook/websocket_hub.py)
// knows the peer, routes every frame and delivers incoming ones as deliveries of their own
// (`__mfKernel.wsEvent`, kernel/websockets.js), so a listener never runs inside the sender's
// turn. Each operation is one synchronous host call.
//
// Internal bridge API, on `host.webSockets` (not on globalThis):
//   toWire(ws)            -> end number for a response wire (the object is released)
//   fromWire(id)          -> a WebSocket for an end that arrived in a response
//   dispatch(event)       -> fires message/close/error on the end accepted with accept()
//   hibernated(id, info)  -> a WebSocket object for a hibernatable end (after a wake-up);
//                            info is [attachment codec text | null, sentClose, gotClose]
//   receive(ws, event)    -> records an incoming frame on a hibernatable end, returns its data
//   acceptHibernatable(ws, actorKey, tags), idOf(ws), isWebSocket(x), isHibernatable(ws)
//   tag                   -> set by the kernel: attributes operations to the running direct call
(function (host) {
  'use strict';
  const { SafeMap } = globalThis.__mfIntrinsics;
  const codec = globalThis.__mfCodec;
  const bin = host.binary;
  const INTERNAL = Symbol('mfbook.websocket');

  // States of an end (workerd's NativeState).
  const PENDING = 0; // AwaitingAcceptanceOrCoupling: from a WebSocketPair or a response
  const CONNECTING = 1; // AwaitingConnection: `new WebSocket(url)`
  const ACCEPTED = 2; // accept(): events fire on the object
  const HIBERNATABLE = 3; // ctx.acceptWebSocket(): the object's handlers receive its frames
  const RELEASED = 4; // returned in a response, or connection failed

  const NOT_ACCEPTED = 'You must call one of accept() or state.acceptWebSocket() on this ' +
    'WebSocket before sending messages.';

  /** Ends accepted with accept() in this isolate, by number: they get dispatched events. */
  const live = new SafeMap();

  function define(name, value) {
    Object.defineProperty(globalThis, name, {
      value, writable: true, configurable: true, enumerable: false,
    });
  }

  const sockets = {
    tag: (payload) => payload,
  };
  function hostCall(op, payload) {
    return host.call(op, sockets.tag(payload));
  }

  // ---------------------------------------------------------------------------------------
  // Events

  class MessageEvent extends Event {
    #data;
    constructor(type, init) {
      super(type, init);
      this.#data = init !== undefined && init !== null && 'data' in init ? init.data : null;
    }
    get data() { return this.#data; }
    get [Symbol.toStringTag]() { return 'MessageEvent'; }
  }

  class CloseEvent extends Event {
    #code;
    #reason;
    #wasClean;
    constructor(type, init) {
      super(type, init);
      const fields = init === undefined || init === null ? {} : init;
      this.#code = fields.code === undefined ? 0 : Number(fields.code) | 0;
      this.#reason = fields.reason === undefined ? '' : String(fields.reason);
      this.#wasClean = fields.wasClean === undefined ? false : !!fields.wasClean;
    }
    get code() { return this.#code; }
    get reason() { return this.#reason; }
    get wasClean() { return this.#wasClean; }
    get [Symbol.toStringTag]() { return 'CloseEvent'; }
  }

  class ErrorEvent extends Event {
    #message;
    #error;
    constructor(type, init) {
      super(type, init);
      const fields = init === undefined || init === null ? {} : init;
      this.#message = fields.message === undefined ? '' : String(fields.message);
      this.#error = fields.error;
    }
    get message() { return this.#message; }
    get error() { return this.#error; }
    get filename() { return ''; }
    get lineno() { return 0; }
    get colno() { return 0; }
    get [Symbol.toStringTag]() { return 'ErrorEvent'; }
  }

  // ---------------------------------------------------------------------------------------
  // WebSocket

  function toBinary(message) {
    if (message instanceof ArrayBuffer) return bin.toBinaryString(new Uint8Array(message));
    if (ArrayBuffer.isView(message)) {
      return bin.toBinaryString(new Uint8Array(message.buffer, message.byteOffset, message.byteLength));
    }
    return null;
  }

  function checkProtocol(token, message) {
    if (typeof token !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(token)) {
      throw new DOMException('WebSocket Constructor: ' + message, 'SyntaxError');
    }
  }

  class WebSocket extends EventTarget {
    #id = 0;
    #state = PENDING;
    #peer = null; // the other WebSocket object of a pair made in this isolate
    #closedOutgoing = false;
    #closedIncoming = false;
    #error = false;
    #url = null;
    #protocol = '';
    #extensions = '';
    #attachment = null; // value codec text

    constructor(url, protocols) {
      super();
      if (url === INTERNAL) {
        const fields = protocols;
        this.#id = fields.id;
        this.#state = fields.state;
        if (fields.attachment !== undefined) this.#attachment = fields.attachment;
        if (fields.closedOutgoing) this.#closedOutgoing = true;
        if (fields.closedIncoming) this.#closedIncoming = true;
        return;
      }
      if (arguments.length === 0) {
        throw new TypeError("Failed to construct 'WebSocket': 1 argument required, but only 0 present.");
      }
      this.#connect(String(url), protocols);
    }

    #connect(url, protocols) {
      let parsed;
      try {
        parsed = new URL(url);
      } catch {
        throw new DOMException('WebSocket Constructor: The url is invalid.', 'SyntaxError');
      }
      if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
        throw new DOMException('WebSocket Constructor: The url scheme must be ws or wss.', 'SyntaxError');
      }
      if (parsed.hash !== '' || url.includes('#')) {
        throw new DOMException('WebSocket Constructor: The url fragment must be empty.', 'SyntaxError');
      }
      const headers = { Upgrade: 'websocket' };
      if (protocols !== undefined) {
        if (typeof protocols === 'string') {
          checkProtocol(protocols, 'The protocol header token is invalid.');
          headers['Sec-WebSocket-Protocol'] = protocols;
        } else {
          const list = Array.from(protocols, String);
          if (list.length === 0) {
            throw new DOMException('WebSocket Constructor: The protocols array cannot be empty.', 'SyntaxError');
          }
          const seen = new Set();
          for (const token of list) {
            checkProtocol(token, 'One of the protocol header tokens is invalid.');
            if (seen.has(token)) {
              throw new DOMException('WebSocket Constructor: The protocols header cannot have repeating values.', 'SyntaxError');
            }
            seen.add(token);
          }
          headers['Sec-WebSocket-Protocol'] = list.join(', ');
        }
      }
      this.#state = CONNECTING;
      this.#url = url;
      parsed.protocol = parsed.protocol === 'ws:' ? 'http:' : 'https:';
      globalThis.fetch(parsed.href, { headers }).then((response) => {
        if (this.#state !== CONNECTING) return; // closed before it connected
        const other = response.webSocket;
        if (response.status !== 101 || other === null) {
          throw new TypeError('Failed to establish the WebSocket connection: expected server to reply ' +
            'with HTTP status code 101 (switching protocols), but received ' + response.status + ' instead.');
        }
        this.#id = other.#id;
        other.#state = RELEASED;
        this.#protocol = response.headers.get('sec-websocket-protocol');
        this.#extensions = response.headers.get('sec-websocket-extensions');
        hostCall('ws.accept', { s: this.#id });
        this.#state = ACCEPTED;
        live.set(this.#id, this);
        this.dispatchEvent(new Event('open'));
      }).catch((error) => {
        if (this.#state !== CONNECTING) return;
        this.#state = RELEASED;
        this.#closedIncoming = true;
        this.#error = true;
        this.dispatchEvent(new ErrorEvent('error', { message: String(error && error.message), error }));
        this.dispatchEvent(new CloseEvent('close', {
          code: 1006, reason: 'Failed to establish websocket connection', wasClean: false,
        }));
      });
    }

    accept() {
      if (this.#state === CONNECTING) {
        throw new TypeError("Websockets obtained from the 'new WebSocket()' constructor cannot call accept");
      }
      if (this.#state === RELEASED) {
        throw new TypeError("Can't accept() WebSocket that was already used in a response.");
      }
      if (this.#state === HIBERNATABLE) {
        throw new TypeError("Can't accept() WebSocket after enabling hibernation.");
      }
      if (this.#state === ACCEPTED) return;
      hostCall('ws.accept', { s: this.#id });
      this.#state = ACCEPTED;
      live.set(this.#id, this);
    }

    send(message) {
      if (arguments.length === 0) {
        throw new TypeError("Failed to execute 'send' on 'WebSocket': 1 argument required, but only 0 present.");
      }
      if (this.#closedOutgoing) throw new TypeError("Can't call WebSocket send() after close().");
      if (this.#state === RELEASED || this.#error) return; // the connection is gone: ignored
      if (this.#state !== ACCEPTED && this.#state !== HIBERNATABLE) throw new TypeError(NOT_ACCEPTED);
      const binary = toBinary(message);
      hostCall('ws.send', binary === null ? { s: this.#id, t: String(message) } : { s: this.#id, b: binary });
    }

    close(code, reason) {
      if (this.#state === CONNECTING) {
        this.#state = RELEASED; // cancels the connection attempt
        return;
      }
      if (this.#closedOutgoing || this.#state === RELEASED || this.#error) return;
      if (this.#state !== ACCEPTED && this.#state !== HIBERNATABLE) throw new TypeError(NOT_ACCEPTED);
      let closeCode = null;
      if (code !== undefined) {
        closeCode = Math.trunc(Number(code));
        if (!(closeCode >= 1000 && closeCode < 5000) || closeCode === 1004 || closeCode === 1005 ||
            closeCode === 1006 || closeCode === 1015) {
          throw new TypeError('Invalid WebSocket close code: ' + (Number.isFinite(closeCode) ? closeCode : 0) + '.');
        }
      }
      if (reason !== undefined && code === undefined) {
        throw new TypeError('If you specify a WebSocket close reason, you must also specify a code.');
      }
      hostCall('ws.close', { s: this.#id, c: closeCode, r: reason === undefined ? '' : String(reason) });
      this.#closedOutgoing = true;
      if (this.#closedIncoming) live.delete(this.#id);
    }

    serializeAttachment(value) {
      const text = value === undefined ? codec.encode(undefined) : codec.encode(value);
      hostCall('ws.attach', { s: this.#id, v: text });
      this.#attachment = text;
    }

    deserializeAttachment() {
      return this.#attachment === null ? null : codec.decode(this.#attachment);
    }

    get readyState() {
      if ((this.#closedIncoming && this.#closedOutgoing) || this.#error) return 3;
      if (this.#closedIncoming || this.#closedOutgoing) return 2;
      if (this.#state === CONNECTING) return 0;
      return 1;
    }
    get url() { return this.#url; }
    get protocol() { return this.#protocol; }
    get extensions() { return this.#extensions; }
    get [Symbol.toStringTag]() { return 'WebSocket'; }

    static {
      const internals = {
        pair() {
          const [first, second] = host.call('ws.pair');
          const a = new WebSocket(INTERNAL, { id: first, state: PENDING });
          const b = new WebSocket(INTERNAL, { id: second, state: PENDING });
          a.#peer = b;
          b.#peer = a;
          return [a, b];
        },
        toWire(ws) {
          if (!(ws instanceof WebSocket)) {
            throw new TypeError("Failed to construct 'Response': member webSocket is not of type WebSocket.");
          }
          const state = ws.#state;
          if (state === CONNECTING) {
            throw new TypeError("Can't return WebSocket in a Response if it was created with `new WebSocket()`");
          }
          if (state === RELEASED) throw new TypeError("Can't return WebSocket that was already used in a response.");
          if (state === HIBERNATABLE) {
            throw new TypeError("Can't return WebSocket in a Response after calling acceptWebSocket().");
          }
          if (state === ACCEPTED) throw new TypeError("Can't return WebSocket in a Response after calling accept().");
          hostCall('ws.release', { s: ws.#id });
          ws.#state = RELEASED;
          return ws.#id;
        },
        fromWire(id) {
          hostCall('ws.adopt', { s: id });
          return new WebSocket(INTERNAL, { id, state: PENDING });
        },
        dispatch(event) {
          const ws = live.get(event.s);
          if (ws !== undefined) internals.fire(ws, event);
        },
        fire(ws, event) {
          const data = internals.receive(ws, event);
          if (event.t === 'c') {
            if (ws.#closedOutgoing) live.delete(ws.#id);
            ws.dispatchEvent(new CloseEvent('close', data));
          } else if (event.t === 'e') {
            live.delete(ws.#id);
            ws.dispatchEvent(new ErrorEvent('error', { message: data.message, error: data }));
          } else {
            ws.dispatchEvent(new MessageEvent('message', { data }));
          }
        },
        receive(ws, event) {
          if (event.t === 'm') return event.d;
          if (event.t === 'b') return bin.fromBinaryString(event.d).buffer;
          if (event.t === 'c') {
            ws.#closedIncoming = true;
            return { code: event.code, reason: event.reason, wasClean: event.clean };
          }
          ws.#error = true;
          return new Error(event.message);
        },
        hibernated(id, info) {
          return new WebSocket(INTERNAL, {
            id, state: HIBERNATABLE, attachment: info[0], closedOutgoing: info[1], closedIncoming: info[2],
          });
        },
        acceptHibernatable(ws, actorKey, tags) {
          if (ws.#state === ACCEPTED || ws.#state === HIBERNATABLE) {
            throw new Error('Cannot call `acceptWebSocket()` if the WebSocket was already accepted via `accept()`');
          }
          const peer = ws.#peer;
          if (ws.#state !== PENDING || (peer !== null && peer.#state !== PENDING)) {
            throw new Error('Cannot call `acceptWebSocket()` on this WebSocket because its pair has already been ' +
              'accepted or used in a Response.');
          }
          hostCall('ws.acceptHibernatable', { s: ws.#id, a: actorKey, tags });
          ws.#state = HIBERNATABLE;
        },
        idOf(ws) { return ws.#id; },
        isWebSocket(value) { return value instanceof WebSocket; },
        isHibernatable(ws) { return ws.#state === HIBERNATABLE; },
        isAccepted(ws) { return ws.#state === ACCEPTED || ws.#state === HIBERNATABLE; },
      };
      Object.assign(sockets, internals);
    }
  }
  for (const [name, value] of [['READY_STATE_CONNECTING', 0], ['CONNECTING', 0], ['READY_STATE_OPEN', 1],
    ['OPEN', 1], ['READY_STATE_CLOSING', 2], ['CLOSING', 2], ['READY_STATE_CLOSED', 3], ['CLOSED', 3]]) {
    Object.defineProperty(WebSocket, name, { value, enumerable: true });
    Object.defineProperty(WebSocket.prototype, name, { value, enumerable: true });
  }

  // ---------------------------------------------------------------------------------------
  // WebSocketPair, WebSocketRequestResponsePair

  class WebSocketPair {
    constructor() {
      const [first, second] = sockets.pair();
      Object.defineProperty(this, 0, { value: first, enumerable: true });
      Object.defineProperty(this, 1, { value: second, enumerable: true });
    }
    *[Symbol.iterator]() {
      yield this[0];
      yield this[1];
    }
    get [Symbol.toStringTag]() { return 'WebSocketPair'; }
  }

  class WebSocketRequestResponsePair {
    #request;
    #response;
    constructor(request, response) {
      if (arguments.length < 2) {
        throw new TypeError("Failed to construct 'WebSocketRequestResponsePair': 2 arguments required, but only " +
          arguments.length + ' present.');
      }
      this.#request = String(request);
      this.#response = String(response);
    }
    get request() { return this.#request; }
    get response() { return this.#response; }
    get [Symbol.toStringTag]() { return 'WebSocketRequestResponsePair'; }
  }

  host.webSockets = sockets;
  define('WebSocket', WebSocket);
  define('WebSocketPair', WebSocketPair);
  define('WebSocketRequestResponsePair', WebSocketRequestResponsePair);
  define('MessageEvent', MessageEvent);
  define('CloseEvent', CloseEvent);
  define('ErrorEvent', ErrorEvent);
})(globalThis.__mfHost);
