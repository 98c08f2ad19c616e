// mfbook intrinsics: built-ins captured before any other code runs.
//
// Worker code is untrusted and shares the realm with the bridge (host.js, codec.js, the
// kernel). It may patch built-ins: `Array.prototype.toJSON`, `JSON.stringify`,
// `Map.prototype.get`, `Promise.prototype.then`, ... The bridge therefore never calls a
// built-in through a property the worker can reach. It uses what this file captured when the
// isolate was created: plain functions (`then(promise, onOk, onError)`), and collections
// (`SafeMap`, `SafeSet`, `SafeWeakMap`) whose frozen prototypes hold the original methods.
//
// `stringify` is JSON.stringify that ignores `toJSON` added to Object.prototype or
// Array.prototype (the bridge only ever serialises plain objects, arrays and primitives).
(function () {
  "use strict";
  const apply = Reflect.apply;
  const defineProperty = Object.defineProperty;
  const getOwnDescriptor = Object.getOwnPropertyDescriptor;
  const getProto = Object.getPrototypeOf;
  const ownKeys = Reflect.ownKeys;
  const keysOf = Object.keys;
  const freeze = Object.freeze;
  const hasOwnProperty = Object.prototype.hasOwnProperty;
  const isArray = Array.isArray;
  const nativeStringify = JSON.stringify;
  const nativeParse = JSON.parse;
  const arrayJoin = Array.prototype.join;
  const promiseThen = Promise.prototype.then;
  const promiseResolve = Promise.resolve;
  const promiseReject = Promise.reject;
  const NativePromise = Promise;
  const ObjectProto = Object.prototype;
  const ArrayProto = Array.prototype;

  /** A subclass of `Base` whose (frozen) prototype owns the original methods of `Base`. */
  function safeCollection(Base) {
    class Safe extends Base {}
    const proto = Base.prototype;
    for (const key of ownKeys(proto)) {
      if (key === "constructor") continue;
      defineProperty(Safe.prototype, key, getOwnDescriptor(proto, key));
    }
    freeze(Safe.prototype);
    return freeze(Safe);
  }

  const hasOwn = (object, key) => apply(hasOwnProperty, object, [key]);

  /** Whether a `toJSON` the worker added could reach a plain object or array. */
  function toJSONPatched() {
    return (
      hasOwn(ObjectProto, "toJSON") ||
      hasOwn(ArrayProto, "toJSON") ||
      getProto(ArrayProto) !== ObjectProto ||
      getProto(ObjectProto) !== null
    );
  }

  /** JSON text of plain data without consulting any `toJSON`. */
  function stringifyPlain(value) {
    if (value === null || typeof value !== "object") {
      return typeof value === "function" ? undefined : nativeStringify(value);
    }
    const parts = [];
    if (isArray(value)) {
      const n = value.length;
      for (let i = 0; i < n; i++) {
        const text = stringifyPlain(value[i]);
        parts[i] = text === undefined ? "null" : text;
      }
      return "[" + apply(arrayJoin, parts, [","]) + "]";
    }
    const keys = keysOf(value);
    for (let i = 0; i < keys.length; i++) {
      const text = stringifyPlain(value[keys[i]]);
      if (text !== undefined) parts[parts.length] = nativeStringify(keys[i]) + ":" + text;
    }
    return "{" + apply(arrayJoin, parts, [","]) + "}";
  }

  function stringify(value) {
    if (!toJSONPatched()) return nativeStringify(value);
    // Joined once more: a long concatenation is a rope, which the Python binding refuses.
    const text = stringifyPlain(value);
    return text === undefined ? undefined : apply(arrayJoin, [text], [""]);
  }

  const intrinsics = freeze({
    apply,
    stringify,
    parse: (text) => nativeParse(text),
    then: (promise, onOk, onError) => apply(promiseThen, promise, [onOk, onError]),
    catch: (promise, onError) => apply(promiseThen, promise, [undefined, onError]),
    resolve: (value) => apply(promiseResolve, NativePromise, [value]),
    reject: (error) => apply(promiseReject, NativePromise, [error]),
    Promise: NativePromise,
    SafeMap: safeCollection(Map),
    SafeSet: safeCollection(Set),
    SafeWeakMap: safeCollection(WeakMap),
  });
  defineProperty(globalThis, "__mfIntrinsics", { value: intrinsics, configurable: true, writable: true });
})();
