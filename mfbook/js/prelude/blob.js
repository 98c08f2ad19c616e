// Blob and File for the mfbook prelude, plus the byte helpers shared with the fetch_*.js parts.
//
// Internal API (`host.binary`):
//   toBinaryString(u8) -> string       one char (0..255) per byte: the bridge's wire format
//   fromBinaryString(s) -> Uint8Array
//   utf8Encode(string) -> Uint8Array   lone surrogates become U+FFFD
//   utf8EncodeBinary(string) -> string the UTF-8 bytes as a binary string
//   utf8DecodeBinary(s) -> string      decode a binary string of UTF-8, U+FFFD for bad bytes,
//                                      leading BOM dropped (as Body.text() does)
//   utf8Decode(u8) -> string
//   toBytes(bufferSource) -> Uint8Array (a view, no copy) or null when not a buffer source
//   blobBytes(blob) -> Uint8Array      the blob's bytes (shared, never mutate)
//   makeBlob(u8, type) / makeFile(u8, name, type, lastModified) -> Blob / File without a copy
(function (host) {
  'use strict';

  // Binary string -> bytes in C: Uint8Array.fromBase64(btoa(s)) is ~25x faster than a charCodeAt
  // loop in QuickJS. btoa is captured now (encoding.js's validating wrapper around the engine's
  // btoa is fine: binary strings are always Latin-1), before user code can replace it.
  // Bytes -> binary string uses String.fromCharCode.apply on 8 KiB chunks (native as well).
  const btoaFn = typeof globalThis.btoa === 'function' ? globalThis.btoa : null;
  const fromBase64 = typeof Uint8Array.fromBase64 === 'function' ? Uint8Array.fromBase64 : null;
  const fromCharCode = String.fromCharCode;
  const SMALL = 64;
  const CHUNK = 8192;

  function toBinaryString(bytes) {
    const n = bytes.length;
    if (n <= CHUNK) return fromCharCode.apply(null, bytes);
    const parts = [];
    for (let i = 0; i < n; i += CHUNK) {
      parts.push(fromCharCode.apply(null, bytes.subarray(i, i + CHUNK)));
    }
    return parts.join('');
  }

  function fromBinaryString(s) {
    const n = s.length;
    if (n > SMALL && btoaFn !== null && fromBase64 !== null) {
      return fromBase64.call(Uint8Array, btoaFn(s));
    }
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = s.charCodeAt(i);
    return out;
  }

  function utf8EncodeBinary(string) {
    let s = String(string);
    if (!s.isWellFormed()) s = s.toWellFormed();
    return unescape(encodeURIComponent(s));
  }

  function utf8Encode(string) {
    return fromBinaryString(utf8EncodeBinary(string));
  }

  // Slow path for invalid UTF-8: WHATWG decoder with one U+FFFD per maximal bad subpart.
  function decodeLenient(bin) {
    const out = [];
    const n = bin.length;
    let i = 0;
    while (i < n) {
      const b0 = bin.charCodeAt(i);
      if (b0 < 0x80) { out.push(b0); i++; continue; }
      let need = 0;
      let cp = 0;
      let lower = 0x80;
      let upper = 0xbf;
      if (b0 >= 0xc2 && b0 <= 0xdf) { need = 1; cp = b0 & 0x1f; } else if (b0 >= 0xe0 && b0 <= 0xef) {
        need = 2; cp = b0 & 0x0f;
        if (b0 === 0xe0) lower = 0xa0;
        if (b0 === 0xed) upper = 0x9f;
      } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        need = 3; cp = b0 & 0x07;
        if (b0 === 0xf0) lower = 0x90;
        if (b0 === 0xf4) upper = 0x8f;
      } else { out.push(0xfffd); i++; continue; }
      let j = i + 1;
      let ok = true;
      for (let k = 0; k < need; k++, j++) {
        const b = j < n ? bin.charCodeAt(j) : -1;
        if (b < lower || b > upper) { ok = false; break; }
        lower = 0x80; upper = 0xbf;
        cp = (cp << 6) | (b & 0x3f);
      }
      if (!ok) { out.push(0xfffd); i = j; continue; }
      out.push(cp);
      i = j;
    }
    const parts = [];
    for (let k = 0; k < out.length; k += CHUNK) {
      parts.push(String.fromCodePoint.apply(null, out.slice(k, k + CHUNK)));
    }
    return parts.join('');
  }

  function utf8DecodeBinary(bin) {
    if (bin.length >= 3 && bin.charCodeAt(0) === 0xef && bin.charCodeAt(1) === 0xbb &&
        bin.charCodeAt(2) === 0xbf) {
      bin = bin.slice(3);
    }
    try {
      return decodeURIComponent(escape(bin));
    } catch (e) {
      return decodeLenient(bin);
    }
  }

  function utf8Decode(bytes) {
    return utf8DecodeBinary(toBinaryString(bytes));
  }

  function toBytes(value) {
    if (value instanceof Uint8Array) return value;
    if (value instanceof ArrayBuffer) return new Uint8Array(value);
    if (ArrayBuffer.isView(value)) {
      return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    }
    if (typeof SharedArrayBuffer === 'function' && value instanceof SharedArrayBuffer) {
      return new Uint8Array(value);
    }
    return null;
  }

  function concat(arrays, total) {
    const out = new Uint8Array(total);
    let offset = 0;
    for (const a of arrays) {
      out.set(a, offset);
      offset += a.byteLength;
    }
    return out;
  }

  // Blob type: lower-cased if every char is printable ASCII, otherwise "".
  function normalizeType(type) {
    if (type === undefined) return '';
    const s = String(type);
    return /^[\x20-\x7e]*$/.test(s) ? s.toLowerCase() : '';
  }

  const INTERNAL = Symbol('mfbook.blob.internal');
  let blobBytes;
  let initBlob;
  let fileInit;

  class Blob {
    #bytes;
    #type;

    constructor(blobParts = undefined, options = undefined) {
      if (blobParts === INTERNAL) return;  // makeBlob/makeFile fill the slots
      const parts = [];
      let total = 0;
      if (blobParts !== undefined && blobParts !== null) {
        if (typeof blobParts !== 'object' || typeof blobParts[Symbol.iterator] !== 'function') {
          throw new TypeError("Failed to construct 'Blob': The provided value cannot be converted " +
            'to a sequence.');
        }
        for (const part of blobParts) {
          let bytes;
          if (part instanceof Blob) {
            bytes = part.#bytes;
          } else {
            const view = toBytes(part);
            bytes = view !== null ? view.slice() : utf8Encode(part);
          }
          parts.push(bytes);
          total += bytes.byteLength;
        }
      } else if (blobParts === null) {
        throw new TypeError("Failed to construct 'Blob': The provided value cannot be converted " +
          'to a sequence.');
      }
      this.#bytes = parts.length === 1 ? parts[0] : concat(parts, total);
      this.#type = normalizeType(options == null ? undefined : options.type);
    }

    static {
      blobBytes = (blob) => blob.#bytes;
      initBlob = (blob, bytes, type) => { blob.#bytes = bytes; blob.#type = type; return blob; };
    }

    get size() { return this.#bytes.byteLength; }
    get type() { return this.#type; }

    slice(start = undefined, end = undefined, contentType = undefined) {
      const size = this.#bytes.byteLength;
      const clamp = (value, fallback) => {
        if (value === undefined) return fallback;
        let n = Math.trunc(Number(value)) || 0;
        if (n < 0) n = Math.max(size + n, 0);
        return Math.min(n, size);
      };
      const from = clamp(start, 0);
      const to = clamp(end, size);
      const bytes = to > from ? this.#bytes.subarray(from, to) : new Uint8Array(0);
      return initBlob(new Blob(INTERNAL), bytes, normalizeType(contentType));
    }

    arrayBuffer() {
      return Promise.resolve(this.#bytes.slice().buffer);
    }

    bytes() {
      return Promise.resolve(this.#bytes.slice());
    }

    text() {
      return Promise.resolve(utf8Decode(this.#bytes));
    }

    stream() {
      return host.streams.fromBytes(this.#bytes);
    }

    get [Symbol.toStringTag]() { return 'Blob'; }
  }

  class File extends Blob {
    #name;
    #lastModified;

    constructor(fileBits, fileName, options = undefined) {
      if (fileBits === INTERNAL) {
        super(INTERNAL);
        return;
      }
      if (arguments.length < 2) {
        throw new TypeError("Failed to construct 'File': 2 arguments required, but only " +
          arguments.length + ' present.');
      }
      super(fileBits, options);
      this.#name = String(fileName);
      const lm = options == null ? undefined : options.lastModified;
      this.#lastModified = lm === undefined ? Date.now() : Math.trunc(Number(lm)) || 0;
    }

    static {
      fileInit = (file, name, lastModified) => {
        file.#name = name;
        file.#lastModified = lastModified;
        return file;
      };
    }

    get name() { return this.#name; }
    get lastModified() { return this.#lastModified; }
    get [Symbol.toStringTag]() { return 'File'; }
  }

  function makeBlob(bytes, type) {
    return initBlob(new Blob(INTERNAL), bytes, normalizeType(type));
  }

  function makeFile(bytes, name, type, lastModified) {
    const file = new File(INTERNAL);
    initBlob(file, bytes, normalizeType(type));
    return fileInit(file, String(name), lastModified === undefined ? Date.now() : lastModified);
  }

  for (const [name, value] of [['Blob', Blob], ['File', File]]) {
    Object.defineProperty(globalThis, name, {
      value, writable: true, configurable: true, enumerable: false,
    });
  }

  host.binary = {
    toBinaryString,
    fromBinaryString,
    utf8Encode,
    utf8EncodeBinary,
    utf8Decode,
    utf8DecodeBinary,
    toBytes,
    blobBytes,
    makeBlob,
    makeFile,
  };
})(globalThis.__mfHost);
