// mfbook prelude: url.js — WHATWG `URL` and `URLSearchParams`.
//
// Parsing and serialisation are the vendored WHATWG reference implementation's URL state
// machine (whatwg-url, mfbook/js/vendor/whatwg-url.js; IDNA via tr46.js). Its generated
// WebIDL wrappers cost ~15 µs per `new URL` in QuickJS (they also build a URLSearchParams
// eagerly), and URLs are parsed several times per request, so the two classes here are thin
// classes over the state machine's URL *record*, following the spec's (and whatwg-url's
// URL-impl) getter/setter algorithms, with the search params created on first use.
//
// Start-up cost: the vendored bundle costs QuickJS ~15 ms to parse (tr46's IDNA tables another
// ~30 ms), so it is evaluated on the first parse, and tr46 only when a host needs UTS 46.
// The sources come from `host.vendor` (name without ".js" -> source text), filled by the loader.
(function (host) {
  "use strict";
  // Collections whose methods worker code cannot patch (intrinsics.js).
  const { SafeMap } = globalThis.__mfIntrinsics;

  const indirectEval = eval;
  let usm = null;
  let tr46 = null;

  function source(name) {
    const text = host.vendor && host.vendor[name];
    if (typeof text !== "string") throw new Error("mfbook: vendored " + name + " was not provided to the isolate");
    return text;
  }

  function evaluate(name, requireFn) {
    const factory = indirectEval(source(name));
    const module = { exports: {} };
    factory(requireFn, module, module.exports);
    return module.exports;
  }

  function loadTr46() {
    if (tr46 === null) tr46 = evaluate("tr46", (id) => { throw new Error("tr46: unexpected require " + id); });
    return tr46;
  }

  const lazyTr46 = {
    toASCII: (domain, options) => loadTr46().toASCII(domain, options),
    toUnicode: (domain, options) => loadTr46().toUnicode(domain, options),
  };

  function machine() {
    if (usm === null) {
      usm = evaluate("whatwg-url", (id) => {
        if (id === "tr46") return lazyTr46;
        throw new Error("whatwg-url: unexpected require " + id);
      }).usm;
    }
    return usm;
  }

  const INVALID = "Invalid URL string.";

  // ------------------------------------------------------------------ application/x-www-form-urlencoded
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const SIMPLE_COMPONENT = /^[A-Za-z0-9*\-._]*$/;

  function decodeComponent(text) {
    if (text.indexOf("+") !== -1) text = text.replace(/\+/g, " ");
    if (text.indexOf("%") === -1) return text;
    const bytes = encoder.encode(text);
    const out = new Uint8Array(bytes.length);
    let length = 0;
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i];
      if (byte === 0x25 && i + 2 < bytes.length && isHex(bytes[i + 1]) && isHex(bytes[i + 2])) {
        out[length++] = (hexValue(bytes[i + 1]) << 4) | hexValue(bytes[i + 2]);
        i += 2;
      } else {
        out[length++] = byte;
      }
    }
    return decoder.decode(out.subarray(0, length));
  }

  function isHex(byte) {
    return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66);
  }

  function hexValue(byte) {
    return byte <= 0x39 ? byte - 0x30 : (byte | 0x20) - 0x57;
  }

  function parseUrlencoded(input) {
    const list = [];
    if (input === "") return list;
    for (const sequence of input.split("&")) {
      if (sequence === "") continue;
      const equals = sequence.indexOf("=");
      const name = equals === -1 ? sequence : sequence.slice(0, equals);
      const value = equals === -1 ? "" : sequence.slice(equals + 1);
      list.push([decodeComponent(name), decodeComponent(value)]);
    }
    return list;
  }

  function encodeComponent(text) {
    if (SIMPLE_COMPONENT.test(text)) return text;
    let out = "";
    const bytes = encoder.encode(text);
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i];
      if (byte === 0x20) out += "+";
      else if (
        byte === 0x2a || byte === 0x2d || byte === 0x2e || byte === 0x5f ||
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
      ) out += String.fromCharCode(byte);
      else out += "%" + (byte < 16 ? "0" : "") + byte.toString(16).toUpperCase();
    }
    return out;
  }

  function serializeUrlencoded(list) {
    let out = "";
    for (let i = 0; i < list.length; i++) {
      if (i > 0) out += "&";
      out += encodeComponent(list[i][0]) + "=" + encodeComponent(list[i][1]);
    }
    return out;
  }

  function toUSVString(value) {
    const text = String(value);
    return typeof text.toWellFormed === "function" ? text.toWellFormed() : text;
  }

  // ------------------------------------------------------------------ URLSearchParams
  const kList = Symbol("list");
  const kOwner = Symbol("owner");

  class URLSearchParams {
    constructor(init = undefined) {
      this[kOwner] = null;
      if (init === undefined || init === null) {
        this[kList] = init === null ? parseUrlencoded("null") : [];
      } else if (typeof init === "object" || typeof init === "function") {
        if (typeof init[Symbol.iterator] === "function") {
          const list = [];
          for (const pair of init) {
            const items = typeof pair === "string" ? null : Array.from(pair);
            if (items === null || items.length !== 2) {
              throw new TypeError(
                "Failed to construct 'URLSearchParams': parameter 1 sequence's element does not contain exactly two elements."
              );
            }
            list.push([toUSVString(items[0]), toUSVString(items[1])]);
          }
          this[kList] = list;
        } else {
          this[kList] = Object.keys(init).map((name) => [toUSVString(name), toUSVString(init[name])]);
        }
      } else {
        let text = toUSVString(init);
        if (text[0] === "?") text = text.slice(1);
        this[kList] = parseUrlencoded(text);
      }
    }
    _update() {
      const owner = this[kOwner];
      if (owner === null) return;
      const serialized = serializeUrlencoded(this[kList]);
      owner.query = serialized === "" ? null : serialized;
    }
    get size() {
      return this[kList].length;
    }
    append(name, value) {
      if (arguments.length < 2) throw new TypeError("Failed to execute 'append' on 'URLSearchParams': 2 arguments required.");
      this[kList].push([toUSVString(name), toUSVString(value)]);
      this._update();
    }
    delete(name, value) {
      name = toUSVString(name);
      value = value === undefined ? undefined : toUSVString(value);
      this[kList] = this[kList].filter((pair) => !(pair[0] === name && (value === undefined || pair[1] === value)));
      this._update();
    }
    get(name) {
      name = toUSVString(name);
      const list = this[kList];
      for (let i = 0; i < list.length; i++) if (list[i][0] === name) return list[i][1];
      return null;
    }
    getAll(name) {
      name = toUSVString(name);
      return this[kList].filter((pair) => pair[0] === name).map((pair) => pair[1]);
    }
    has(name, value) {
      name = toUSVString(name);
      value = value === undefined ? undefined : toUSVString(value);
      return this[kList].some((pair) => pair[0] === name && (value === undefined || pair[1] === value));
    }
    set(name, value) {
      name = toUSVString(name);
      value = toUSVString(value);
      const list = this[kList];
      let found = false;
      const kept = [];
      for (const pair of list) {
        if (pair[0] !== name) kept.push(pair);
        else if (!found) {
          found = true;
          kept.push([name, value]);
        }
      }
      if (!found) kept.push([name, value]);
      this[kList] = kept;
      this._update();
    }
    sort() {
      // Stable sort by UTF-16 code units, as the spec says.
      this[kList] = this[kList]
        .map((pair, index) => [pair, index])
        .sort((a, b) => (a[0][0] < b[0][0] ? -1 : a[0][0] > b[0][0] ? 1 : a[1] - b[1]))
        .map((entry) => entry[0]);
      this._update();
    }
    forEach(callback, thisArg) {
      if (typeof callback !== "function") {
        throw new TypeError("Failed to execute 'forEach' on 'URLSearchParams': parameter 1 is not of type 'Function'.");
      }
      for (let i = 0; i < this[kList].length; i++) {
        const [name, value] = this[kList][i];
        callback.call(thisArg, value, name, this);
      }
    }
    *entries() {
      for (let i = 0; i < this[kList].length; i++) yield [this[kList][i][0], this[kList][i][1]];
    }
    *keys() {
      for (let i = 0; i < this[kList].length; i++) yield this[kList][i][0];
    }
    *values() {
      for (let i = 0; i < this[kList].length; i++) yield this[kList][i][1];
    }
    [Symbol.iterator]() {
      return this.entries();
    }
    toString() {
      return serializeUrlencoded(this[kList]);
    }
    get [Symbol.toStringTag]() {
      return "URLSearchParams";
    }
  }
  Object.defineProperty(URLSearchParams.prototype, "_update", { enumerable: false });

  function attachParams(record) {
    const params = new URLSearchParams();
    params[kList] = record.query === null ? [] : parseUrlencoded(record.query);
    params[kOwner] = record;
    return params;
  }

  // ------------------------------------------------------------------ URL
  const kRecord = Symbol("record");
  const kParams = Symbol("params");
  // The simplest absolute URLs (lower-case http(s), ASCII host, no dot segments or escapes)
  // parse to a record without running the state machine; anything else takes the full path.
  const SIMPLE_URL = /^(https?):\/\/([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::([0-9]{1,5}))?(\/[A-Za-z0-9\-._~!$&'()*+,;=:@\/]*)?(?:\?([A-Za-z0-9\-._~!$&()*+,;=:@\/?]*))?$/;
  const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;
  const DEFAULT_PORTS = { http: 80, https: 443 };

  function simpleRecord(input) {
    const match = SIMPLE_URL.exec(input);
    if (match === null) return null;
    const path = match[4];
    if (path !== undefined && DOT_SEGMENT.test(path)) return null;
    const host = match[2];
    const lastLabel = host.slice(host.lastIndexOf(".") + 1);
    // A numeric last label makes the host IPv4 (or invalid); punycode needs IDNA checks.
    if (/^(?:0x[0-9a-f]*|[0-9]+)$/.test(lastLabel) || host.startsWith("xn--") || host.indexOf(".xn--") !== -1) return null;
    let port = match[3] === undefined ? null : Number(match[3]);
    if (port !== null && port > 65535) return null;
    if (port === DEFAULT_PORTS[match[1]]) port = null;
    return {
      scheme: match[1],
      username: "",
      password: "",
      host,
      port,
      path: path === undefined ? [""] : path.slice(1).split("/"),
      query: match[5] === undefined ? null : match[5],
      fragment: null,
    };
  }

  // Requests parse the same few URLs over and over (the entry worker and the object both do):
  // simple records are remembered by input and handed out as copies (records are mutable).
  const simpleCache = new SafeMap();

  function copyRecord(record) {
    return {
      scheme: record.scheme,
      username: record.username,
      password: record.password,
      host: record.host,
      port: record.port,
      path: record.path.slice(),
      query: record.query,
      fragment: record.fragment,
    };
  }

  function parse(input, baseRecord) {
    if (baseRecord === null) {
      const cached = simpleCache.get(input);
      if (cached !== undefined) return copyRecord(cached);
      const simple = simpleRecord(input);
      if (simple !== null) {
        if (simpleCache.size >= 256) simpleCache.clear();
        simpleCache.set(input, copyRecord(simple));
        return simple;
      }
    }
    return machine().basicURLParse(input, { baseURL: baseRecord });
  }

  const baseCache = new SafeMap();

  function parseBase(base) {
    let record = baseCache.get(base);
    if (record === undefined) {
      record = parse(base, null);
      if (record === null) return null;
      if (baseCache.size > 64) baseCache.clear();
      baseCache.set(base, record);
    }
    return record;
  }

  function cannotHaveCredentialsOrPort(record) {
    return record.host === null || record.host === "" || record.scheme === "file";
  }

  function hasOpaquePath(record) {
    return typeof record.path === "string";
  }

  class URL {
    constructor(url, base = undefined) {
      if (arguments.length === 0) throw new TypeError("Failed to construct 'URL': 1 argument required, but only 0 present.");
      const input = toUSVString(url);
      let baseRecord = null;
      if (base !== undefined) {
        baseRecord = parseBase(toUSVString(base));
        if (baseRecord === null) throw new TypeError(INVALID);
      }
      const record = parse(input, baseRecord);
      if (record === null) throw new TypeError(INVALID);
      this[kRecord] = record;
      this[kParams] = null;
    }
    static canParse(url, base = undefined) {
      try {
        new URL(url, base);
        return true;
      } catch (_) {
        return false;
      }
    }
    static parse(url, base = undefined) {
      try {
        return new URL(url, base);
      } catch (_) {
        return null;
      }
    }
    get href() {
      return machine().serializeURL(this[kRecord]);
    }
    set href(value) {
      const record = parse(toUSVString(value), null);
      if (record === null) throw new TypeError(INVALID);
      this[kRecord] = record;
      if (this[kParams] !== null) this[kParams] = attachParams(record);
    }
    get origin() {
      return machine().serializeURLOrigin(this[kRecord]);
    }
    get protocol() {
      return this[kRecord].scheme + ":";
    }
    set protocol(value) {
      machine().basicURLParse(toUSVString(value) + ":", { url: this[kRecord], stateOverride: "scheme start" });
    }
    get username() {
      return this[kRecord].username;
    }
    set username(value) {
      if (cannotHaveCredentialsOrPort(this[kRecord])) return;
      machine().setTheUsername(this[kRecord], toUSVString(value));
    }
    get password() {
      return this[kRecord].password;
    }
    set password(value) {
      if (cannotHaveCredentialsOrPort(this[kRecord])) return;
      machine().setThePassword(this[kRecord], toUSVString(value));
    }
    get host() {
      const record = this[kRecord];
      if (record.host === null) return "";
      const host = typeof record.host === "string" ? record.host : machine().serializeHost(record.host);
      return record.port === null ? host : host + ":" + record.port;
    }
    set host(value) {
      if (hasOpaquePath(this[kRecord])) return;
      machine().basicURLParse(toUSVString(value), { url: this[kRecord], stateOverride: "host" });
    }
    get hostname() {
      const record = this[kRecord];
      if (record.host === null) return "";
      return typeof record.host === "string" ? record.host : machine().serializeHost(record.host);
    }
    set hostname(value) {
      if (hasOpaquePath(this[kRecord])) return;
      machine().basicURLParse(toUSVString(value), { url: this[kRecord], stateOverride: "hostname" });
    }
    get port() {
      const port = this[kRecord].port;
      return port === null ? "" : String(port);
    }
    set port(value) {
      if (cannotHaveCredentialsOrPort(this[kRecord])) return;
      value = toUSVString(value);
      if (value === "") this[kRecord].port = null;
      else machine().basicURLParse(value, { url: this[kRecord], stateOverride: "port" });
    }
    get pathname() {
      const path = this[kRecord].path;
      if (typeof path === "string") return path;
      return "/" + path.join("/");
    }
    set pathname(value) {
      if (hasOpaquePath(this[kRecord])) return;
      this[kRecord].path = [];
      machine().basicURLParse(toUSVString(value), { url: this[kRecord], stateOverride: "path start" });
    }
    get search() {
      const query = this[kRecord].query;
      return query === null || query === "" ? "" : "?" + query;
    }
    set search(value) {
      const record = this[kRecord];
      value = toUSVString(value);
      if (value === "") {
        record.query = null;
      } else {
        const input = value[0] === "?" ? value.slice(1) : value;
        record.query = "";
        machine().basicURLParse(input, { url: record, stateOverride: "query" });
      }
      if (this[kParams] !== null) this[kParams][kList] = record.query === null ? [] : parseUrlencoded(record.query);
    }
    get searchParams() {
      if (this[kParams] === null) this[kParams] = attachParams(this[kRecord]);
      return this[kParams];
    }
    get hash() {
      const fragment = this[kRecord].fragment;
      return fragment === null || fragment === "" ? "" : "#" + fragment;
    }
    set hash(value) {
      value = toUSVString(value);
      if (value === "") {
        this[kRecord].fragment = null;
        return;
      }
      const input = value[0] === "#" ? value.slice(1) : value;
      this[kRecord].fragment = "";
      machine().basicURLParse(input, { url: this[kRecord], stateOverride: "fragment" });
    }
    toString() {
      return this.href;
    }
    toJSON() {
      return this.href;
    }
    get [Symbol.toStringTag]() {
      return "URL";
    }
  }

  // Accessors are enumerable on the prototype, as WebIDL attributes are.
  for (const name of ["href", "origin", "protocol", "username", "password", "host", "hostname", "port", "pathname",
    "search", "searchParams", "hash"]) {
    const descriptor = Object.getOwnPropertyDescriptor(URL.prototype, name);
    descriptor.enumerable = true;
    Object.defineProperty(URL.prototype, name, descriptor);
  }

  for (const [name, value] of [["URL", URL], ["URLSearchParams", URLSearchParams]]) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  }

  // For tests and diagnostics: the state machine and whether tr46 has been evaluated.
  host.urlInternals = function () {
    return { module: { URL, URLSearchParams, usm: machine() }, tr46Loaded: tr46 !== null };
  };
  host.urlLoaded = () => ({ stateMachine: usm !== null, tr46: tr46 !== null });
  host.url = { parse, serialize: (record) => machine().serializeURL(record), recordOf: (url) => url[kRecord] };
})(globalThis.__mfHost);
