// mfbook isolate kernel, part "storage_values": Storage argument validation (the runtime's
// synchronous errors), value encoding and the
// per-object read cache.
// Parts share one namespace `K` (kernel/base.js); names defined by a later part are read as
// `K.name` when used, so that load order does not matter.
(function (K) {
  "use strict";
  const {
    MSG,
    SafeSet,
    append,
    apply,
    codec,
    host,
    mapSet,
    textEncoder,
  } = K;

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

  // SQLite-backed objects keep each pair as one row of their `_cf_KV` table, so the limits
  // above do not apply; the row does: key and value together at most MSG.maxSqlRowSize bytes
  // (Cloudflare's documented 2 MB), else SQLite's own error, as the runtime reports it.
  function assertRowSize(key, text) {
    const limit = MSG.maxSqlRowSize;
    if ((key.length + text.length) * 3 + 16 <= limit) return;
    const size = utf8Length(key) + (text === "" ? 0 : codec.v8Size(text));
    if (size > limit) throw new Error(MSG.sqlTooBig);
  }

  function encodeRow(key, value) {
    const text = codec.encode(value);
    assertRowSize(key, text);
    return text;
  }

  function undefinedKey(method, owner) {
    return new TypeError(`Failed to execute '${method}' on '${owner}'${MSG.undefinedKeySuffix}`);
  }

  /**
   * Keys of get()/delete(): one string, or an array (undefined entries skipped, <= 128).
   * `sql`: the object is SQLite-backed (its limits, see assertRowSize).
   */
  function normaliseKeys(keys, sql) {
    if (Array.isArray(keys)) {
      if (keys.length > MSG.maxKeys) throw new RangeError(MSG.tooManyKeys);
      const defined = [];
      for (const key of keys) {
        if (key === undefined) continue;
        const text = String(key);
        if (sql) assertRowSize(text, "");
        else assertKeySize(text, true);
        append(defined, text);
      }
      return defined;
    }
    const text = String(keys);
    if (sql) assertRowSize(text, "");
    else assertKeySize(text, false);
    return text;
  }

  /** `[key, encoded value]` pairs of put(); `sql` as for normaliseKeys. */
  function normalisePut(keyOrEntries, value, sql) {
    if (keyOrEntries === null || typeof keyOrEntries !== "object") {
      const key = String(keyOrEntries);
      if (!sql) assertKeySize(key, false);
      if (value === undefined) throw new TypeError(MSG.putUndefined);
      return [[key, sql ? encodeRow(key, value) : encodeValue(value)]];
    }
    const entries = Object.entries(keyOrEntries);
    if (entries.length > MSG.maxKeys) throw new RangeError(MSG.tooManyPairs);
    const result = [];
    for (const [key, raw] of entries) {
      if (!sql) assertKeySize(key, true);
      if (raw === undefined) continue;
      append(result, [key, sql ? encodeRow(key, raw) : encodeValue(raw, key)]);
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

  Object.assign(K, { ASYNC_STORAGE_METHODS, alarmTime, cacheClear, cacheFill, cacheWrite, decodeMap, flagsOf, normaliseKeys, normaliseListOptions, normalisePut, undefinedKey });
})(globalThis.__mfKernelParts);
