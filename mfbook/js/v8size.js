// mfbook value codec, V8 serialization size: how many bytes V8's serializer would write for a
// value given as codec text (the storage value limit is measured on that). Mirrors
// mfbook/v8size.py, which a test holds to the same numbers.
//
// Plain script, loaded right after codec.js: adds `v8Size(text) -> number` to
// globalThis.__mfCodec and freezes it.
(function (codec) {
  "use strict";
  const { parse, stringify, SafeSet } = globalThis.__mfIntrinsics;
  const isArray = Array.isArray;
  const keysOf = Object.keys;
  const hasOwn = Object.prototype.hasOwnProperty;
  const formatError = (message) => new TypeError("Invalid codec document: " + message);

  const ERROR_PROTOTYPES = new SafeSet(["EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError"]);
  const REGEXP_FLAGS = { g: 1, i: 2, m: 4, y: 8, u: 16, s: 32, d: 128, v: 256 };
  const VIEW_ITEM_BYTES = {
    Int8Array: 1, Uint8Array: 1, Uint8ClampedArray: 1, Int16Array: 2, Uint16Array: 2, Float16Array: 2,
    Int32Array: 4, Uint32Array: 4, Float32Array: 4, Float64Array: 8, BigInt64Array: 8, BigUint64Array: 8, DataView: 1,
  };
  const INDEX = /^(?:0|[1-9][0-9]*)$/;

  function varintSize(n) {
    let size = 1;
    while (n >= 0x80) {
      n = Math.floor(n / 128);
      size++;
    }
    return size;
  }

  /** The byte length of V8's serialization of the value codec `text` stands for. */
  function v8Size(text) {
    let offset = 2; // header
    const string = (s) => {
      let wide = false;
      let units = s.length;
      for (let i = 0; i < units; i++) {
        if (s.charCodeAt(i) > 0xff) {
          wide = true;
          break;
        }
      }
      if (!wide) {
        offset += 1 + varintSize(units) + units;
        return;
      }
      const bytes = 2 * units;
      if ((offset + 1 + varintSize(bytes)) & 1) offset++; // padding: characters at an even offset
      offset += 1 + varintSize(bytes) + bytes;
    };
    const number = (n) => {
      if (Number.isInteger(n) && n >= -2147483648 && n <= 2147483647) {
        offset += 1 + varintSize(((n << 1) ^ (n >> 31)) >>> 0);
      } else {
        offset += 9;
      }
    };
    const bigintBody = (digitsText) => {
      let magnitude = BigInt(digitsText);
      if (magnitude < 0n) magnitude = -magnitude;
      let digits = 0;
      while (magnitude > 0n) {
        magnitude >>= 64n;
        digits++;
      }
      offset += varintSize(digits * 16) + digits * 8;
    };
    const key = (k) => {
      if (INDEX.test(k) && Number(k) <= 4294967294) number(Number(k));
      else string(k);
    };
    const pairs = (object) => {
      const names = keysOf(object);
      for (let i = 0; i < names.length; i++) {
        key(names[i]);
        value(object[names[i]]);
      }
      return names.length;
    };
    const dense = (items, props) => {
      offset += 1 + varintSize(items.length);
      for (let i = 0; i < items.length; i++) value(items[i]);
      const count = props === undefined ? 0 : pairs(props);
      offset += 1 + varintSize(count) + varintSize(items.length);
    };
    const TAGS = {
      undefined: () => { offset += 1; },
      number: () => { offset += 9; },
      bigint: (x) => { offset += 1; bigintBody(x.v); },
      ref: (x) => { offset += 1 + varintSize(x.id); },
      date: () => { offset += 9; },
      regexp: (x) => {
        offset += 1;
        string(x.source);
        let flags = 0;
        for (let i = 0; i < x.flags.length; i++) flags += REGEXP_FLAGS[x.flags[i]] || 0;
        offset += varintSize(flags);
      },
      map: (x) => {
        offset += 1;
        for (let i = 0; i < x.entries.length; i++) {
          value(x.entries[i][0]);
          value(x.entries[i][1]);
        }
        offset += 1 + varintSize(2 * x.entries.length);
      },
      set: (x) => {
        offset += 1;
        for (let i = 0; i < x.values.length; i++) value(x.values[i]);
        offset += 1 + varintSize(x.values.length);
      },
      array: (x) => {
        const items = x.items === undefined ? [] : x.items;
        if (isArray(items) && items.length === x.length) {
          dense(items, x.props);
          return;
        }
        offset += 1 + varintSize(x.length);
        const count = pairs(items) + (x.props === undefined ? 0 : pairs(x.props));
        offset += 1 + varintSize(count) + varintSize(x.length);
      },
      object: (x) => plain(x.props),
      arraybuffer: (x) => {
        let end = x.base64.length;
        while (end > 0 && x.base64[end - 1] === "=") end--;
        const length = Math.floor((end * 3) / 4);
        offset += 1 + varintSize(length) + length;
      },
      view: (x) => {
        const bytes = x.length * (hasOwn.call(VIEW_ITEM_BYTES, x.kind) ? VIEW_ITEM_BYTES[x.kind] : 1);
        offset += 2 + varintSize(bytes) + bytes; // Node's host object: tag, type, length, bytes
      },
      error: (x) => {
        offset += ERROR_PROTOTYPES.has(x.name) ? 2 : 1;
        offset += 1;
        string(x.message === undefined ? "" : x.message);
        if (typeof x.stack === "string") {
          offset += 1;
          string(x.stack);
        }
        if (hasOwn.call(x, "cause")) {
          offset += 1;
          value(x.cause);
        }
        offset += 1;
      },
      boxed: (x) => {
        const inner = x.v;
        if (typeof inner === "boolean") offset += 1;
        else if (typeof inner === "string") {
          offset += 1;
          string(inner);
        } else if (inner !== null && typeof inner === "object" && inner.$ === "bigint") {
          offset += 1;
          bigintBody(inner.v);
        } else offset += 9;
      },
      codec: (x) => value(x.value),
    };
    function value(x) {
      switch (typeof x) {
        case "string":
          string(x);
          return;
        case "number":
          number(x);
          return;
        case "boolean":
          offset += 1;
          return;
      }
      if (x === null) {
        offset += 1;
      } else if (isArray(x)) {
        dense(x, undefined);
      } else if (hasOwn.call(x, "$")) {
        const handler = hasOwn.call(TAGS, x.$) ? TAGS[x.$] : undefined;
        if (handler === undefined) throw formatError("unknown tag " + stringify(x.$));
        handler(x);
      } else {
        plain(x);
      }
    }
    function plain(object) {
      offset += 1;
      const count = pairs(object); // before `offset +=`, which reads offset first
      offset += 1 + varintSize(count);
    }
    value(parse(text));
    return offset;
  }

  globalThis.__mfCodec = Object.freeze({ ...codec, v8Size });
})(globalThis.__mfCodec);
