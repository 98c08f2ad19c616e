// mfbook isolate kernel, part "storage": The storage API of an object: `ctx.storage`, transactions
// and their attempts.
// Parts share one namespace `K` (kernel/base.js); names defined by a later part are read as
// `K.name` when used, so that load order does not matter.
(function (K) {
  "use strict";
  const {
    ASYNC_STORAGE_METHODS,
    MSG,
    RESOLVED,
    SafeMap,
    SafeSet,
    alarmTime,
    cacheClear,
    cacheFill,
    cacheWrite,
    codec,
    decodeMap,
    decodeOptional,
    envelopeFromError,
    flagsOf,
    host,
    normaliseKeys,
    normaliseListOptions,
    normalisePut,
    ownedBy,
    rejected,
    resolved,
    toUndefined,
    undefinedKey,
  } = K;

  /** Storage proxy shared by DurableObjectStorage and DurableObjectTransaction. */
  class StorageOperator {
    constructor(actor, owner, txn) {
      // Non-enumerable, as the runtime shows only the API (Miniflare: "hides implementation details").
      Object.defineProperties(this, {
        _actor: { value: actor, writable: true },
        _owner: { value: owner, writable: true },
        _txn: { value: txn, writable: true },
      });
    }
    _check() {}
    _op(method, payload, flags, transform) {
      const actor = this._actor;
      payload.a = actor.key;
      payload.m = method;
      if (this._txn !== undefined) payload.txn = this._txn;
      if (flags) payload.f = flags;
      if (host.syncCalls && !(flags & 1) && !actor.remote && !ASYNC_STORAGE_METHODS.has(method) && host.inOrder()) {
        // Answered by the host in this turn: the promise is settled before the code awaits
        // it, so nothing else can run in between (what the input gate guarantees). With
        // allowConcurrency the operation stays asynchronous, so other events may interleave.
        payload.op = "st";
        try {
          const result = host.call("st", ownedBy(actor, payload));
          return resolved(transform === undefined ? result : transform(result));
        } catch (error) {
          return rejected(error);
        }
      }
      return host.op("st", ownedBy(actor, payload), transform, actor);
    }
    get(keys, options) {
      if (keys === undefined) return rejected(undefinedKey("get", this._owner));
      try {
        this._check("get");
        const normalised = normaliseKeys(keys, this._actor.sql);
        const actor = this._actor;
        if (this._txn !== undefined && !Array.isArray(normalised)) {
          // The transaction's own writes, else the read cache, answer in the same turn;
          // Python still records the read (read set, trace) in program order.
          const own = this._writes;
          let text;
          if (own.has(normalised)) text = own.get(normalised);
          else if (actor.cache !== null && actor.cache.has(normalised)) text = actor.cache.get(normalised);
          if (text !== undefined) {
            host.note(ownedBy(actor, { op: "st", a: actor.key, m: "get", txn: this._txn, key: normalised, known: 1 }));
            return resolved(decodeOptional(text));
          }
        }
        if (this._txn !== undefined || actor.cache === null) {
          if (Array.isArray(normalised)) return this._op("getMany", { keys: normalised }, flagsOf(options), decodeMap);
          return this._op("get", { key: normalised }, flagsOf(options), decodeOptional);
        }
        const epoch = actor.epoch;
        if (Array.isArray(normalised)) {
          return this._op("getMany", { keys: normalised }, flagsOf(options), (entries) => {
            const found = new SafeSet();
            for (const [key, text] of entries) {
              found.add(key);
              cacheFill(actor, epoch, key, text);
            }
            for (const key of normalised) if (!found.has(key)) cacheFill(actor, epoch, key, null);
            return decodeMap(entries);
          });
        }
        if (actor.cache.has(normalised)) {
          host.note(ownedBy(actor, { op: "trace", a: actor.key, kind: "storage.get", keys: [normalised] }));
          return resolved(decodeOptional(actor.cache.get(normalised)));
        }
        return this._op("get", { key: normalised }, flagsOf(options), (text) => {
          cacheFill(actor, epoch, normalised, text);
          return decodeOptional(text);
        });
      } catch (error) {
        return rejected(error);
      }
    }
    put(keyOrEntries, value, options) {
      if (keyOrEntries === undefined) throw undefinedKey("put", this._owner);
      this._check("put");
      const entries = normalisePut(keyOrEntries, value, this._actor.sql);
      if (options === undefined && typeof keyOrEntries === "object") options = value;
      if (this._txn !== undefined) {
        // Buffered in the transaction: nothing can fail later but the 128-key limit.
        const own = this._writes;
        let count = own.size;
        for (const [key] of entries) if (!own.has(key)) count++;
        if (count > MSG.maxKeys) return rejected(new RangeError(MSG.txnTooManyKeys));
        for (const [key, text] of entries) own.set(key, text);
        host.note(ownedBy(this._actor, { op: "st", a: this._actor.key, m: "put", txn: this._txn, entries }));
        return RESOLVED;
      }
      // Outside a transaction a put cannot fail once validated: like workerd, it resolves at
      // once and the *output gate* (Python flushes before releasing any response of this
      // turn) makes the response wait until the batch is durable; a failed flush fails it.
      const flags = flagsOf(options);
      cacheWrite(this._actor, entries);
      const payload = { op: "st", a: this._actor.key, m: "put", entries };
      if (flags) payload.f = flags;
      host.note(ownedBy(this._actor, payload));
      return RESOLVED;
    }
    delete(keys, options) {
      if (keys === undefined) throw undefinedKey("delete", this._owner);
      this._check("delete");
      const normalised = normaliseKeys(keys, this._actor.sql);
      const many = Array.isArray(normalised);
      if (this._txn === undefined) {
        cacheWrite(this._actor, (many ? normalised : [normalised]).map((key) => [key, null]));
      } else {
        for (const key of many ? normalised : [normalised]) this._writes.set(key, null);
      }
      return this._op("delete", many ? { keys: normalised, many: true } : { keys: [normalised] }, flagsOf(options));
    }
    list(options) {
      try {
        this._check("list");
        const normalised = normaliseListOptions(options);
        const actor = this._actor;
        if (this._txn !== undefined || actor.cache === null) {
          return this._op("list", { options: normalised }, flagsOf(options), decodeMap);
        }
        const epoch = actor.epoch;
        return this._op("list", { options: normalised }, flagsOf(options), (entries) => {
          for (const [key, text] of entries) cacheFill(actor, epoch, key, text);
          return decodeMap(entries);
        });
      } catch (error) {
        return rejected(error);
      }
    }
    getAlarm(options) {
      try {
        this._check("getAlarm");
      } catch (error) {
        return rejected(error);
      }
      if (!this._actor.hasAlarm) return resolved(null);
      return this._op("getAlarm", {}, flagsOf(options));
    }
    setAlarm(scheduledTime, options) {
      try {
        this._check("setAlarm");
        if (!this._actor.hasAlarm) throw new Error(MSG.noAlarmHandler);
        return this._op("setAlarm", { time: alarmTime(scheduledTime) }, flagsOf(options), toUndefined);
      } catch (error) {
        return rejected(error);
      }
    }
    deleteAlarm(options) {
      try {
        this._check("deleteAlarm");
        return this._op("deleteAlarm", {}, flagsOf(options), toUndefined);
      } catch (error) {
        return rejected(error);
      }
    }
  }

  class DurableObjectTransaction extends StorageOperator {
    constructor(actor, txn) {
      super(actor, "DurableObjectTransaction", txn);
      Object.defineProperty(this, "_state", { value: "open", writable: true });
      // This attempt's writes (encoded value, null = deleted), as Python's buffer holds them.
      Object.defineProperty(this, "_writes", { value: new SafeMap() });
    }
    _check(operation) {
      if (this._state === "rolledback") throw new Error(MSG.txnRolledBack.replace("{op}", operation));
      if (this._state === "committed") throw new Error(MSG.txnCommitted.replace("{op}", operation));
    }
    deleteAll() {
      throw new Error(MSG.txnDeleteAll);
    }
    rollback() {
      if (this._state === "rolledback") return;
      this._check("rollback");
      this._state = "rolledback";
    }
  }

  // What sql_storage.js needs of the kernel to build the SQLite-only API of an object.
  const sqlHelpers = {
    normaliseKeys: (keys) => normaliseKeys(keys, true),
    normalisePut: (keyOrEntries, value) => normalisePut(keyOrEntries, value, true),
    decode: (text) => codec.decode(text),
    listOptions: (options) => normaliseListOptions(options),
    clearCache: (actor) => cacheClear(actor),
  };

  class DurableObjectStorage extends StorageOperator {
    constructor(actor) {
      super(actor, "DurableObjectStorage", undefined);
      host.sqlStorage.attach(this, actor, sqlHelpers);
    }
    deleteAll(options) {
      cacheClear(this._actor);
      return this._op("deleteAll", {}, flagsOf(options), toUndefined);
    }
    sync() {
      return this._op("sync", {}, 0, toUndefined);
    }
    async transaction(closure) {
      if (typeof closure !== "function") {
        throw new TypeError("Failed to execute 'transaction' on 'DurableObjectStorage': parameter 1 is not of type 'Function'.");
      }
      const actor = this._actor;
      actor.blocking++;
      try {
        return await runTransaction(this, closure);
      } finally {
        actor.blocking--;
      }
    }
  }

  /** The attempts of one `storage.transaction(closure)`: begin, run, commit or retry. */
  async function runTransaction(storage, closure) {
    const begin = await storage._op("txnBegin", {}, 0);
    let txnId = begin.txn;
    for (;;) {
      const txn = new DurableObjectTransaction(storage._actor, txnId);
      let result;
      try {
        result = await closure(txn);
      } catch (error) {
        txn._state = "committed";
        await finishAttempt(storage, "txnAbort", { txn: txnId, error: envelopeFromError(error) });
        throw error;
      }
      const rolledBack = txn._state === "rolledback";
      txn._state = rolledBack ? "rolledback" : "committed";
      // The committed writes go into the read cache (kernel.cacheStore or the answer's `cache`).
      const outcome = await finishAttempt(storage, "txnCommit", { txn: txnId, rolledBack });
      if (outcome.retry === undefined) return result;
      txnId = outcome.retry;
    }
  }

  /**
   * Commits or aborts a transaction attempt: synchronously when the host can answer now, else
   * (a conflict whose retry waits for a back-off) through a promise the host settles later.
   */
  function finishAttempt(storage, method, payload) {
    if (!host.syncCalls || !host.inOrder() || storage._actor.remote) return storage._op(method, payload, 0);
    const actor = storage._actor;
    const [id, promise] = host.pending(undefined, actor);
    payload.op = "st";
    payload.a = actor.key;
    payload.m = method;
    payload.id = id;
    let answer;
    try {
      answer = host.call("st", ownedBy(actor, payload));
    } catch (error) {
      host.drop(id);
      return rejected(error);
    }
    if (answer.later === true) return promise;
    host.drop(id);
    if (answer.cache !== undefined && answer.cache.length !== 0) cacheWrite(actor, answer.cache);
    return resolved(answer.now);
  }

  Object.assign(K, { DurableObjectStorage });
})(globalThis.__mfKernelParts);
