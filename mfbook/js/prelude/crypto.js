// mfbook prelude: crypto.js — crypto.getRandomValues, crypto.randomUUID, crypto.subtle.digest.
//
// Random bytes come from the in-isolate ChaCha20 generator (random.js). digest() is a host op
// (hashlib in Python): `host.op("digest", {algorithm, data})` where data is a binary string
// (one char per byte) and the op resolves to the digest as a binary string. Names, checks and
// error texts follow workerd (src/workerd/api/crypto/crypto.c++, impl.c++), which also offers
// MD5 in digest(). Other SubtleCrypto methods are not implemented.
(function (host) {
  "use strict";

  function define(name, value) {
    Object.defineProperty(globalThis, name, { value: value, writable: true, configurable: true, enumerable: false });
  }

  var CREATE = {};
  var DIGESTS = { "SHA-1": "SHA-1", "SHA-256": "SHA-256", "SHA-384": "SHA-384", "SHA-512": "SHA-512", "MD5": "MD5" };

  function isIntegerView(view) {
    return view instanceof Int8Array || view instanceof Uint8Array || view instanceof Uint8ClampedArray ||
      view instanceof Int16Array || view instanceof Uint16Array || view instanceof Int32Array ||
      view instanceof Uint32Array || view instanceof BigInt64Array || view instanceof BigUint64Array;
  }

  function bytesOf(data) {
    if (data instanceof ArrayBuffer || (typeof SharedArrayBuffer === "function" && data instanceof SharedArrayBuffer)) {
      return new Uint8Array(data);
    }
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return null;
  }

  function latin1(bytes) {
    var out = "";
    for (var i = 0; i < bytes.length; i += 8192) out += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
    return out;
  }

  class SubtleCrypto {
    constructor(token) {
      if (token !== CREATE) throw new TypeError("Illegal constructor");
    }

    digest(algorithm, data) {
      return new Promise(function (resolve) {
        var name = algorithm !== null && typeof algorithm === "object" ? algorithm.name : algorithm;
        if (name === undefined) {
          throw new TypeError("Failed to execute 'digest' on 'SubtleCrypto': Algorithm: name: Missing or not a string");
        }
        var canonical = DIGESTS[String(name).toUpperCase()];
        if (canonical === undefined) {
          throw new DOMException("Unrecognized or unimplemented digest algorithm requested.", "NotSupportedError");
        }
        var bytes = bytesOf(data);
        if (bytes === null) {
          throw new TypeError("Failed to execute 'digest' on 'SubtleCrypto': parameter 2 is not of type 'ArrayBuffer or ArrayBufferView'.");
        }
        // Copy now: the caller may mutate the buffer after digest() returns. Answered in the
        // same turn by the host (an outbox operation in the engine's fallback mode).
        var request = { algorithm: canonical, data: latin1(bytes) };
        resolve(host.syncCalls ? host.call("digest", request) : host.op("digest", request));
      }).then(function (binary) {
        var out = new Uint8Array(binary.length);
        for (var i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
        return out.buffer;
      });
    }

    get [Symbol.toStringTag]() { return "SubtleCrypto"; }
  }

  var subtle = new SubtleCrypto(CREATE);
  var HEX = [];
  for (var h = 0; h < 256; h++) HEX.push((h < 16 ? "0" : "") + h.toString(16));

  class Crypto {
    constructor(token) {
      if (token !== CREATE) throw new TypeError("Illegal constructor");
    }

    get subtle() { return subtle; }

    getRandomValues(buffer) {
      if (!ArrayBuffer.isView(buffer) || buffer instanceof DataView) {
        throw new TypeError("Failed to execute 'getRandomValues' on 'Crypto': parameter 1 is not of type 'ArrayBufferView'.");
      }
      if (!isIntegerView(buffer)) {
        throw new DOMException("ArrayBufferView argument to getRandomValues() must be an integer-typed view.", "TypeMismatchError");
      }
      if (buffer.byteLength > 0x10000) {
        throw new DOMException("getRandomValues() only accepts buffers of size <= 64K but provided " + buffer.byteLength +
          " bytes.", "QuotaExceededError");
      }
      new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength).set(host.randomBytes(buffer.byteLength));
      return buffer;
    }

    randomUUID() {
      var b = host.randomBytes(16);
      b[6] = (b[6] & 0x0f) | 0x40;
      b[8] = (b[8] & 0x3f) | 0x80;
      return HEX[b[0]] + HEX[b[1]] + HEX[b[2]] + HEX[b[3]] + "-" + HEX[b[4]] + HEX[b[5]] + "-" + HEX[b[6]] + HEX[b[7]] +
        "-" + HEX[b[8]] + HEX[b[9]] + "-" + HEX[b[10]] + HEX[b[11]] + HEX[b[12]] + HEX[b[13]] + HEX[b[14]] + HEX[b[15]];
    }

    get [Symbol.toStringTag]() { return "Crypto"; }
  }

  define("Crypto", Crypto);
  define("SubtleCrypto", SubtleCrypto);
  define("crypto", new Crypto(CREATE));
})(globalThis.__mfHost);
