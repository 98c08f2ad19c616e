// mfbook prelude: structured_clone.js — structuredClone() through the value codec
// (docs/ARCHITECTURE.md section 2): decode(encode(value)). The codec throws DataCloneError
// DOMExceptions for uncloneable values; they propagate unchanged. Transfer lists are accepted
// but nothing is detached (the clone is a copy either way).
(function (host) {
  "use strict";

  function structuredClone(value, options) {
    if (arguments.length === 0) {
      throw new TypeError("Failed to execute 'structuredClone' on 'WorkerGlobalScope': 1 argument required, but only 0 present.");
    }
    if (options != null && options.transfer !== undefined) {
      var transfer = options.transfer;
      if (transfer === null || typeof transfer !== "object" || typeof transfer[Symbol.iterator] !== "function") {
        throw new TypeError("Failed to execute 'structuredClone' on 'WorkerGlobalScope': transfer is not iterable.");
      }
      Array.from(transfer).forEach(function (item) {
        if (!(item instanceof ArrayBuffer)) throw new DOMException("Value not transferable", "DataCloneError");
      });
    }
    var codec = loadedCodec || globalThis.__mfCodec;
    return codec.decode(codec.encode(value));
  }
  // The kernel deletes globalThis.__mfCodec once the runtime is loaded: keep a reference now.
  var loadedCodec = globalThis.__mfCodec;

  Object.defineProperty(globalThis, "structuredClone", { value: structuredClone, writable: true, configurable: true, enumerable: false });

  // Small platform globals with nowhere better to live.
  var navigator = Object.create(null);
  Object.defineProperty(navigator, "userAgent", { value: "Cloudflare-Workers", enumerable: true });
  Object.defineProperty(navigator, "hardwareConcurrency", { value: 1, enumerable: true });
  Object.defineProperty(navigator, "language", { value: "en", enumerable: true });
  Object.defineProperty(navigator, Symbol.toStringTag, { value: "Navigator" });
  Object.defineProperty(globalThis, "navigator", { value: navigator, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(globalThis, "self", { value: globalThis, writable: true, configurable: true, enumerable: false });
  if (typeof performance === "object" && performance.timeOrigin === undefined) {
    Object.defineProperty(performance, "timeOrigin", { value: Date.now() - performance.now(), enumerable: true, configurable: true });
  }
})(globalThis.__mfHost);
