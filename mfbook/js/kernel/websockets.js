// mfbook isolate kernel, part "websockets": incoming WebSocket frames (the `wsEvent` entry) and
// the hibernation API of `DurableObjectState` (acceptWebSocket, getWebSockets, getTags,
// auto-responses). The sockets themselves are prelude/websocket.js; the host keeps every end,
// its tags and attachment (mfbook/websocket_hub.py), so an object evicted while hibernating
// (`hibernateActor`) gets its sockets back as new WebSocket objects when it is constructed again.
// Parts share one namespace `K` (kernel/base.js); names defined by a later part are read as
// `K.name` when used, so that load order does not matter.
(function (K) {
  "use strict";
  const { SafeMap, actors, beginDelivery, catchError, getActor, host, parse, parseTarget, rejected, startInObject, tag, then } =
    K;
  const sockets = host.webSockets;
  // Socket operations made by a direct call's code belong to that call (kernel/delivery.js);
  // `o` names its object, for when the host has not seen the call's start yet.
  sockets.tag = (payload) => {
    const direct = K.currentDirect();
    if (direct !== null) {
      payload.d = direct.id;
      payload.o = direct.key;
    }
    return payload;
  };

  const MAX_AUTO_RESPONSE_BYTES = 2048;
  const utf8Length = (text) => K.textEncoder.encode(text).length;

  function requireSocket(ws, method) {
    if (!sockets.isWebSocket(ws)) {
      throw new TypeError(`Failed to execute '${method}' on 'DurableObjectState': parameter 1 is not of type 'WebSocket'.`);
    }
  }

  /** The object's WebSocket objects for its hibernatable ends (new ones after an eviction). */
  function socketOf(actor, id, info) {
    let known = actor.sockets;
    if (known === undefined) known = actor.sockets = new SafeMap();
    let ws = known.get(id);
    if (ws === undefined) {
      ws = sockets.hibernated(id, info);
      known.set(id, ws);
    }
    return ws;
  }

  const hibernationMethods = {
    acceptWebSocket(ws, tags) {
      requireSocket(ws, "acceptWebSocket");
      const actor = K.actorOfState(this);
      let list = [];
      if (tags !== undefined && tags !== null) {
        if (typeof tags === "string" || typeof tags[Symbol.iterator] !== "function") {
          throw new TypeError("Failed to execute 'acceptWebSocket' on 'DurableObjectState': parameter 2 is not of type 'Array'.");
        }
        list = Array.from(tags, String);
      }
      sockets.acceptHibernatable(ws, actor.key, list);
      let known = actor.sockets;
      if (known === undefined) known = actor.sockets = new SafeMap();
      known.set(sockets.idOf(ws), ws);
    },
    getWebSockets(tagFilter) {
      const actor = K.actorOfState(this);
      const rows = host.call("ws.list", tag({ a: actor.key, tag: tagFilter === undefined ? null : String(tagFilter) }));
      return rows.map((row) => socketOf(actor, row[0], [row[1], row[2], row[3]]));
    },
    getTags(ws) {
      requireSocket(ws, "getTags");
      if (!sockets.isAccepted(ws)) {
        throw new Error("you must call 'acceptWebSocket()' before attempting to access the tags of a WebSocket.");
      }
      if (!sockets.isHibernatable(ws)) throw new Error("only hibernatable websockets can have tags.");
      return host.call("ws.tags", tag({ s: sockets.idOf(ws) }));
    },
    setWebSocketAutoResponse(pair) {
      const actor = K.actorOfState(this);
      if (pair === undefined || pair === null) {
        host.call("ws.autoSet", tag({ a: actor.key, q: null }));
        return;
      }
      if (!(pair instanceof WebSocketRequestResponsePair)) {
        throw new TypeError(
          "Failed to execute 'setWebSocketAutoResponse' on 'DurableObjectState': parameter 1 is not of type 'WebSocketRequestResponsePair'."
        );
      }
      const request = pair.request;
      const response = pair.response;
      const requestSize = utf8Length(request);
      const responseSize = utf8Length(response);
      if (requestSize > MAX_AUTO_RESPONSE_BYTES) {
        throw new RangeError(
          `Request cannot be larger than ${MAX_AUTO_RESPONSE_BYTES} bytes. A request of size ${requestSize} was provided.`
        );
      }
      if (responseSize > MAX_AUTO_RESPONSE_BYTES) {
        throw new RangeError(
          `Response cannot be larger than ${MAX_AUTO_RESPONSE_BYTES} bytes. A response of size ${responseSize} was provided.`
        );
      }
      host.call("ws.autoSet", tag({ a: actor.key, q: request, r: response }));
    },
    getWebSocketAutoResponse() {
      const actor = K.actorOfState(this);
      const pair = host.call("ws.autoGet", tag({ a: actor.key }));
      return pair === null ? null : new WebSocketRequestResponsePair(pair[0], pair[1]);
    },
    getWebSocketAutoResponseTimestamp(ws) {
      requireSocket(ws, "getWebSocketAutoResponseTimestamp");
      const ms = host.call("ws.autoTime", tag({ s: sockets.idOf(ws) }));
      return ms === null ? null : new Date(ms);
    },
    setHibernatableWebSocketEventTimeout(timeoutMs) {
      if (timeoutMs !== undefined && timeoutMs !== null && Number(timeoutMs) > 604800 * 1000) {
        throw new Error("Event timeout should not exceed 604800000 ms.");
      }
      K.actorOfState(this).eventTimeout = timeoutMs ? Number(timeoutMs) : null;
    },
    getHibernatableWebSocketEventTimeout() {
      const timeout = K.actorOfState(this).eventTimeout;
      return timeout === undefined ? null : timeout;
    },
  };
  for (const [name, method] of Object.entries(hibernationMethods)) {
    Object.defineProperty(K.DurableObjectState.prototype, name, { value: method, writable: true, configurable: true });
  }

  /** Runs the object's handler for a frame of one of its hibernatable sockets. */
  function runHandler(actor, event) {
    const ws = socketOf(actor, event.s, event.h);
    const data = sockets.receive(ws, event);
    const instance = actor.instance;
    if (event.t === "c") {
      if (typeof instance.webSocketClose === "function") {
        return instance.webSocketClose(ws, data.code, data.reason, data.wasClean);
      }
    } else if (event.t === "e") {
      if (typeof instance.webSocketError === "function") return instance.webSocketError(ws, data);
    } else if (typeof instance.webSocketMessage === "function") {
      return instance.webSocketMessage(ws, data);
    }
    return undefined;
  }

  K.webSocketEntries = {
    /**
     * Delivers one frame to the end it is for: a hibernatable socket's object handler (the
     * object is constructed first if it was evicted), or the socket's listeners.
     */
    wsEvent(targetText, eventText, depth) {
      beginDelivery(depth);
      const event = parse(eventText);
      let promise;
      let actor;
      try {
        if (event.h === undefined) {
          sockets.dispatch(event);
          return;
        }
        actor = getActor(parseTarget(targetText));
        promise = startInObject(actor, () => runHandler(actor, event));
      } catch (error) {
        promise = rejected(error);
      }
      const release = () => {
        if (actor !== undefined) actor.inflight--;
        // The host keeps a finished socket until its handlers ran (getTags in a late webSocketClose).
        try {
          host.call("ws.handled", tag({ s: event.s }));
        } catch {
          // the socket is gone already (its worker was replaced)
        }
      };
      then(promise, release, release);
      catchError(promise, (error) => K.reportBackground(error));
    },

    /** Drops an object's instance for hibernation unless it is busy (between deliveries). */
    hibernateActor(key) {
      const actor = actors.get(key);
      if (actor === undefined) return true;
      if (actor.inflight !== 0 || actor.ops !== 0 || actor.blocking !== 0) return false;
      actors.delete(key);
      return true;
    },
  };
})(globalThis.__mfKernelParts);
