// mfbook isolate kernel, part "objects": Durable Object instances: their `ctx`, construction, and
// events waiting for
// blockConcurrencyWhile().
// Parts share one namespace `K` (kernel/base.js); names defined by a later part are read as
// `K.name` when used, so that load order does not matter.
(function (K) {
  "use strict";
  const {
    DurableObject,
    DurableObjectId,
    DurableObjectStorage,
    SafeMap,
    actors,
    call,
    catchError,
    hex,
    host,
    ownedBy,
    parse,
    rejected,
    resolved,
    then,
  } = K;

  // ---------------------------------------------------------------- durable object state
  class DurableObjectState {
    #actor;
    constructor(actor) {
      this.#actor = actor;
      this.id = new DurableObjectId(actor.binding, actor.hex);
      this.storage = new DurableObjectStorage(actor);
    }
    waitUntil(promise) {
      catchError(resolved(promise), (error) => K.reportBackground(error));
    }
    blockConcurrencyWhile(callback) {
      const actor = this.#actor;
      const bcw = (payload) => host.op("bcw", ownedBy(actor, payload), undefined, actor);
      actor.blocking++;
      actor.bcw++;
      const run = async () => {
        try {
          const section = await bcw({ a: actor.key, phase: "begin" });
          try {
            return await callback();
          } finally {
            await bcw({ a: actor.key, phase: "end", section });
          }
        } finally {
          actor.blocking--;
          actor.bcw--;
        }
      };
      const promise = run();
      actor.blocked = then(actor.blocked, 
        () => then(promise, () => undefined, () => undefined)
      );
      return promise;
    }
    // The WebSocket hibernation methods are added by kernel/websockets.js.
    static {
      K.DurableObjectState = this;
      K.actorOfState = (state) => state.#actor;
    }
    /** Resets the object: this event fails and the next one constructs a new instance. */
    abort(reason) {
      const actor = this.#actor;
      if (actors.get(actor.key) === actor) actors.delete(actor.key);
      K.dropExports(actor.key);
      if (host.syncCalls) host.call("object.abort", { a: actor.key }); // this event's writes never commit
      throw reason instanceof Error ? reason : new Error("Application called abort() to reset Durable Object.");
    }
  }



  function getActor(target) {
    let actor = actors.get(target.key);
    if (actor !== undefined) return actor;
    const cls = K.worker.exports[target.cls];
    if (typeof cls !== "function") throw new Error(`Class "${target.cls}" for Durable Object "${target.binding}" not found`);
    actor = {
      key: target.key,
      binding: target.binding,
      hex: target.hex,
      hasAlarm: typeof cls.prototype.alarm === "function",
      blocked: resolved(),
      instance: null,
      rpc: cls.prototype instanceof DurableObject,
      cache: target.cache ? new SafeMap() : null,
      // Storage on a network server (Redis): asked asynchronously, so that Python can let go
      // of the engine lock while it waits (mfbook/backend_waits.py).
      remote: target.remote === true,
      sql: target.sql === true,
      epoch: 0,
      inflight: 0, // events being handled (delivered by Python or direct calls)
      ops: 0, // storage and blockConcurrencyWhile operations awaiting the host
      blocking: 0, // open blockConcurrencyWhile callbacks and transactions
      bcw: 0, // open blockConcurrencyWhile callbacks alone
      direct: 0, // id of the direct call it is handling, if any
    };
    const state = new DurableObjectState(actor);
    actor.state = state;
    actors.set(target.key, actor);
    // A new session: a restore asked for by onNextSessionRestoreBookmark() happens now.
    if (actor.sql && host.syncCalls) host.call("object.session", { a: actor.key });
    try {
      actor.instance = new cls(state, K.worker.env);
    } catch (error) {
      actors.delete(target.key);
      throw error;
    }
    return actor;
  }

  function afterBlocked(actor, run) {
    // Events wait for blockConcurrencyWhile() started in the constructor (or earlier). When it
    // ends, the first waiting event may start another one: the others check again and keep
    // waiting, one callback at a time (else every waiting callback would start at once).
    return then(actor.blocked, () => (actor.bcw !== 0 ? afterBlocked(actor, run) : run()));
  }

  /** Starts an event in an object: at once, or after an open blockConcurrencyWhile(). */
  function startInObject(actor, run) {
    actor.inflight++;
    if (actor.blocking !== 0) return afterBlocked(actor, run);
    try {
      return resolved(run());
    } catch (error) {
      return rejected(error);
    }
  }

  // Targets come as JSON from Python, the same text for every event of an object.
  const targets = new SafeMap();
  function parseTarget(text) {
    let target = targets.get(text);
    if (target === undefined) {
      target = parse(text);
      if (targets.size >= 4096) targets.clear();
      targets.set(text, target);
    }
    return target;
  }

  Object.assign(K, { afterBlocked, getActor, parseTarget, startInObject });
})(globalThis.__mfKernelParts);
