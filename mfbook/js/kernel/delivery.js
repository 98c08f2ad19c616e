// mfbook isolate kernel, part "delivery": Delivery context and direct calls: which request an
// operation belongs to, and stub calls
// into an idle object of this isolate answered without a round trip through Python.
// Parts share one namespace `K` (kernel/base.js); names defined by a later part are read as
// `K.name` when used, so that load order does not matter.
(function (K) {
  "use strict";
  const {
    MSG,
    Promise,
    RESOLVED,
    SafeSet,
    actors,
    append,
    codec,
    decodeValue,
    envelopeFromError,
    errorFromEnvelope,
    fetchApi,
    host,
    rejected,
    responseFromHost,
    then,
  } = K;

  // ---------------------------------------------------------------- delivery context
  // Python attributes every host operation to the context of the delivery it came from
  // (docs/ARCHITECTURE.md). A *direct call* (a stub call into an idle object of this same
  // isolate, run without a round trip through Python) puts a second context into one
  // delivery; operations made while it is pending carry its id `d` so that Python can
  // attribute them to it. `running` is exact while the callee runs synchronously; after its
  // first await the innermost direct call still pending in this delivery is assumed.
  let deliveryNo = 0;
  let deliveryDepth = 1;
  let running = null;
  let openDirect = [];
  let nextDirectId = 1;

  function beginDelivery(depth) {
    deliveryNo++;
    deliveryDepth = typeof depth === "number" ? depth : 1;
    running = null;
    if (openDirect.length !== 0) openDirect = [];
  }

  function currentDirect() {
    if (running !== null) return running;
    const count = openDirect.length;
    return count === 0 ? null : openDirect[count - 1];
  }

  function tag(payload) {
    const direct = currentDirect();
    if (direct !== null) payload.d = direct.id;
    return payload;
  }

  /** Tags an object's own operation with the direct call it is handling, if any. */
  function ownedBy(actor, payload) {
    if (actor.direct !== 0) {
      payload.d = actor.direct;
    } else if (running !== null && running.key === actor.key) {
      payload.d = running.id; // its constructor, run by a direct call
    }
    return payload;
  }

  /** Host op (tagged with the current direct call) whose rejection becomes a proper JS error. */
  function call(name, payload, transform) {
    return host.op(name, tag(payload), transform);
  }


  // ---------------------------------------------------------------- direct calls
  /**
   * Runs a stub call into an object of this isolate without a host round trip, when the
   * object is idle: no event of it in flight, no storage operation pending, no
   * blockConcurrencyWhile or transaction open. Then its input gate is open on the Python
   * side too, so nothing may be waiting for it. Returns null when the call must go through
   * Python (other isolate, busy object, depth limit: Python raises that error).
   *
   * Python still sees the call (`dstart`/`dend`, for the trace, request depth and output
   * gate) and the request and response are converted exactly as across the bridge.
   */
  const constructing = new SafeSet(); // objects a direct call is about to construct

  function directCall(spec, id, kind, payload, method) {
    if (spec === undefined || spec.local !== true || K.worker === null) return null;
    const hexId = id.toString();
    const key = spec.binding + ":" + hexId;
    const existing = actors.get(key);
    if (existing === undefined ? constructing.has(key) : existing.inflight !== 0 || existing.ops !== 0 || existing.blocking !== 0) {
      return null;
    }
    const parent = currentDirect();
    const depth = (parent === null ? deliveryDepth : parent.depth) + 1;
    if (depth > MSG.maxRequestDepth) return null;
    const record = { id: nextDirectId++, depth, delivery: deliveryNo, opId: 0, key };
    // Reserve the object now: a second call in this turn must not run beside this one.
    if (existing === undefined) {
      constructing.add(key);
    } else {
      existing.inflight++;
      existing.direct = record.id;
    }
    const start = { op: "dstart", d: record.id, binding: spec.binding, hex: hexId, kind };
    if (id.name !== undefined) start.name = id.name;
    if (parent !== null) start.p = parent.id;
    if (method !== undefined) start.method = method;
    // A note: Python learns of the call before any storage operation of it names it.
    host.note(start);
    const [opId, promise] = host.local(kind === "fetch" ? responseFromHost : K.decodeResult);
    record.opId = opId;
    append(openDirect, record);
    let actor = existing;

    const finish = (ok, value) => {
      if (actor !== undefined) {
        actor.inflight--;
        if (actor.direct === record.id) actor.direct = 0;
      }
      const index = openDirect.indexOf(record);
      if (index >= 0) openDirect.splice(index, 1);
      if (record.delivery === deliveryNo) {
        // Answered in the delivery that asked: settle here. Python flushes the object's
        // writes before it releases anything this delivery produced (the output gate).
        const end = { op: "dend", d: record.id, ok, local: true };
        if (ok && kind === "rpc") {
          const exports = K.takeExports(); // stubs the caller now holds: released when its request ends
          if (exports !== null) end.x = exports;
        }
        if (!ok) end.error = value.message;
        else if (kind === "fetch") end.status = value.status;
        host.emit(end);
        host.settle(opId, ok, value);
      } else {
        // A later delivery (another context): Python settles the caller in its own context.
        host.emit({ op: "dend", d: record.id, ok, id: opId, value });
      }
    };
    const fail = (error) => finish(false, kind === "fetch" ? envelopeFromError(error) : K.rpcEnvelope(error));
    const succeed = (value) => {
      let encoded;
      try {
        // A streamed body stays in this isolate: the caller reads it by id (body_streams.js).
        encoded = kind === "fetch" ? K.responseToHost(value, MSG.objectNotResponse, true) : K.encodeForRpc(value, actor);
      } catch (error) {
        fail(error);
        return;
      }
      if (encoded instanceof Promise) then(encoded, (wire) => finish(true, wire), fail);
      else finish(true, encoded);
    };

    // The callee starts in a job of its own (as if delivered), with `running` set while its
    // synchronous part runs.
    then(RESOLVED, () => {
      let result;
      const saved = running;
      running = record;
      try {
        if (actor === undefined) {
          try {
            actor = K.getActor({ key, binding: spec.binding, hex: hexId, cls: spec.cls, cache: spec.cache === true, remote: spec.remote === true, sql: spec.sql === true });
          } finally {
            constructing.delete(key);
          }
          actor.inflight++;
          actor.direct = record.id;
        }
        result =
          actor.blocking !== 0
            ? K.afterBlocked(actor, () => invoke(actor, kind, payload, method))
            : invoke(actor, kind, payload, method);
      } catch (error) {
        result = rejected(error);
      } finally {
        running = saved;
      }
      if (result instanceof Promise) then(result, succeed, fail);
      else succeed(result);
    });
    return promise;
  }

  /** Calls an object's fetch handler or RPC method (`payload`: request wire or encoded args). */
  function invoke(actor, kind, payload, method) {
    const instance = actor.instance;
    if (kind === "fetch") {
      if (!instance || typeof instance.fetch !== "function") throw new Error(MSG.noObjectFetchHandler);
      return instance.fetch(fetchApi.requestFromWire(payload));
    }
    if (!actor.rpc) throw new TypeError(MSG.rpcUnsupported);
    if (K.isCallSpec(method)) return K.invokeSpec(instance, method, payload); // kernel/rpc_targets.js
    const fn = instance[method];
    if (typeof fn !== "function" || method.startsWith("#") || method === "constructor" || !(method in Object.getPrototypeOf(instance) || Object.prototype.hasOwnProperty.call(instance, method))) {
      throw new TypeError(MSG.rpcNoMethod.replace("{method}", method));
    }
    return fn.apply(instance, K.decodeArgs(payload));
  }

  Object.assign(K, { beginDelivery, call, currentDirect, directCall, invoke, ownedBy, tag });
})(globalThis.__mfKernelParts);
