// Fetch API for the mfbook prelude, part "bridge": Request and Response to and from the wire;
// the globals.
// Parts share `host.fetchParts` (fetch_headers.js describes them and the bridge API).
(function (host, F) {
  'use strict';
  const {
    bin, INTERNAL, BODY_USED, STREAM_LOCKED, define, Headers, FormData, newState, NULL_STATE,
    isUsed, asBinary, consume, bodyState, wireHeaders, wireToList, requestFields, Request,
    defaultStatusText, responseFields, Response
  } = F;
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
  delete host.fetchParts;  // every part has taken what it needs
})(globalThis.__mfHost, globalThis.__mfHost.fetchParts);
