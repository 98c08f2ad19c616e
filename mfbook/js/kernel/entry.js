// mfbook isolate kernel, part "entry": The kernel's entry points, called by Python (`__mfKernel`):
// one call is one delivery.
// Parts share one namespace `K` (kernel/base.js); names defined by a later part are read as
// `K.name` when used, so that load order does not matter.
(function (K) {
  "use strict";
  const {
    DurableObject,
    MSG,
    RESOLVED,
    actors,
    append,
    beginDelivery,
    cacheClear,
    cacheWrite,
    call,
    codec,
    complete,
    entrypointFetch,
    entrypointRpc,
    fetchApi,
    getActor,
    host,
    invoke,
    makeEnv,
    parse,
    parseTarget,
    rejected,
    requireModule,
    resolved,
    responseToHost,
    runEntryFetch,
    startInObject,
    stringify,
    then,
    fireTimer,
    setLineMap,
    defineModule,
  } = K;

  const kernel = {
    setLineMap,
    defineModule,
    ...K.webSocketEntries, // wsEvent, hibernateActor (kernel/websockets.js)

    /** Sets up the worker once its code is loaded. `config` is JSON. */
    loadWorker(configText) {
      const config = parse(configText);
      Object.assign(MSG, config.messages);
      const env = makeEnv(config.bindings);
      if (!config.modules) {
        // Service-worker scripts see their bindings as globals (as in the Workers runtime).
        for (const [name, value] of Object.entries(env)) {
          Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
        }
      }
      let exports = Object.create(null);
      if (config.modules) exports = requireModule(config.main);
      K.worker = { modules: config.modules, exports, env, name: config.name };
      const classes = {};
      for (const [name, value] of Object.entries(exports)) {
        if (typeof value === "function") {
          classes[name] = {
            alarm: typeof value.prototype?.alarm === "function",
            fetch: typeof value.prototype?.fetch === "function",
            rpc: value.prototype instanceof DurableObject,
          };
        }
      }
      return stringify({ exports: Object.keys(exports), classes });
    },

    seed(hexSeed) {
      host.seed(hexSeed);
    },

    /** Delivers a fetch event: to the worker (target null) or to an object. */
    fetch(eventId, targetText, wireText, depth) {
      beginDelivery(depth);
      let promise;
      let actor;
      try {
        const wire = parse(wireText);
        const request = fetchApi.requestFromWire(wire);
        if (targetText === "") {
          promise = resolved(runEntryFetch(request));
          // A caller that reads the body as a stream (body_streams.js) sets `streamBody`.
          complete(eventId, promise, (value) => responseToHost(value, MSG.workerNotResponse, wire.streamBody));
          return;
        }
        const target = parseTarget(targetText);
        if ("entrypoint" in target) {
          promise = resolved(entrypointFetch(target.entrypoint, request));
          complete(eventId, promise, (value) => responseToHost(value, MSG.workerNotResponse));
          return;
        }
        actor = getActor(target);
        promise = startInObject(actor, () => {
          const instance = actor.instance;
          if (!instance || typeof instance.fetch !== "function") throw new Error(MSG.noObjectFetchHandler);
          return instance.fetch(request);
        });
      } catch (error) {
        promise = rejected(error);
      }
      complete(eventId, promise, (value) => responseToHost(value, MSG.objectNotResponse), actor);
    },

    /** Delivers an RPC call to an object; args and result use the value codec. */
    rpc(eventId, targetText, method, argsText, depth) {
      beginDelivery(depth);
      let promise;
      let actor;
      try {
        const target = parseTarget(targetText);
        if ("entrypoint" in target) {
          promise = then(RESOLVED, () => entrypointRpc(target.entrypoint, method, argsText));
          complete(eventId, promise, (value) => K.encodeForRpc(value, null), undefined, K.rpcEnvelope);
          return;
        }
        actor = getActor(target);
        promise = startInObject(actor, () => invoke(actor, "rpc", argsText, method));
      } catch (error) {
        promise = rejected(error);
      }
      complete(eventId, promise, (value) => K.encodeForRpc(value, actor), actor, K.rpcEnvelope);
    },

    /** Delivers an alarm to an object. */
    alarm(eventId, targetText, infoText, depth) {
      beginDelivery(depth);
      let promise;
      let actor;
      try {
        const info = parse(infoText);
        actor = getActor(parseTarget(targetText));
        promise = startInObject(actor, () => {
          const instance = actor.instance;
          if (!instance || typeof instance.alarm !== "function") throw new Error(MSG.noAlarmHandlerDefined);
          return instance.alarm(info);
        });
      } catch (error) {
        promise = rejected(error);
      }
      complete(eventId, promise, () => null, actor);
    },

    /** Another writer changed an object's storage: forget its cached values. */
    invalidate(key) {
      const actor = actors.get(key);
      if (actor !== undefined) cacheClear(actor);
    },

    /** A transaction of the object committed: its writes (`[[key, text | null], ...]`) become cached. */
    cacheStore(key, entriesText) {
      const actor = actors.get(key);
      if (actor !== undefined) cacheWrite(actor, parse(entriesText));
    },

    /**
     * A live object's own enumerable fields for tests (`[[name, codec text | null, type]]` as
     * JSON; "" when the object has no instance). Values the codec cannot clone, `ctx` and `env`
     * are left as null with their constructor's name; a throwing getter is reported the same way.
     */
    instanceState(key) {
      const actor = actors.get(key);
      const instance = actor?.instance;
      if (!instance) return "";
      const fields = [];
      for (const name of Object.keys(instance)) {
        let value;
        let text = null;
        try {
          value = instance[name];
          // The runtime's own objects (ctx, env) would clone as empty shells: name them instead.
          if (value !== actor.state && value !== K.worker.env) text = codec.encode(value);
        } catch {
          // left as null: not cloneable (or its getter threw)
        }
        const type = value === null || value === undefined ? String(value) : value.constructor?.name ?? typeof value;
        append(fields, [name, text, type]);
      }
      return stringify(fields);
    },

    /** Forgets an object instance (reset after a reload or a broken output gate). */
    dropActor(key) {
      actors.delete(key);
      K.dropExports(key);
    },

    /** Settles several host operations: `[[id, ok, value], ...]` as JSON. */
    settle(batchText, depth) {
      beginDelivery(depth);
      const batch = parse(batchText);
      for (let i = 0; i < batch.length; i++) {
        const [id, ok, value] = batch[i];
        host.settle(id, ok, value);
      }
    },

    fireTimer(timerId, depth) {
      beginDelivery(depth);
      fireTimer(timerId);
    },

    /** Reads the next chunk of a response body handed over as a stream (body_streams.js). */
    pullBody(eventId, targetText, streamId, depth) {
      beginDelivery(depth);
      complete(eventId, host.bodyStreams.pull(streamId), (value) => value);
    },

    /** Cancels a response body stream its reader gave up on: the stream's cancel() runs. */
    cancelBody(eventId, targetText, streamId, depth) {
      beginDelivery(depth);
      complete(eventId, host.bodyStreams.cancel(streamId, "The reader cancelled the response body."), () => null);
    },

    flush: host.flush,

    /** How many host operations this isolate still awaits (0: only timers or new events can wake it). */
    pendingOps() {
      return host.pendingCount();
    },
  };

  Object.defineProperty(globalThis, "__mfKernel", { value: kernel, configurable: true, writable: true });
  // The internals stay reachable only through the closures above.
  delete globalThis.__mfHost;
  delete globalThis.__mfCodec;
  delete globalThis.__mfIntrinsics;
  delete globalThis.__mfKernelParts;
})(globalThis.__mfKernelParts);

