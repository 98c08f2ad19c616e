// mfbook value codec v1 ("tagged JSON"), JavaScript half.
//
// Plain script (not a module): defines globalThis.__mfCodec = { encode, decode, VERSION }.
// The format is documented in mfbook/codec.py, which implements the Python half; both
// halves produce the same text for the same value.
//
// encode(value) -> string  structured-clone a value to JSON text. The text comes from
//                          JSON.stringify, so NUL and lone surrogates are escaped and it is
//                          safe to hand to Python. Throws DataCloneError for values that
//                          v8's structured clone refuses (functions, symbols, WeakMap, ...).
// decode(text) -> value    the inverse.
//
// RPC passes an `exporter` to encode and an `importer` to decode (kernel/rpc_*.js): then
// functions and the values `exporter.isTarget(v)` accepts (RpcTarget instances, stubs) encode
// as `{"$":"stub", ...}` nodes made by `exporter.export(v)`, and decode through
// `importer(node)`. A stub node never takes an object id (refs count the same on both sides).
(function () {
  "use strict";

  const VERSION = 1;
  const ObjectProto = Object.prototype;
  const ArrayProto = Array.prototype;
  const getProto = Object.getPrototypeOf;
  const keysOf = Object.keys;
  const isArray = Array.isArray;
  const hasOwn = Object.prototype.hasOwnProperty;
  const defineProperty = Object.defineProperty;
  const getOwnDescriptor = Object.getOwnPropertyDescriptor;
  // Captured before worker code runs (intrinsics.js); `stringify` ignores a patched toJSON.
  const { stringify, parse, SafeMap, SafeSet, apply } = globalThis.__mfIntrinsics;
  const mapSet = Map.prototype.set;
  const setAdd = Set.prototype.add;
  const append = (array, item) => {
    array[array.length] = item;
  };
  const objectToString = ObjectProto.toString;
  const fnToString = Function.prototype.toString;
  const symbolToString = Symbol.prototype.toString;
  const dateGetTime = Date.prototype.getTime;
  const regexpSource = getOwnDescriptor(RegExp.prototype, "source").get;
  const regexpFlags = getOwnDescriptor(RegExp.prototype, "flags").get;
  const mapForEach = Map.prototype.forEach;
  const setForEach = Set.prototype.forEach;
  const numberValueOf = Number.prototype.valueOf;
  const stringValueOf = String.prototype.valueOf;
  const booleanValueOf = Boolean.prototype.valueOf;
  const bigintValueOf = BigInt.prototype.valueOf;
  const TypedArray = getProto(Int8Array);
  const typedArrayTag = getOwnDescriptor(TypedArray.prototype, Symbol.toStringTag).get;
  const isView = ArrayBuffer.isView;

  const VIEWS = {
    Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array,
    Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array, DataView,
  };
  if (typeof Float16Array === "function") VIEWS.Float16Array = Float16Array;

  const ERRORS = {
    Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError,
  };

  // Objects with internal state that structured clone refuses (v8 behaviour).
  const REFUSED = [WeakMap, WeakSet, Promise];
  for (const name of ["WeakRef", "FinalizationRegistry", "SharedArrayBuffer"]) {
    if (typeof globalThis[name] === "function") REFUSED.push(globalThis[name]);
  }
  const REFUSED_TAGS = new SafeSet([
    "Generator", "AsyncGenerator", "Map Iterator", "Set Iterator", "Array Iterator",
    "String Iterator", "RegExp String Iterator", "Iterator Helper", "Module",
  ]);

  // ---- base64: the engine's own (quickjs-ng has Uint8Array.prototype.toBase64 / fromBase64) ----

  const nativeToBase64 = Uint8Array.prototype.toBase64;
  const fromBase64 = Uint8Array.fromBase64;
  if (typeof nativeToBase64 !== "function" || typeof fromBase64 !== "function") {
    throw new Error("mfbook's codec needs Uint8Array.prototype.toBase64 and Uint8Array.fromBase64 (quickjs-ng).");
  }
  const toBase64 = (bytes) => nativeToBase64.call(bytes);

  // ---- errors ----

  function cloneError(what) {
    const message = what + " could not be cloned.";
    if (typeof globalThis.DOMException === "function") {
      return new globalThis.DOMException(message, "DataCloneError");
    }
    const error = new Error(message);
    defineProperty(error, "name", { value: "DataCloneError", writable: true, configurable: true });
    return error;
  }

  function describeFunction(fn) {
    try {
      return fnToString.call(fn);
    } catch (_) {
      return "function";
    }
  }

  function describeObject(value) {
    return "#<" + objectToString.call(value).slice(8, -1) + ">";
  }

  function formatError(message) {
    return new TypeError("Invalid codec document: " + message);
  }

  // ---- helpers ----

  function isIndex(key) {
    const n = key >>> 0;
    return n !== 4294967295 && String(n) === key;
  }

  function isNegativeZero(n) {
    return n === 0 && 1 / n < 0;
  }

  function setOwn(target, key, value) {
    if (key === "__proto__") {
      defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
    } else {
      target[key] = value;
    }
  }

  function numberTag(n) {
    if (n === n && n !== Infinity && n !== -Infinity && !isNegativeZero(n)) return n;
    return { $: "number", v: isNegativeZero(n) ? "-0" : String(n) };
  }

  // ---- fast path: is this value plain JSON that JSON.stringify renders exactly? ----

  function isPureValue(x, seen) {
    switch (typeof x) {
      case "string":
      case "boolean":
        return true;
      case "number":
        return x === x && x !== Infinity && x !== -Infinity && (x !== 0 || 1 / x > 0);
      case "object":
        return x === null || isPureObject(x, seen);
      default:
        return false;
    }
  }

  function isPureObject(v, seen) {
    if (seen.has(v)) return false; // shared or circular: needs refs
    seen.add(v);
    if (isArray(v)) {
      if (getProto(v) !== ArrayProto) return false;
      const n = v.length;
      // A hole reads as undefined (not pure), so with no holes any extra key is a
      // non-index property, which JSON.stringify would drop.
      for (let i = 0; i < n; i++) if (!isPureValue(v[i], seen)) return false;
      return keysOf(v).length === n;
    }
    const proto = getProto(v);
    if (proto !== ObjectProto && proto !== null) return false;
    const keys = keysOf(v);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (key === "$" || !isPureValue(v[key], seen)) return false;
    }
    return true;
  }

  // ---- encoder (slow path): builds a JSON tree, then one JSON.stringify ----

  function Encoder(exporter) {
    this.ids = new SafeMap();
    this.next = 0;
    this.exporter = exporter;
  }

  Encoder.prototype.value = function (v) {
    switch (typeof v) {
      case "string":
      case "boolean":
        return v;
      case "number":
        return numberTag(v);
      case "undefined":
        return { $: "undefined" };
      case "bigint":
        return { $: "bigint", v: v.toString() };
      case "symbol":
        throw cloneError(symbolToString.call(v));
      case "function":
        if (this.exporter !== undefined) return this.exporter.export(v);
        throw cloneError(describeFunction(v));
      default:
        return v === null ? null : this.object(v);
    }
  };

  Encoder.prototype.object = function (v) {
    const known = this.ids.get(v);
    if (known !== undefined) return { $: "ref", id: known };
    if (this.exporter !== undefined && this.exporter.isTarget(v)) return this.exporter.export(v);
    this.ids.set(v, this.next++);
    if (isArray(v)) return this.array(v);
    const proto = getProto(v);
    if (proto === ObjectProto || proto === null) return this.plain(v);
    return this.special(v);
  };

  Encoder.prototype.plain = function (v) {
    const keys = keysOf(v);
    const out = Object.create(null);
    let hasDollar = false;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (key === "$") hasDollar = true;
      out[key] = this.value(v[key]);
    }
    return hasDollar ? { $: "object", props: out } : out;
  };

  Encoder.prototype.array = function (v) {
    const n = v.length;
    const keys = keysOf(v);
    if (keys.length === n && (n === 0 || keys[n - 1] === String(n - 1))) {
      const out = new Array(n);
      for (let i = 0; i < n; i++) out[i] = this.value(v[i]);
      return out;
    }
    let count = 0;
    while (count < keys.length && isIndex(keys[count])) count++;
    let items;
    if (count === n) {
      items = new Array(n);
      for (let i = 0; i < n; i++) items[i] = this.value(v[i]);
    } else {
      items = Object.create(null);
      for (let i = 0; i < count; i++) items[keys[i]] = this.value(v[keys[i]]);
    }
    const node = { $: "array", length: n, items };
    if (count < keys.length) {
      const props = Object.create(null);
      for (let i = count; i < keys.length; i++) props[keys[i]] = this.value(v[keys[i]]);
      node.props = props;
    }
    return node;
  };

  Encoder.prototype.special = function (v) {
    if (v instanceof Date) {
      const time = dateGetTime.call(v);
      return { $: "date", v: time === time ? time : null };
    }
    if (v instanceof RegExp) {
      return { $: "regexp", source: regexpSource.call(v), flags: regexpFlags.call(v) };
    }
    if (v instanceof Map) {
      const entries = [];
      mapForEach.call(v, (value, key) => {
        const k = this.value(key);
        append(entries, [k, this.value(value)]);
      });
      return { $: "map", entries };
    }
    if (v instanceof Set) {
      const values = [];
      setForEach.call(v, (value) => append(values, this.value(value)));
      return { $: "set", values };
    }
    if (v instanceof ArrayBuffer) {
      return { $: "arraybuffer", base64: toBase64(new Uint8Array(v)) };
    }
    if (isView(v)) {
      const kind = typedArrayTag.call(v) || "DataView";
      const length = kind === "DataView" ? v.byteLength : v.length;
      const node = { $: "view", kind, byteOffset: v.byteOffset, length, buffer: null };
      node.buffer = this.object(v.buffer);
      return node;
    }
    if (v instanceof Error) return this.error(v);
    if (v instanceof Number) return { $: "boxed", v: numberTag(numberValueOf.call(v)) };
    if (v instanceof String) return { $: "boxed", v: stringValueOf.call(v) };
    if (v instanceof Boolean) return { $: "boxed", v: booleanValueOf.call(v) };
    if (v instanceof BigInt) return { $: "boxed", v: { $: "bigint", v: bigintValueOf.call(v).toString() } };
    if (v instanceof Symbol) throw cloneError(describeObject(v));
    for (let i = 0; i < REFUSED.length; i++) {
      if (v instanceof REFUSED[i]) throw cloneError(describeObject(v));
    }
    if (REFUSED_TAGS.has(objectToString.call(v).slice(8, -1))) throw cloneError(describeObject(v));
    return this.plain(v); // class instances: own enumerable string keys, like v8
  };

  Encoder.prototype.error = function (v) {
    const name = v.name;
    const node = { $: "error", name: typeof name === "string" ? name : "Error" };
    const message = getOwnDescriptor(v, "message");
    if (message && "value" in message && message.value !== undefined && String(message.value) !== "") {
      node.message = String(message.value);
    }
    const stack = v.stack;
    if (typeof stack === "string") node.stack = stack;
    if (hasOwn.call(v, "cause")) node.cause = this.value(v.cause);
    return node;
  };

  function encode(value, exporter) {
    switch (typeof value) {
      case "string":
        return stringify(value);
      case "boolean":
        return value ? "true" : "false";
      case "number":
        if (value === value && value !== Infinity && value !== -Infinity && !isNegativeZero(value)) {
          return stringify(value);
        }
        break;
      case "object":
        if (value === null) return "null";
        if (isPureObject(value, new SafeSet())) return stringify(value);
        break;
    }
    return stringify(new Encoder(exporter).value(value));
  }

  // ---- decoder ----

  function Decoder(importer) {
    this.objects = [];
    this.importer = importer;
  }

  Decoder.prototype.value = function (x) {
    if (typeof x !== "object" || x === null) return x;
    if (isArray(x)) {
      append(this.objects, x);
      for (let i = 0; i < x.length; i++) {
        const item = x[i];
        if (typeof item === "object" && item !== null) x[i] = this.value(item);
      }
      return x;
    }
    const tag = x.$;
    if (tag === undefined) {
      append(this.objects, x);
      this.fill(x);
      return x;
    }
    return this.tagged(x, tag);
  };

  // Decode the values of a parsed JSON object in place.
  Decoder.prototype.fill = function (x) {
    const keys = keysOf(x);
    for (let i = 0; i < keys.length; i++) {
      const item = x[keys[i]];
      if (typeof item === "object" && item !== null) setOwn(x, keys[i], this.value(item));
    }
  };

  Decoder.prototype.tagged = function (x, tag) {
    switch (tag) {
      case "undefined":
        return undefined;
      case "number":
        if (x.v === "-0") return -0;
        if (x.v === "NaN" || x.v === "Infinity" || x.v === "-Infinity") return +x.v;
        throw formatError("bad number " + stringify(x.v));
      case "bigint":
        return BigInt(x.v);
      case "ref": {
        if (!(x.id >= 0 && x.id < this.objects.length)) throw formatError("bad ref " + x.id);
        return this.objects[x.id];
      }
      case "date": {
        const date = new Date(x.v === null ? NaN : x.v);
        append(this.objects, date);
        return date;
      }
      case "regexp": {
        const regexp = new RegExp(x.source, x.flags);
        append(this.objects, regexp);
        return regexp;
      }
      case "map": {
        const map = new Map();
        append(this.objects, map);
        const entries = x.entries;
        for (let i = 0; i < entries.length; i++) {
          const key = this.value(entries[i][0]);
          apply(mapSet, map, [key, this.value(entries[i][1])]);
        }
        return map;
      }
      case "set": {
        const set = new Set();
        append(this.objects, set);
        const values = x.values;
        for (let i = 0; i < values.length; i++) apply(setAdd, set, [this.value(values[i])]);
        return set;
      }
      case "array":
        return this.array(x);
      case "object": {
        const object = x.props;
        append(this.objects, object);
        this.fill(object);
        return object;
      }
      case "arraybuffer": {
        const buffer = fromBase64(x.base64).buffer;
        append(this.objects, buffer);
        return buffer;
      }
      case "view": {
        const Ctor = hasOwn.call(VIEWS, x.kind) ? VIEWS[x.kind] : undefined;
        if (Ctor === undefined) throw formatError("unknown view kind " + stringify(x.kind));
        const slot = this.objects.length;
        append(this.objects, undefined);
        const buffer = this.value(x.buffer);
        const view = new Ctor(buffer, x.byteOffset, x.length);
        this.objects[slot] = view;
        return view;
      }
      case "error":
        return this.error(x);
      case "boxed": {
        const boxed = Object(this.tagless(x.v));
        append(this.objects, boxed);
        return boxed;
      }
      case "stub":
        if (this.importer === undefined) throw formatError("a stub outside an RPC message");
        return this.importer(x);
      case "codec":
        if (this.objects.length === 0 && x.v === VERSION) return this.value(x.value);
        throw formatError("unsupported codec version " + stringify(x.v));
      default:
        throw formatError("unknown tag " + stringify(tag));
    }
  };

  // A primitive (possibly tagged); never consumes an object id.
  Decoder.prototype.tagless = function (x) {
    if (typeof x === "object" && x !== null) {
      if (x.$ === "number" || x.$ === "bigint") return this.tagged(x, x.$);
      throw formatError("boxed value must be a primitive");
    }
    return x;
  };

  Decoder.prototype.array = function (x) {
    const array = new Array(x.length);
    append(this.objects, array);
    const items = x.items;
    if (isArray(items)) {
      for (let i = 0; i < items.length; i++) array[i] = this.value(items[i]);
    } else {
      const keys = keysOf(items);
      for (let i = 0; i < keys.length; i++) array[keys[i]] = this.value(items[keys[i]]);
    }
    const props = x.props;
    if (props !== undefined) {
      const keys = keysOf(props);
      for (let i = 0; i < keys.length; i++) setOwn(array, keys[i], this.value(props[keys[i]]));
    }
    return array;
  };

  Decoder.prototype.error = function (x) {
    const name = typeof x.name === "string" ? x.name : "Error";
    const Ctor = hasOwn.call(ERRORS, name) ? ERRORS[name] : Error;
    const error = x.message === undefined ? new Ctor() : new Ctor(x.message);
    const hidden = { writable: true, enumerable: false, configurable: true };
    if (Ctor.prototype.name !== name) defineProperty(error, "name", { ...hidden, value: name });
    // Without a stored stack the clone has none (like v8), not the decoder's own stack.
    const stack = typeof x.stack === "string" ? x.stack : undefined;
    defineProperty(error, "stack", { ...hidden, value: stack });
    append(this.objects, error);
    if (hasOwn.call(x, "cause")) {
      defineProperty(error, "cause", { ...hidden, value: this.value(x.cause) });
    }
    return error;
  };

  function decode(text, importer) {
    if (typeof text !== "string") throw new TypeError("codec.decode expects a string");
    const doc = parse(text);
    if (typeof doc !== "object" || doc === null || text.indexOf('"$"') < 0) return doc;
    return new Decoder(importer).value(doc);
  }

  globalThis.__mfCodec = { encode, decode, VERSION }; // v8size.js adds v8Size, then freezes it
})();
