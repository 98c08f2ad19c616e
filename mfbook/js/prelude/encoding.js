// mfbook prelude: encoding.js — TextEncoder, TextDecoder, atob, btoa.
//
// Speed matters (every request body goes through these) and QuickJS interprets JS, so the
// UTF-8 paths lean on native builtins instead of per-character loops:
//   encode: bytes = Uint8Array.fromBase64(btoa(unescape(encodeURIComponent(wellFormed))))
//   decode: text  = decodeURIComponent(escape(latin1(bytes)))
// encodeURIComponent emits UTF-8 percent-escapes, unescape turns them into one char per byte,
// and decodeURIComponent rejects exactly the byte sequences WHATWG UTF-8 calls errors
// (overlongs, surrogates, > U+10FFFF, truncation), in which case a spec-exact JS decoder with
// U+FFFD replacement takes over. Error texts follow workerd (src/workerd/api/encoding.c++,
// global-scope.c++).
(function (host) {
  "use strict";
  // Collections whose methods worker code cannot patch (intrinsics.js).
  const { SafeWeakMap } = globalThis.__mfIntrinsics;

  function define(name, value) {
    Object.defineProperty(globalThis, name, { value: value, writable: true, configurable: true, enumerable: false });
  }

  var fromCharCode = String.fromCharCode;
  var CHUNK = 8192;

  // One char per byte; apply() in chunks stays native and under argument-count limits.
  function latin1(bytes) {
    var n = bytes.length;
    if (n <= CHUNK) return fromCharCode.apply(null, bytes);
    var out = "";
    for (var i = 0; i < n; i += CHUNK) out += fromCharCode.apply(null, bytes.subarray(i, i + CHUNK));
    return out;
  }

  function toBytes(input, what) {
    if (input === undefined) return new Uint8Array(0);
    if (input instanceof ArrayBuffer || (typeof SharedArrayBuffer === "function" && input instanceof SharedArrayBuffer)) {
      return new Uint8Array(input);
    }
    if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    throw new TypeError("Failed to execute '" + what + "' on 'TextDecoder': parameter 1 is not of type 'ArrayBuffer or ArrayBufferView'.");
  }

  // ---------------------------------------------------------------------------------------
  // TextEncoder

  function utf8Encode(str) {
    if (str.length === 0) return new Uint8Array(0);
    if (!str.isWellFormed()) str = str.toWellFormed();
    return Uint8Array.fromBase64(nativeBtoa(unescape(encodeURIComponent(str))));
  }

  class TextEncoder {
    get encoding() { return "utf-8"; }

    encode(input) {
      return utf8Encode(input === undefined ? "" : String(input));
    }

    encodeInto(source, destination) {
      if (!(destination instanceof Uint8Array)) {
        throw new TypeError("Failed to execute 'encodeInto' on 'TextEncoder': parameter 2 is not of type 'Uint8Array'.");
      }
      var str = String(source);
      var room = destination.length;
      if (str.length * 3 <= room) {
        var all = utf8Encode(str);
        destination.set(all);
        return { read: str.length, written: all.length };
      }
      var read = 0, written = 0, n = str.length;
      while (read < n) {
        var c = str.charCodeAt(read), units = 1, cp = c;
        if (c >= 0xd800 && c <= 0xdbff && read + 1 < n) {
          var d = str.charCodeAt(read + 1);
          if (d >= 0xdc00 && d <= 0xdfff) { cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); units = 2; }
        }
        if (units === 1 && c >= 0xd800 && c <= 0xdfff) cp = 0xfffd;
        var size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (written + size > room) break;
        if (size === 1) {
          destination[written] = cp;
        } else if (size === 2) {
          destination[written] = 0xc0 | (cp >> 6);
          destination[written + 1] = 0x80 | (cp & 63);
        } else if (size === 3) {
          destination[written] = 0xe0 | (cp >> 12);
          destination[written + 1] = 0x80 | ((cp >> 6) & 63);
          destination[written + 2] = 0x80 | (cp & 63);
        } else {
          destination[written] = 0xf0 | (cp >> 18);
          destination[written + 1] = 0x80 | ((cp >> 12) & 63);
          destination[written + 2] = 0x80 | ((cp >> 6) & 63);
          destination[written + 3] = 0x80 | (cp & 63);
        }
        written += size;
        read += units;
      }
      return { read: read, written: written };
    }

    get [Symbol.toStringTag]() { return "TextEncoder"; }
  }

  // ---------------------------------------------------------------------------------------
  // TextDecoder

  // WHATWG Encoding labels for the encodings implemented here.
  var LABELS = {};
  function labels(name, list) { for (var i = 0; i < list.length; i++) LABELS[list[i]] = name; }
  labels("utf-8", ["unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8"]);
  labels("utf-16le", ["csunicode", "iso-10646-ucs-2", "ucs-2", "unicode", "unicodefeff", "utf-16", "utf-16le"]);
  labels("utf-16be", ["unicodefffe", "utf-16be"]);
  labels("windows-1252", ["ansi_x3.4-1968", "ascii", "cp1252", "cp819", "csisolatin1", "ibm819", "iso-8859-1",
    "iso-ir-100", "iso8859-1", "iso88591", "iso_8859-1", "iso_8859-1:1987", "l1", "latin1", "us-ascii", "windows-1252", "x-cp1252"]);

  // windows-1252 bytes 0x80..0x9F (the rest map to the same code point).
  var CP1252 = [0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d,
    0x17d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d,
    0x17e, 0x178];

  function decodeFailed() { return new TypeError("Failed to decode input."); }

  // Spec-exact WHATWG UTF-8 decoder (with U+FFFD replacement) for input the fast path rejects.
  function utf8DecodeSlow(bytes, fatal) {
    var out = [], parts = "", n = bytes.length, i = 0;
    var cp = 0, needed = 0, seen = 0, lower = 0x80, upper = 0xbf;
    while (i < n) {
      var b = bytes[i];
      if (needed === 0) {
        i++;
        if (b <= 0x7f) { out.push(b); }
        else if (b >= 0xc2 && b <= 0xdf) { needed = 1; cp = b & 0x1f; }
        else if (b >= 0xe0 && b <= 0xef) {
          if (b === 0xe0) lower = 0xa0;
          if (b === 0xed) upper = 0x9f;
          needed = 2; cp = b & 0xf;
        } else if (b >= 0xf0 && b <= 0xf4) {
          if (b === 0xf0) lower = 0x90;
          if (b === 0xf4) upper = 0x8f;
          needed = 3; cp = b & 0x7;
        } else {
          if (fatal) throw decodeFailed();
          out.push(0xfffd);
        }
      } else if (b < lower || b > upper) {
        // Do not consume b: it starts the next sequence.
        cp = needed = seen = 0; lower = 0x80; upper = 0xbf;
        if (fatal) throw decodeFailed();
        out.push(0xfffd);
      } else {
        i++;
        lower = 0x80; upper = 0xbf;
        cp = (cp << 6) | (b & 0x3f);
        if (++seen === needed) {
          if (cp > 0xffff) { cp -= 0x10000; out.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff)); }
          else out.push(cp);
          cp = needed = seen = 0;
        }
      }
      if (out.length >= CHUNK) { parts += fromCharCode.apply(null, out); out.length = 0; }
    }
    if (needed !== 0) {
      if (fatal) throw decodeFailed();
      out.push(0xfffd);
    }
    return parts + fromCharCode.apply(null, out);
  }

  function utf8Decode(bytes, fatal) {
    if (bytes.length === 0) return "";
    var bin = latin1(bytes);
    try {
      return decodeURIComponent(escape(bin));
    } catch (e) {
      return utf8DecodeSlow(bytes, fatal);
    }
  }

  // How many trailing bytes form an incomplete (but possibly valid) UTF-8 sequence.
  function utf8IncompleteTail(bytes) {
    var n = bytes.length;
    for (var back = 1; back <= 3 && back <= n; back++) {
      var b = bytes[n - back];
      if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
      var need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
      return need > back ? back : 0;
    }
    return 0;
  }

  function utf16Decode(bytes, bigEndian, fatal) {
    var out = [], parts = "", n = bytes.length & ~1;
    for (var i = 0; i < n; i += 2) {
      var u = bigEndian ? (bytes[i] << 8) | bytes[i + 1] : bytes[i] | (bytes[i + 1] << 8);
      if (u >= 0xd800 && u <= 0xdbff) {
        var v = i + 3 < n ? (bigEndian ? (bytes[i + 2] << 8) | bytes[i + 3] : bytes[i + 2] | (bytes[i + 3] << 8)) : -1;
        if (v >= 0xdc00 && v <= 0xdfff) { out.push(u, v); i += 2; }
        else { if (fatal) throw decodeFailed(); out.push(0xfffd); }
      } else if (u >= 0xdc00 && u <= 0xdfff) {
        if (fatal) throw decodeFailed();
        out.push(0xfffd);
      } else {
        out.push(u);
      }
      if (out.length >= CHUNK) { parts += fromCharCode.apply(null, out); out.length = 0; }
    }
    if (bytes.length & 1) { if (fatal) throw decodeFailed(); out.push(0xfffd); }
    return parts + fromCharCode.apply(null, out);
  }

  function utf16IncompleteTail(bytes, bigEndian) {
    var n = bytes.length, tail = n & 1;
    if (n - tail >= 2) {
      var i = n - tail - 2;
      var u = bigEndian ? (bytes[i] << 8) | bytes[i + 1] : bytes[i] | (bytes[i + 1] << 8);
      if (u >= 0xd800 && u <= 0xdbff) tail += 2; // a lead surrogate waiting for its trail
    }
    return tail;
  }

  function cp1252Decode(bytes) {
    var s = latin1(bytes);
    return /[\x80-\x9f]/.test(s) ? s.replace(/[\x80-\x9f]/g, function (ch) { return fromCharCode(CP1252[ch.charCodeAt(0) - 0x80]); }) : s;
  }

  var BOMS = { "utf-8": [0xef, 0xbb, 0xbf], "utf-16le": [0xff, 0xfe], "utf-16be": [0xfe, 0xff] };

  var state = new SafeWeakMap();
  function internals(self) {
    var s = state.get(self);
    if (!s) throw new TypeError("Illegal invocation");
    return s;
  }

  class TextDecoder {
    constructor(label, options) {
      var name = "utf-8";
      if (label !== undefined) {
        var raw = String(label);
        name = LABELS[raw.replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, "").toLowerCase()];
        if (name === undefined) throw new RangeError("\"" + raw + "\" is not a valid encoding.");
      }
      options = options == null ? {} : options;
      state.set(this, {
        encoding: name,
        fatal: !!options.fatal,
        ignoreBOM: !!options.ignoreBOM,
        pending: null, // bytes held back from the previous streaming call
        bomDone: false, // BOM handling already happened for the current stream
      });
    }

    get encoding() { return internals(this).encoding; }
    get fatal() { return internals(this).fatal; }
    get ignoreBOM() { return internals(this).ignoreBOM; }

    decode(input, options) {
      var s = internals(this);
      var bytes = toBytes(input, "decode");
      var stream = !!(options && options.stream);
      if (s.pending) {
        var joined = new Uint8Array(s.pending.length + bytes.length);
        joined.set(s.pending);
        joined.set(bytes, s.pending.length);
        bytes = joined;
        s.pending = null;
      }
      var enc = s.encoding;
      if (!s.bomDone && bytes.length > 0) {
        var bom = BOMS[enc];
        var m = 0;
        if (bom && !s.ignoreBOM) while (m < bom.length && m < bytes.length && bytes[m] === bom[m]) m++;
        if (bom && !s.ignoreBOM && m === bytes.length && m < bom.length && stream) {
          // Possibly a BOM split across chunks: wait for more input.
          s.pending = bytes.slice();
          return "";
        }
        if (bom && m === bom.length) bytes = bytes.subarray(m);
        s.bomDone = true;
      }
      if (stream && enc !== "windows-1252") {
        var tail = enc === "utf-8" ? utf8IncompleteTail(bytes) : utf16IncompleteTail(bytes, enc === "utf-16be");
        if (tail > 0) {
          s.pending = bytes.slice(bytes.length - tail);
          bytes = bytes.subarray(0, bytes.length - tail);
        }
      }
      var text;
      if (enc === "utf-8") text = utf8Decode(bytes, s.fatal);
      else if (enc === "windows-1252") text = cp1252Decode(bytes);
      else text = utf16Decode(bytes, enc === "utf-16be", s.fatal);
      if (!stream) { s.bomDone = false; s.pending = null; }
      return text;
    }

    get [Symbol.toStringTag]() { return "TextDecoder"; }
  }

  // ---------------------------------------------------------------------------------------
  // atob / btoa (forgiving-base64, HTML spec)

  // The engine's own btoa/atob (quickjs-ng has them) do the bulk work; the wrappers below add
  // forgiving-base64 validation and workerd's error texts.
  var nativeBtoa = globalThis.btoa;
  var nativeAtob = globalThis.atob;

  function btoa(data) {
    if (arguments.length === 0) throw new TypeError("btoa requires 1 argument, but only 0 present.");
    var s = String(data);
    if (/[^\x00-\xff]/.test(s)) {
      throw new DOMException("btoa() can only operate on characters in the Latin1 (ISO/IEC 8859-1) range.", "InvalidCharacterError");
    }
    return nativeBtoa(s);
  }

  function atob(data) {
    if (arguments.length === 0) throw new TypeError("atob requires 1 argument, but only 0 present.");
    var s = String(data);
    if (/[\t\n\f\r ]/.test(s)) s = s.replace(/[\t\n\f\r ]+/g, "");
    if (s.length % 4 === 0 && s.charCodeAt(s.length - 1) === 61 /* = */) {
      s = s.slice(0, s.charCodeAt(s.length - 2) === 61 ? -2 : -1);
    }
    if (s.length % 4 === 1 || !/^[A-Za-z0-9+/]*$/.test(s)) {
      throw new DOMException("atob() called with invalid base64-encoded data. (Only whitespace, '+', '/', alphanumeric " +
        "ASCII, and up to two terminal '=' signs when the input data length is divisible by 4 are allowed.)",
      "InvalidCharacterError");
    }
    if (s.length % 4 !== 0) s += s.length % 4 === 2 ? "==" : "=";
    return nativeAtob(s);
  }

  define("TextEncoder", TextEncoder);
  define("TextDecoder", TextDecoder);
  define("atob", atob);
  define("btoa", btoa);
})(globalThis.__mfHost);
