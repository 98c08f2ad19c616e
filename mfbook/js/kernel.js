// mfbook isolate kernel: runs handlers, Durable Object instances and their storage proxies.
//
// Python drives this file through `__mfKernel` (see docs/ARCHITECTURE.md section 1): every
// entry point is one *delivery*; the job queue is drained by Python afterwards, and whatever
// the code asked of the host is collected with `flush()`. Storage semantics (coalescing, OCC,
// gates) live in Python; this file only validates arguments synchronously where the Workers
// runtime throws synchronously, encodes values, and turns settlements back into JS values.
(function (host, codec) {
  "use strict";
  // Built-ins captured before worker code runs (intrinsics.js): the worker may patch the
  // global ones (JSON.stringify, Promise.prototype.then, Map.prototype.get, ...).
  const {
    stringify,
    parse,
    then,
    catch: catchError,
    resolve: resolved,
    reject: rejected,
    apply,
    SafeMap,
    SafeSet,
    Promise,
  } = globalThis.__mfIntrinsics;
  const mapSet = Map.prototype.set;
  const append = (array, item) => {
    array[array.length] = item;
  };
  const fetchApi = host.fetchApi;
  const textEncoder = new TextEncoder();
  let MSG = {}; // error texts, injected by Python so that both languages share one source

  // ---------------------------------------------------------------- errors across the bridge
  const ERROR_TYPES = { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError };

  /** Builds a JS error from the host's `{name, message, stack?}` envelope. */
  function errorFromEnvelope(envelope) {
    if (envelope === null || typeof envelope !== "object") return new Error(String(envelope));
    const Type = ERROR_TYPES[envelope.name];
    let error;
    if (Type !== undefined) {
      error = new Type(envelope.message);
    } else if (typeof DOMException === "function" && envelope.dom) {
      error = new DOMException(envelope.message, envelope.name);
    } else {
      error = new Error(envelope.message);
      error.name = envelope.name;
    }
    if (envelope.remoteStack) error.remoteStack = envelope.remoteStack;
    return error;
  }

  /** Serialises a thrown value for the host. */
  function envelopeFromError(error) {
    if (error instanceof Error || (error && typeof error === "object" && "message" in error)) {
      let stack = "";
      try {
        stack = String(error.stack || "");
      } catch (_) {
        stack = "";
      }
      return { name: String(error.name || "Error"), message: String(error.message), stack };
    }
    let text;
    try {
      text = String(error);
    } catch (_) {
      text = "[unprintable value]";
    }
    return { name: "Error", message: text, stack: "", thrownValue: true };
  }

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
  host.makeError = errorFromEnvelope;

  // ---------------------------------------------------------------- timers
  const timers = new SafeMap();
  let nextTimerId = 1;

  function addTimer(callback, delay, args, repeat) {
    if (typeof callback !== "function") {
      throw new TypeError("Failed to execute 'setTimeout': parameter 1 is not of type 'Function'.");
    }
    const id = nextTimerId++;
    const ms = Math.max(0, Number(delay) || 0);
    timers.set(id, { callback, args, repeat });
    host.emit(tag({ op: "timer", timer: id, ms, repeat }));
    return id;
  }

  function clearTimer(id) {
    const key = typeof id === "object" && id !== null ? Number(id) : id;
    if (timers.delete(key)) host.emit({ op: "cleartimer", timer: key });
  }

  const timerGlobals = {
    setTimeout: (callback, delay, ...args) => addTimer(callback, delay, args, false),
    setInterval: (callback, delay, ...args) => addTimer(callback, delay, args, true),
    clearTimeout: clearTimer,
    clearInterval: clearTimer,
  };
  for (const [name, value] of Object.entries(timerGlobals)) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
  }

  // ---------------------------------------------------------------- ids, namespaces, stubs
  function hex(bytes) {
    let out = "";
    for (let i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return out;
  }

  const kBinding = Symbol("binding");

  class DurableObjectId {
    #hex;
    constructor(binding, hexId, name) {
      this[kBinding] = binding;
      this.#hex = hexId;
      if (name !== undefined) this.name = name;
    }
    toString() {
      return this.#hex;
    }
    toJSON() {
      return this.#hex;
    }
    equals(other) {
      return other instanceof DurableObjectId && other.toString() === this.#hex;
    }
  }

  // idFromName is a pure function of (binding, name): memoise the SHA-256 per namespace.
  const nameCaches = new SafeMap();
  function nameCache(binding) {
    let cache = nameCaches.get(binding);
    if (cache === undefined) {
      cache = new SafeMap();
      nameCaches.set(binding, cache);
    }
    return cache;
  }

  const JURISDICTIONS = new SafeSet(["eu", "fedramp"]);

  class DurableObjectNamespace {
    #binding;
    #spec;
    #suffix;
    #suffixBytes;
    constructor(binding, spec) {
      this.#binding = binding;
      this.#spec = spec;
      this.#suffixBytes = host.sha256(textEncoder.encode(binding)).subarray(0, 8);
      this.#suffix = hex(this.#suffixBytes);
    }
    idFromName(name) {
      name = String(name);
      const cache = nameCache(this.#binding);
      let hexId = cache.get(name);
      if (hexId === undefined) {
        if (name.length > 2048 && host.syncCalls) {
          // SHA-256 in interpreted JS takes seconds per megabyte: a long name is hashed by the host.
          hexId = host.call("idFromName", { binding: this.#binding, name });
        } else {
          const digest = host.sha256(textEncoder.encode(this.#binding + name));
          digest[0] |= 0x80;
          digest.set(this.#suffixBytes, 24);
          hexId = hex(digest);
        }
        if (cache.size >= 4096) cache.clear();
        cache.set(name, hexId);
      }
      return new DurableObjectId(this.#binding, hexId, name);
    }
    idFromString(hexId) {
      hexId = String(hexId);
      if (!/^[A-Fa-f0-9]{64}$/.test(hexId)) throw new TypeError(MSG.idNotHex);
      hexId = hexId.toLowerCase(); // either case (Miniflare 2 compared the suffix before this)
      if (!hexId.endsWith(this.#suffix)) throw new TypeError(MSG.idWrongClass);
      return new DurableObjectId(this.#binding, hexId);
    }
    newUniqueId(options) {
      const jurisdiction = options && options.jurisdiction;
      if (jurisdiction !== undefined && !JURISDICTIONS.has(jurisdiction)) {
        throw new TypeError(`newUniqueId called with an unsupported jurisdiction: "${jurisdiction}"`);
      }
      const id = new Uint8Array(32);
      new DataView(id.buffer).setBigUint64(1, BigInt(Date.now()));
      id.set(host.randomBytes(15), 9);
      id.set(this.#suffixBytes, 24);
      return new DurableObjectId(this.#binding, hex(id));
    }
    jurisdiction(name) {
      if (!JURISDICTIONS.has(name)) {
        throw new TypeError(`jurisdiction called with an unsupported jurisdiction: "${name}"`);
      }
      return this;
    }
    get(id, options) {
      if (!(id instanceof DurableObjectId) || id[kBinding] !== this.#binding || !id.toString().endsWith(this.#suffix)) {
        throw new TypeError(MSG.idNotForClass);
      }
      if (options !== undefined && (options === null || typeof options !== "object")) {
        throw new TypeError("Failed to execute 'get' on 'DurableObjectNamespace': parameter 2 is not of type 'DurableObjectNamespaceGetDurableObjectOptions'.");
      }
      return makeStub(this.#binding, id, this.#spec);
    }
    getByName(name, options) {
      return this.get(this.idFromName(name), options);
    }
  }

  const RESERVED_STUB_PROPERTIES = new SafeSet(["then", "toJSON", "constructor", "valueOf", "toString"]);

  function makeStub(binding, id, spec) {
    const target = {
      id,
      name: id.name,
      fetch(input, init) {
        let request;
        if (typeof input === "string") {
          request = new Request(new URL(input, "https://fake-host").href, init);
        } else if (input instanceof Request && init === undefined) {
          request = input;
        } else {
          request = new Request(input, init);
        }
        if (!/^https?:/.test(request.url)) {
          return rejected(new TypeError(`Fetch API cannot load: ${request.url}`));
        }
        const send = (wire) => call("do_fetch", { binding, hex: id.toString(), name: id.name, request: wire }, responseFromHost);
        const wire = fetchApi.requestToWire(request);
        if (wire instanceof Promise) return then(wire, send);
        return directCall(spec, id, "fetch", wire, undefined) ?? send(wire);
      },
    };
    return rpcProxy(
      target,
      (method, args) =>
        directCall(spec, id, "rpc", args, method) ??
        call("do_rpc", { binding, hex: id.toString(), name: id.name, method, args }, decodeValue)
    );
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
    if (spec === undefined || spec.local !== true || worker === null) return null;
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
    const [opId, promise] = host.local(kind === "fetch" ? responseFromHost : decodeValue);
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
        if (!ok) end.error = value.message;
        else if (kind === "fetch") end.status = value.status;
        host.emit(end);
        host.settle(opId, ok, value);
      } else {
        // A later delivery (another context): Python settles the caller in its own context.
        host.emit({ op: "dend", d: record.id, ok, id: opId, value });
      }
    };
    const fail = (error) => finish(false, envelopeFromError(error));
    const succeed = (value) => {
      let encoded;
      try {
        encoded = kind === "fetch" ? responseToHost(value, MSG.objectNotResponse) : codec.encode(value);
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
            actor = getActor({ key, binding: spec.binding, hex: hexId, cls: spec.cls, cache: spec.cache === true, sql: spec.sql === true });
          } finally {
            constructing.delete(key);
          }
          actor.inflight++;
          actor.direct = record.id;
        }
        result =
          actor.blocking !== 0
            ? afterBlocked(actor, () => invoke(actor, kind, payload, method))
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
    const fn = instance[method];
    if (typeof fn !== "function" || method.startsWith("#") || method === "constructor" || !(method in Object.getPrototypeOf(instance) || Object.prototype.hasOwnProperty.call(instance, method))) {
      throw new TypeError(MSG.rpcNoMethod.replace("{method}", method));
    }
    return fn.apply(instance, codec.decode(payload));
  }

  /**
   * Wraps a stub so that any other property is an RPC method: arguments are structured-cloned
   * (a DataCloneError rejects) and `send(method, encodedArgs)` queues the host operation.
   */
  function rpcProxy(target, send) {
    return new Proxy(target, {
      get(object, property) {
        if (property in object || typeof property === "symbol") return object[property];
        if (RESERVED_STUB_PROPERTIES.has(property)) return undefined;
        return (...args) => {
          let encoded;
          try {
            encoded = codec.encode(args);
          } catch (error) {
            return rejected(error);
          }
          return send(property, encoded);
        };
      },
    });
  }

  function responseFromHost(wire) {
    return fetchApi.responseFromWire(wire);
  }

  // ---------------------------------------------------------------- storage proxies
  const utf8Length = (string) => textEncoder.encode(string).length;

  function assertKeySize(key, many) {
    if (key.length * 3 <= MSG.maxKeySize || utf8Length(key) <= MSG.maxKeySize) return;
    throw new RangeError(many ? MSG.keyTooLargeMany.replace("{key}", key) : MSG.keyTooLarge);
  }

  function encodeValue(value, key) {
    const text = codec.encode(value);
    // Measured as V8 serializes the value (codec.v8Size), never more than 3 bytes per
    // character of the text plus a header, except for views sharing one buffer.
    const limit = MSG.enforcedMaxValueSize;
    if ((text.length * 3 + 16 > limit || text.indexOf('"$":"view"') >= 0) && codec.v8Size(text) > limit) {
      throw new RangeError(key === undefined ? MSG.valueTooLarge : MSG.valueTooLargeMany.replace("{key}", key));
    }
    return text;
  }

  function undefinedKey(method, owner) {
    return new TypeError(`Failed to execute '${method}' on '${owner}'${MSG.undefinedKeySuffix}`);
  }

  /** Keys of get()/delete(): one string, or an array (undefined entries skipped, <= 128). */
  function normaliseKeys(keys) {
    if (Array.isArray(keys)) {
      if (keys.length > MSG.maxKeys) throw new RangeError(MSG.tooManyKeys);
      const defined = [];
      for (const key of keys) {
        if (key === undefined) continue;
        const text = String(key);
        assertKeySize(text, true);
        append(defined, text);
      }
      return defined;
    }
    const text = String(keys);
    assertKeySize(text, false);
    return text;
  }

  function normalisePut(keyOrEntries, value) {
    if (keyOrEntries === null || typeof keyOrEntries !== "object") {
      const key = String(keyOrEntries);
      assertKeySize(key, false);
      if (value === undefined) throw new TypeError(MSG.putUndefined);
      return [[key, encodeValue(value)]];
    }
    const entries = Object.entries(keyOrEntries);
    if (entries.length > MSG.maxKeys) throw new RangeError(MSG.tooManyPairs);
    const result = [];
    for (const [key, raw] of entries) {
      assertKeySize(key, true);
      if (raw === undefined) continue;
      append(result, [key, encodeValue(raw, key)]);
    }
    return result;
  }

  function normaliseListOptions(options) {
    const out = {};
    if (options === undefined || options === null) return out;
    if (options.limit !== undefined && options.limit <= 0) throw new TypeError(MSG.listLimit);
    if (options.start !== undefined && options.startAfter !== undefined) throw new TypeError(MSG.listStartAfter);
    for (const name of ["start", "startAfter", "end", "prefix"]) {
      if (options[name] !== undefined) out[name] = String(options[name]);
    }
    if (options.reverse) out.reverse = true;
    if (options.limit !== undefined) out.limit = Math.floor(Number(options.limit));
    return out;
  }

  function flagsOf(options) {
    if (!options || typeof options !== "object") return 0;
    return (options.allowConcurrency ? 1 : 0) | (options.allowUnconfirmed ? 2 : 0);
  }

  const toUndefined = () => undefined;
  const RESOLVED = resolved();
  const decodeValue = (text) => codec.decode(text);
  const decodeOptional = (text) => (text === null ? undefined : codec.decode(text));

  // ---------------------------------------------------------------- read cache
  // Objects on the in-memory backend keep a cache of the values their own code read or
  // wrote, so a get() of a cached key resolves in the same turn instead of a host round
  // trip. Only this isolate writes such storage from JS; every other writer (the Python
  // API, imports, transactions) invalidates it before any later JS runs. `epoch` changes on
  // every write, so a read issued before a write never fills the cache with the old value.
  function cacheWrite(actor, entries) {
    const cache = actor.cache;
    if (cache === null) return;
    actor.epoch++;
    if (cache.size > 4096) cache.clear();
    for (const [key, text] of entries) cache.set(key, text);
  }

  function cacheClear(actor) {
    if (actor.cache === null) return;
    actor.epoch++;
    actor.cache.clear();
  }

  function cacheFill(actor, epoch, key, text) {
    if (actor.cache !== null && actor.epoch === epoch && actor.cache.size <= 4096) actor.cache.set(key, text);
  }

  function decodeMap(entries) {
    const map = new Map();
    for (let i = 0; i < entries.length; i++) apply(mapSet, map, [entries[i][0], codec.decode(entries[i][1])]);
    return map;
  }

  function alarmTime(scheduledTime) {
    const time = scheduledTime instanceof Date ? scheduledTime.getTime() : scheduledTime;
    if (typeof time !== "number" || !Number.isFinite(time)) {
      throw new TypeError("Failed to execute 'setAlarm' on 'DurableObjectStorage': parameter 1 is not of type 'date'.");
    }
    return Math.max(0, Math.trunc(time));
  }

  /** Operations whose answer waits for the host's later work (gate sections, flushes, retries). */
  const ASYNC_STORAGE_METHODS = new SafeSet(["txnBegin", "txnCommit", "txnAbort", "sync"]);

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
      if (host.syncCalls && !(flags & 1) && !ASYNC_STORAGE_METHODS.has(method) && host.inOrder()) {
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
        const normalised = normaliseKeys(keys);
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
      const entries = normalisePut(keyOrEntries, value);
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
      const normalised = normaliseKeys(keys);
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
    normaliseKeys: (keys) => normaliseKeys(keys),
    normalisePut: (keyOrEntries, value) => normalisePut(keyOrEntries, value),
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
    if (!host.syncCalls || !host.inOrder()) return storage._op(method, payload, 0);
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

  // ---------------------------------------------------------------- durable object state
  class DurableObjectState {
    #actor;
    constructor(actor) {
      this.#actor = actor;
      this.id = new DurableObjectId(actor.binding, actor.hex);
      this.storage = new DurableObjectStorage(actor);
    }
    waitUntil(promise) {
      catchError(resolved(promise), (error) => reportBackground(error));
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
    acceptWebSocket() {
      throw new Error("WebSocket hibernation is not supported by mfbook.");
    }
    getWebSockets() {
      return [];
    }
    /** Resets the object: this event fails and the next one constructs a new instance. */
    abort(reason) {
      const actor = this.#actor;
      if (actors.get(actor.key) === actor) actors.delete(actor.key);
      if (host.syncCalls) host.call("object.abort", { a: actor.key }); // this event's writes never commit
      throw reason instanceof Error ? reason : new Error("Application called abort() to reset Durable Object.");
    }
  }

  // ---------------------------------------------------------------- cloudflare:workers module
  class DurableObject {
    constructor(ctx, env) {
      this.ctx = ctx;
      this.env = env;
    }
  }
  class WorkerEntrypoint {
    constructor(ctx, env) {
      this.ctx = ctx;
      this.env = env;
    }
  }
  class RpcTarget {}
  const cloudflareWorkers = Object.freeze({
    __proto__: null,
    DurableObject,
    WorkerEntrypoint,
    RpcTarget,
    env: {},
  });

  // ---------------------------------------------------------------- modules
  const moduleFactories = new SafeMap();
  const moduleCache = new SafeMap();

  function requireModule(specifier) {
    if (specifier === "cloudflare:workers") return cloudflareWorkers;
    const cached = moduleCache.get(specifier);
    if (cached !== undefined) return cached;
    const factory = moduleFactories.get(specifier);
    if (factory === undefined) throw new Error(`No such module "${specifier}".`);
    const exports = Object.create(null);
    moduleCache.set(specifier, exports);
    const dynamicImport = (spec) => then(RESOLVED, () => requireModule(resolveSpecifier(specifier, String(spec))));
    const meta = Object.freeze({ url: "file:///" + specifier });
    factory(requireModule, exports, dynamicImport, meta);
    return exports;
  }

  /** Resolves a dynamic import's specifier against the importing module, as the bundler did. */
  function resolveSpecifier(referrer, spec) {
    if (!spec.startsWith("./") && !spec.startsWith("../") && !spec.startsWith("/")) return spec;
    const parts = spec.startsWith("/") ? [] : referrer.split("/").slice(0, -1);
    for (const part of spec.split("/")) {
      if (part === "" || part === ".") continue;
      if (part === "..") {
        if (parts.length === 0) throw new Error(`Import "${spec}" in ${referrer} resolves outside the project root`);
        parts.pop();
      } else {
        append(parts, part);
      }
    }
    return parts.join("/");
  }

  // ---------------------------------------------------------------- worker state
  let worker = null; // {modules, exports, env, listeners, ctxFor}
  const actors = new SafeMap();
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
    return rpcProxy(target, (method, args) => call("service_rpc", { service: name, method, args }, decodeValue));
  }

  /** The class behind a service binding's entrypoint (`null`: the default export). */
  function entrypointClass(entrypoint) {
    const value = entrypoint === null ? worker.exports.default : worker.exports[entrypoint];
    if (entrypoint !== null && value === undefined) {
      throw new TypeError(`Worker has no entrypoint named "${entrypoint}".`);
    }
    return value;
  }

  /** RPC into a `WorkerEntrypoint` (a fresh instance per call, as the runtime does). */
  function entrypointRpc(entrypoint, method, argsText) {
    const cls = entrypointClass(entrypoint);
    if (typeof cls !== "function" || !(cls.prototype instanceof WorkerEntrypoint)) {
      throw new TypeError(
        `The RPC receiver does not support RPC, because its ${entrypoint === null ? "default export" : `entrypoint "${entrypoint}"`} ` +
          "was not declared with `extends WorkerEntrypoint`. In order to enable RPC, make sure it extends the special " +
          'class `WorkerEntrypoint`, which can be imported from the module "cloudflare:workers".'
      );
    }
    const instance = new cls(makeExecutionContext(), worker.env);
    const fn = instance[method];
    if (typeof fn !== "function" || method === "constructor" || method === "fetch" || !(method in cls.prototype) || method in Object.prototype) {
      throw new TypeError(MSG.rpcNoMethod.replace("{method}", method));
    }
    return fn.apply(instance, codec.decode(argsText));
  }

  /** A fetch into a named `WorkerEntrypoint` of this worker. */
  function entrypointFetch(entrypoint, request) {
    const cls = entrypointClass(entrypoint);
    if (typeof cls === "function" && typeof cls.prototype?.fetch === "function") {
      return new cls(makeExecutionContext(), worker.env).fetch(request);
    }
    if (cls && typeof cls.fetch === "function") return cls.fetch(request, worker.env, makeExecutionContext());
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
  function complete(eventId, promise, encode, actor) {
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
          host.emit({ op: "done", ev: eventId, ok: false, error: envelopeFromError(error) });
          return;
        }
        if (payload instanceof Promise) {
          then(payload, 
            (resolved) => host.emit({ op: "done", ev: eventId, ok: true, value: resolved }),
            (error) => host.emit({ op: "done", ev: eventId, ok: false, error: envelopeFromError(error) })
          );
        } else {
          host.emit({ op: "done", ev: eventId, ok: true, value: payload });
        }
      },
      (error) => host.emit({ op: "done", ev: eventId, ok: false, error: envelopeFromError(error) })
    );
  }

  function responseToHost(value, notResponseMessage) {
    if (!fetchApi.isResponse(value)) throw new TypeError(notResponseMessage);
    return fetchApi.responseToWire(value);
  }

  function runEntryFetch(request) {
    if (worker.modules) {
      const handler = worker.exports.default;
      if (typeof handler === "function" && typeof handler.prototype?.fetch === "function") {
        // A class default export (`extends WorkerEntrypoint`): one instance per request.
        const instance = new handler(makeExecutionContext(), worker.env);
        return instance.fetch(request);
      }
      if (!handler || typeof handler.fetch !== "function") {
        throw new Error(MSG.noWorkerFetchHandler);
      }
      return handler.fetch(request, worker.env, makeExecutionContext());
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

  function getActor(target) {
    let actor = actors.get(target.key);
    if (actor !== undefined) return actor;
    const cls = worker.exports[target.cls];
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
    try {
      actor.instance = new cls(state, worker.env);
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

  // ---------------------------------------------------------------- stack traces
  let lineMap = []; // [[first bundle line, file], ...] sorted

  function locate(line) {
    let found = null;
    for (let i = 0; i < lineMap.length && lineMap[i][0] <= line; i++) found = lineMap[i];
    return found === null ? null : [found[1], line - found[0] + 1];
  }

  function formatStack(error, callSites) {
    let header;
    try {
      header = error === undefined || error === null ? "Error" : `${error.name || "Error"}${error.message ? ": " + error.message : ""}`;
    } catch (_) {
      header = "Error";
    }
    const lines = [header];
    for (const site of callSites) {
      const place = locate(site.getLineNumber() || 0);
      if (place === null) continue; // runtime frames stay out of user stacks
      const name = site.getFunctionName();
      const where = `${place[0]}:${place[1]}:${site.getColumnNumber()}`;
      append(lines, name ? `    at ${name} (${where})` : `    at ${where}`);
    }
    return lines.join("\n");
  }

  const kernel = {
    setLineMap(mapText) {
      lineMap = parse(mapText);
      Error.prepareStackTrace = formatStack;
    },

    defineModule(specifier, factory) {
      moduleFactories.set(specifier, factory);
    },

    /** Sets up the worker once its code is loaded. `config` is JSON. */
    loadWorker(configText) {
      const config = parse(configText);
      MSG = config.messages;
      const env = makeEnv(config.bindings);
      if (!config.modules) {
        // Service-worker scripts see their bindings as globals (as in the Workers runtime).
        for (const [name, value] of Object.entries(env)) {
          Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
        }
      }
      let exports = Object.create(null);
      if (config.modules) exports = requireModule(config.main);
      worker = { modules: config.modules, exports, env };
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
        const request = fetchApi.requestFromWire(parse(wireText));
        if (targetText === "") {
          promise = resolved(runEntryFetch(request));
          complete(eventId, promise, (value) => responseToHost(value, MSG.workerNotResponse));
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
          complete(eventId, promise, (value) => codec.encode(value));
          return;
        }
        actor = getActor(target);
        promise = startInObject(actor, () => invoke(actor, "rpc", argsText, method));
      } catch (error) {
        promise = rejected(error);
      }
      complete(eventId, promise, (value) => codec.encode(value), actor);
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
          if (value !== actor.state && value !== worker.env) text = codec.encode(value);
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
      const timer = timers.get(timerId);
      if (timer === undefined) return;
      if (!timer.repeat) timers.delete(timerId);
      timer.callback.apply(globalThis, timer.args);
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
})(globalThis.__mfHost, globalThis.__mfCodec);
