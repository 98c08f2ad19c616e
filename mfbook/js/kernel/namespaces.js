// mfbook isolate kernel, part "namespaces": Durable Object ids, namespaces (`env.BINDING`) and
// stubs.
// Parts share one namespace `K` (kernel/base.js); names defined by a later part are read as
// `K.name` when used, so that load order does not matter.
(function (K) {
  "use strict";
  const {
    MSG,
    Promise,
    SafeMap,
    SafeSet,
    call,
    decodeValue,
    directCall,
    fetchApi,
    host,
    rejected,
    responseFromHost,
    rpcProxy,
    textEncoder,
    then,
  } = K;

  // ---------------------------------------------------------------- ids, namespaces, stubs
  function hex(bytes) {
    let out = "";
    for (let i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return out;
  }

  const kBinding = Symbol("binding");

  class DurableObjectId {
    #hex;
    constructor(binding, hexId, name) {
      this[kBinding] = binding;
      this.#hex = hexId;
      if (name !== undefined) this.name = name;
    }
    toString() {
      return this.#hex;
    }
    toJSON() {
      return this.#hex;
    }
    equals(other) {
      return other instanceof DurableObjectId && other.toString() === this.#hex;
    }
  }

  // idFromName is a pure function of (binding, name): memoise the SHA-256 per namespace.
  const nameCaches = new SafeMap();
  function nameCache(binding) {
    let cache = nameCaches.get(binding);
    if (cache === undefined) {
      cache = new SafeMap();
      nameCaches.set(binding, cache);
    }
    return cache;
  }

  const JURISDICTIONS = new SafeSet(["eu", "fedramp"]);

  class DurableObjectNamespace {
    #binding;
    #spec;
    #suffix;
    #suffixBytes;
    constructor(binding, spec) {
      this.#binding = binding;
      this.#spec = spec;
      K.namespaceSpecs.set(binding, spec); // stubs of this namespace's objects route by it
      this.#suffixBytes = host.sha256(textEncoder.encode(binding)).subarray(0, 8);
      this.#suffix = hex(this.#suffixBytes);
    }
    idFromName(name) {
      name = String(name);
      const cache = nameCache(this.#binding);
      let hexId = cache.get(name);
      if (hexId === undefined) {
        if (name.length > 2048 && host.syncCalls) {
          // SHA-256 in interpreted JS takes seconds per megabyte: a long name is hashed by the host.
          hexId = host.call("idFromName", { binding: this.#binding, name });
        } else {
          const digest = host.sha256(textEncoder.encode(this.#binding + name));
          digest[0] |= 0x80;
          digest.set(this.#suffixBytes, 24);
          hexId = hex(digest);
        }
        if (cache.size >= 4096) cache.clear();
        cache.set(name, hexId);
      }
      return new DurableObjectId(this.#binding, hexId, name);
    }
    idFromString(hexId) {
      hexId = String(hexId);
      if (!/^[A-Fa-f0-9]{64}$/.test(hexId)) throw new TypeError(MSG.idNotHex);
      hexId = hexId.toLowerCase(); // either case (Miniflare 2 compared the suffix before this)
      if (!hexId.endsWith(this.#suffix)) throw new TypeError(MSG.idWrongClass);
      return new DurableObjectId(this.#binding, hexId);
    }
    newUniqueId(options) {
      const jurisdiction = options && options.jurisdiction;
      if (jurisdiction !== undefined && !JURISDICTIONS.has(jurisdiction)) {
        throw new TypeError(`newUniqueId called with an unsupported jurisdiction: "${jurisdiction}"`);
      }
      const id = new Uint8Array(32);
      new DataView(id.buffer).setBigUint64(1, BigInt(Date.now()));
      id.set(host.randomBytes(15), 9);
      id.set(this.#suffixBytes, 24);
      return new DurableObjectId(this.#binding, hex(id));
    }
    jurisdiction(name) {
      if (!JURISDICTIONS.has(name)) {
        throw new TypeError(`jurisdiction called with an unsupported jurisdiction: "${name}"`);
      }
      return this;
    }
    get(id, options) {
      if (!(id instanceof DurableObjectId) || id[kBinding] !== this.#binding || !id.toString().endsWith(this.#suffix)) {
        throw new TypeError(MSG.idNotForClass);
      }
      if (options !== undefined && (options === null || typeof options !== "object")) {
        throw new TypeError("Failed to execute 'get' on 'DurableObjectNamespace': parameter 2 is not of type 'DurableObjectNamespaceGetDurableObjectOptions'.");
      }
      return makeStub(this.#binding, id, this.#spec);
    }
    getByName(name, options) {
      return this.get(this.idFromName(name), options);
    }
  }


  function makeStub(binding, id, spec) {
    const target = {
      id,
      name: id.name,
      fetch(input, init) {
        let request;
        if (typeof input === "string") {
          request = new Request(new URL(input, "https://fake-host").href, init);
        } else if (input instanceof Request && init === undefined) {
          request = input;
        } else {
          request = new Request(input, init);
        }
        if (!/^https?:/.test(request.url)) {
          return rejected(new TypeError(`Fetch API cannot load: ${request.url}`));
        }
        const send = (wire) => call("do_fetch", { binding, hex: id.toString(), name: id.name, request: wire }, responseFromHost);
        const wire = fetchApi.requestToWire(request);
        if (wire instanceof Promise) return then(wire, send);
        return directCall(spec, id, "fetch", wire, undefined) ?? send(wire);
      },
    };
    return rpcProxy(
      target,
      (method, args) =>
        directCall(spec, id, "rpc", args, method) ??
        call("do_rpc", { binding, hex: id.toString(), name: id.name, method, args }, K.decodeResult)
    );
  }

  Object.assign(K, { DurableObjectId, DurableObjectNamespace, hex });
})(globalThis.__mfKernelParts);
