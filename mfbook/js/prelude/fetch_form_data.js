// Fetch API for the mfbook prelude, part "form_data": FormData, multipart/form-data and urlencoded bodies.
// Parts share `host.fetchParts` (fetch_headers.js describes them and the bridge API).
(function (host, F) {
  'use strict';
  const {
    SafeMap, bin, makeIterator
  } = F;
  // ---------------------------------------------------------------------------------------
  // FormData

  let formEntries;

  function toFormValue(value, filename, argCount) {
    if (value instanceof Blob) {
      if (!(value instanceof File) || argCount > 2) {
        const name = argCount > 2 ? String(filename) : 'blob';
        return bin.makeFile(bin.blobBytes(value), name, value.type,
          value instanceof File ? value.lastModified : undefined);
      }
      return value;
    }
    return String(value);
  }

  class FormData {
    #entries = [];  // [name, string | File]

    constructor(form = undefined) {
      if (form !== undefined) {
        throw new TypeError("Failed to construct 'FormData': parameter 1 is not supported.");
      }
    }

    static {
      formEntries = (form) => form.#entries;
    }

    append(name, value, filename = undefined) {
      this.#entries.push([String(name), toFormValue(value, filename, arguments.length)]);
    }

    set(name, value, filename = undefined) {
      const key = String(name);
      const entry = [key, toFormValue(value, filename, arguments.length)];
      const index = this.#entries.findIndex((e) => e[0] === key);
      if (index < 0) {
        this.#entries.push(entry);
      } else {
        this.#entries = this.#entries.filter((e, i) => i === index || e[0] !== key);
        this.#entries[index] = entry;
      }
    }

    delete(name) {
      const key = String(name);
      this.#entries = this.#entries.filter((e) => e[0] !== key);
    }

    get(name) {
      const key = String(name);
      const entry = this.#entries.find((e) => e[0] === key);
      return entry === undefined ? null : entry[1];
    }

    getAll(name) {
      const key = String(name);
      return this.#entries.filter((e) => e[0] === key).map((e) => e[1]);
    }

    has(name) {
      const key = String(name);
      return this.#entries.some((e) => e[0] === key);
    }

    forEach(callback, thisArg = undefined) {
      for (const [name, value] of this.#entries.slice()) callback.call(thisArg, value, name, this);
    }

    entries() { return makeIterator(this.#entries.map((e) => [e[0], e[1]])); }
    keys() { return makeIterator(this.#entries.map((e) => e[0])); }
    values() { return makeIterator(this.#entries.map((e) => e[1])); }
    [Symbol.iterator]() { return this.entries(); }
    get [Symbol.toStringTag]() { return 'FormData'; }
  }

  // Content-Disposition parameter escaping as workerd (and Chrome) do it.
  function escapeDisposition(value) {
    if (value.endsWith('\\')) throw new TypeError("Name or filename can't end with backslash");
    return value.replace(/["\n\\]/g, (c) => (c === '"' ? '%22' : c === '\n' ? '%0A' : '\\\\'));
  }

  // -> binary string of the multipart body
  function serializeFormData(form, boundary) {
    const parts = [];
    for (const [name, value] of formEntries(form)) {
      let head = '--' + boundary + '\r\nContent-Disposition: form-data; name="' +
        escapeDisposition(name);
      if (typeof value === 'string') {
        parts.push(bin.utf8EncodeBinary(head + '"\r\n\r\n' + value + '\r\n'));
      } else {
        head += '"; filename="' + escapeDisposition(value.name) + '"\r\nContent-Type: ' +
          (value.type || 'application/octet-stream') + '\r\n\r\n';
        parts.push(bin.utf8EncodeBinary(head));
        parts.push(bin.toBinaryString(bin.blobBytes(value)));
        parts.push('\r\n');
      }
    }
    parts.push('--' + boundary + '--');
    return parts.join('');
  }

  function newBoundary() {
    const bytes = typeof host.randomBytes === 'function' ? host.randomBytes(16) :
      Uint8Array.from({ length: 16 }, () => Math.floor(Math.random() * 256));
    let hex = '';
    for (const b of bytes) hex += (b < 16 ? '0' : '') + b.toString(16);
    return hex;
  }

  // Minimal MIME type parse: essence (lower-case) and parameters.
  function parseMimeType(value) {
    const parts = String(value).split(';');
    const essence = parts[0].trim().toLowerCase();
    const params = new SafeMap();
    for (let i = 1; i < parts.length; i++) {
      const eq = parts[i].indexOf('=');
      if (eq < 0) continue;
      const key = parts[i].slice(0, eq).trim().toLowerCase();
      let val = parts[i].slice(eq + 1).trim();
      if (val.length >= 2 && val[0] === '"' && val[val.length - 1] === '"') val = val.slice(1, -1);
      if (!params.has(key)) params.set(key, val);
    }
    return { essence, params };
  }

  function parseDisposition(header) {
    const { essence, params } = parseMimeType(header);
    if (essence !== 'form-data') {
      throw new TypeError('Content-Disposition header for FormData part must have the value ' +
        '"form-data", possibly followed by parameters. Got: "' + essence + '"');
    }
    return params;
  }

  // `raw` is a binary string. Field values are decoded from UTF-8, files keep their bytes.
  function parseMultipart(form, raw, boundary) {
    const delimiter = '\n--' + boundary;
    let pos = raw.indexOf(delimiter.slice(1));
    if (pos < 0) throw new TypeError('No initial boundary string (or you have a truncated message).');
    pos += delimiter.length - 1;
    for (;;) {
      if (raw.startsWith('\n', pos)) {
        pos += 1;
      } else if (raw.startsWith('\r\n', pos)) {
        pos += 2;
      } else if (raw.startsWith('--', pos)) {
        return;
      } else {
        throw new TypeError("Boundary string was not succeeded by CRLF, LF, or '--'.");
      }
      const rest = raw.slice(pos);
      const match = /\r?\n\r?\n/.exec(rest);
      if (match === null) throw new TypeError('No multipart message header termination found.');
      const headerText = rest.slice(0, match.index);
      pos += match.index + match[0].length;
      let disposition = null;
      let type = '';
      for (const line of headerText.split(/\r?\n/)) {
        const colon = line.indexOf(':');
        if (colon <= 0) throw new TypeError('FormData part had invalid headers.');
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (name === 'content-disposition') disposition = value;
        if (name === 'content-type') type = value;
      }
      if (disposition === null) {
        throw new TypeError('No valid Content-Disposition header found in FormData part.');
      }
      const params = parseDisposition(bin.utf8DecodeBinary(disposition));
      if (!params.has('name')) {
        throw new TypeError('Content-Disposition header in FormData part is missing a name.');
      }
      const end = raw.indexOf(delimiter, pos);
      if (end < 0) throw new TypeError('No subsequent boundary string after multipart message.');
      let data = raw.slice(pos, end);
      if (data.endsWith('\r')) data = data.slice(0, -1);
      pos = end + delimiter.length;
      const name = params.get('name');
      if (params.has('filename')) {
        form.append(name, bin.makeFile(bin.fromBinaryString(data), params.get('filename'), type));
      } else {
        form.append(name, bin.utf8DecodeBinary(data));
      }
    }
  }

  function parseUrlEncoded(form, text) {
    if (typeof URLSearchParams === 'function') {
      for (const [name, value] of new URLSearchParams(text)) form.append(name, value);
      return;
    }
    const decode = (s) => {
      try {
        return decodeURIComponent(s.replace(/\+/g, ' '));
      } catch (e) {
        return s;
      }
    };
    for (const part of text.split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      form.append(decode(eq < 0 ? part : part.slice(0, eq)), decode(eq < 0 ? '' : part.slice(eq + 1)));
    }
  }


  Object.assign(F, {
    FormData, serializeFormData, newBoundary, parseMimeType, parseMultipart, parseUrlEncoded
  });
})(globalThis.__mfHost, globalThis.__mfHost.fetchParts);
