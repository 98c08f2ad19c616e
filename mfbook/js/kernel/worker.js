// mfbook isolate kernel, part "worker": The worker itself: env, service bindings, entrypoints,
// global fetch and event completion.
// Parts share one namespace `K` (kernel/base.js); names defined by a later part are read as
// `K.name` when used, so that load order does not matter.
(function (K) {
  "use strict";
  const {
    DurableObjectNamespace,
    MSG,
    Promise,
    SafeMap,
    WorkerEntrypoint,
    append,
    call,
    catchError,
    codec,
    decodeValue,
    envelopeFromError,
    fetchApi,
    host,
    rejected,
    resolved,
    responseFromHost,
    rpcProxy,
    then,
  } = K;

  // ---------------------------------------------------------------- worker state
  const fetchListeners = [];

  function reportBackground(error) {
    host.emit({ op: "background_error", error: envelopeFromError(error) });
  }

  function makeExecutionContext() {
    return {
      waitUntil(promise) {
        catchError(resolved(promise), (error) => reportBackground(error));
      },
      passThroughOnException() {},
      props: {},
    };
  }

  function makeEnv(bindings) {
    const env = {};
    for (const [name, spec] of Object.entries(bindings)) {
      if (spec.type === "var") env[name] = codec.decode(spec.value);
      else if (spec.type === "durable_object") env[name] = new DurableObjectNamespace(spec.binding || name, spec);
      else if (spec.type === "service") env[name] = makeServiceBinding(name);
    }
    return env;
  }

  /** `env.SERVICE`: `fetch()` into the bound worker, any other property is an RPC method. */
  function makeServiceBinding(name) {
    const target = {
      fetch(input, init) {
        try {
          const request = input instanceof Request && init === undefined ? input : new Request(input, init);
          const send = (wire) => call("service_fetch", { service: name, request: wire }, responseFromHost);
          const wire = fetchApi.requestToWire(request);
          return wire instanceof Promise ? then(wire, send) : send(wire);
        } catch (error) {
          return rejected(error);
        }
      },
    };
    return rpcProxy(target, (method, args) => call("service_rpc", { service: name, method, args }, K.decodeResult));
  }

  /** The class behind a service binding's entrypoint (`null`: the default export). */
  function entrypointClass(entrypoint) {
    const value = entrypoint === null ? K.worker.exports.default : K.worker.exports[entrypoint];
    if (entrypoint !== null && value === undefined) {
      throw new TypeError(`Worker has no entrypoint named "${entrypoint}".`);
    }
    return value;
  }

  /** RPC into a `WorkerEntrypoint` (a fresh instance per call, as the runtime does). */
  function entrypointRpc(entrypoint, method, argsText) {
    if (K.isExportCall(method)) return K.invokeSpec(null, method, argsText); // a stub of this worker's
    const cls = entrypointClass(entrypoint);
    if (typeof cls !== "function" || !(cls.prototype instanceof WorkerEntrypoint)) {
      throw new TypeError(
        `The RPC receiver does not support RPC, because its ${entrypoint === null ? "default export" : `entrypoint "${entrypoint}"`} ` +
          "was not declared with `extends WorkerEntrypoint`. In order to enable RPC, make sure it extends the special " +
          'class `WorkerEntrypoint`, which can be imported from the module "cloudflare:workers".'
      );
    }
    const instance = new cls(makeExecutionContext(), K.worker.env);
    if (K.isCallSpec(method)) return K.invokeSpec(instance, method, argsText); // kernel/rpc_targets.js
    const fn = instance[method];
    if (typeof fn !== "function" || method === "constructor" || method === "fetch" || !(method in cls.prototype) || method in Object.prototype) {
      throw new TypeError(MSG.rpcNoMethod.replace("{method}", method));
    }
    return fn.apply(instance, K.decodeArgs(argsText));
  }

  /** A fetch into a named `WorkerEntrypoint` of this worker. */
  function entrypointFetch(entrypoint, request) {
    const cls = entrypointClass(entrypoint);
    if (typeof cls === "function" && typeof cls.prototype?.fetch === "function") {
      return new cls(makeExecutionContext(), K.worker.env).fetch(request);
    }
    if (cls && typeof cls.fetch === "function") return cls.fetch(request, K.worker.env, makeExecutionContext());
    throw new Error(MSG.noWorkerFetchHandler);
  }

  // ---------------------------------------------------------------- outbound fetch
  function globalFetch(input, init) {
    try {
      const request = input instanceof Request && init === undefined ? input : new Request(input, init);
      return then(resolved(fetchApi.requestToWire(request)), (wire) =>
        then(call("fetch", { request: wire }), responseFromHost)
      );
    } catch (error) {
      return rejected(error);
    }
  }
  Object.defineProperty(globalThis, "fetch", { value: globalFetch, writable: true, configurable: true });
  Object.defineProperty(globalThis, "addEventListener", {
    value(type, listener) {
      if (type === "fetch" && typeof listener === "function") append(fetchListeners, listener);
    },
    writable: true,
    configurable: true,
  });

  // ---------------------------------------------------------------- event completion
  /** Reports an event's outcome; `actor` (whose `inflight` the caller raised) is released. */
  function complete(eventId, promise, encode, actor, toEnvelope = envelopeFromError) {
    if (actor !== undefined) {
      const release = () => {
        actor.inflight--;
      };
      then(promise, release, release);
    }
    then(promise, 
      (value) => {
        let payload;
        try {
          payload = encode(value);
        } catch (error) {
          host.emit({ op: "done", ev: eventId, ok: false, error: toEnvelope(error) });
          return;
        }
        if (payload instanceof Promise) {
          then(payload, 
            (resolved) => host.emit({ op: "done", ev: eventId, ok: true, value: resolved }),
            (error) => host.emit({ op: "done", ev: eventId, ok: false, error: toEnvelope(error) })
          );
        } else {
          host.emit({ op: "done", ev: eventId, ok: true, value: payload });
        }
      },
      (error) => host.emit({ op: "done", ev: eventId, ok: false, error: toEnvelope(error) })
    );
  }

  // `streamed`: a stream body is handed over by id, not read here (prelude/body_streams.js).
  function responseToHost(value, notResponseMessage, streamed) {
    if (!fetchApi.isResponse(value)) throw new TypeError(notResponseMessage);
    return fetchApi.responseToWire(value, streamed === true ? host.bodyStreams.register : undefined);
  }

  function runEntryFetch(request) {
    if (K.worker.modules) {
      const handler = K.worker.exports.default;
      if (typeof handler === "function" && typeof handler.prototype?.fetch === "function") {
        // A class default export (`extends WorkerEntrypoint`): one instance per request.
        const instance = new handler(makeExecutionContext(), K.worker.env);
        return instance.fetch(request);
      }
      if (!handler || typeof handler.fetch !== "function") {
        throw new Error(MSG.noWorkerFetchHandler);
      }
      return handler.fetch(request, K.worker.env, makeExecutionContext());
    }
    if (fetchListeners.length === 0) throw new Error(MSG.noWorkerFetchHandler);
    let responded = null;
    const event = {
      type: "fetch",
      request,
      respondWith(response) {
        if (responded !== null) throw new Error("FetchEvent.respondWith() has already been called.");
        responded = resolved(response);
      },
      waitUntil(promise) {
        catchError(resolved(promise), (error) => reportBackground(error));
      },
      passThroughOnException() {},
    };
    for (const listener of fetchListeners) {
      listener.call(globalThis, event);
      if (responded !== null) break;
    }
    if (responded === null) throw new Error(MSG.noResponse);
    return responded;
  }

  Object.assign(K, { complete, entrypointFetch, entrypointRpc, makeEnv, reportBackground, responseToHost, runEntryFetch });
})(globalThis.__mfKernelParts);
