// mfbook isolate kernel, part "rpc_targets": the owner's side of RPC stubs (workerd's JS RPC).
//
// When an RPC result or argument holds a function or an `RpcTarget` instance, the value is not
// copied: it is *exported* here (an entry of `exported`, numbered in this isolate) and the
// message carries a stub node `{"$":"stub", w, x, k, o?}`: `w` this isolate's token, `x` the
// export number, `k` "f" (function) or "t" (target), `o` the Durable Object that owns it
// (`{b: binding, h: hex}`), whose input gate, storage and context every call on the stub uses;
// `n` names the worker (without `o`, calls run in its isolate, outside any object).
// The caller's side (kernel/rpc_stubs.js) turns the node into a stub.
//
// A call on a stub arrives as an RPC whose method is a *call spec*: "\u0000" followed by JSON
// `{w, x?, p: [names], g?: 1, r?: 1}`: from export `x` (or, without it, from the object or
// entrypoint the RPC is delivered to) follow the property path `p`, then call it with the
// arguments (or, with `g`, return the property's value); `r` releases the export.
// Lookups follow workerd's rules: an RpcTarget (or Durable Object, or entrypoint) exposes its
// class's methods and accessors but not its own fields; a plain object or a function exposes
// its own properties; nothing inherited from Object.prototype is reachable.
// Parts share one namespace `K` (kernel/base.js); names defined by a later part are read as
// `K.name` when used, so that load order does not matter.
(function (K) {
  "use strict";
  const { SafeMap, SafeSet, codec, envelopeFromError, host, parse } = K;
  const getProto = Object.getPrototypeOf;
  const hasOwn = Object.prototype.hasOwnProperty;
  const ObjectProto = Object.prototype;

  /** Marks a method name as a call spec (no JS property name starts with NUL in practice). */
  const SPEC_PREFIX = "\u0000";
  let tokenText = null;
  /** This isolate's token: stub nodes of other isolates (or of this one before a reload) differ. */
  function token() {
    if (tokenText === null) tokenText = K.hex(host.randomBytes(8));
    return tokenText;
  }

  const TEXT = {
    disposed: "RPC stub used after being disposed.",
    gone: "The RPC stub's target is gone: the object instance that exported it was reset or reloaded.",
    noMethod: (name) => `The RPC receiver does not implement the method "${name}".`,
    notFunction: (name) => `"${name}" is not a function.`,
    reserved: (name) => `'${name}' is a reserved method and cannot be called over RPC.`,
  };
  /** Names the runtime never exposes over RPC (workerd's reserved names). */
  const RESERVED = new SafeSet(["fetch", "connect", "dup", "constructor", "alarm", "webSocketMessage", "webSocketClose", "webSocketError"]);

  // ---------------------------------------------------------------- the export table
  let nextExport = 1;
  const exported = new SafeMap(); // number -> {value, owner: actor key | null}

  function isRpcTarget(value) {
    return value instanceof K.RpcTarget;
  }

  /** An exporter for the codec: exports what `owner` (an actor, or null) hands out. */
  function exporterFor(owner) {
    return {
      isTarget: (value) => isRpcTarget(value) || K.isStub(value),
      export(value) {
        const forwarded = K.stubNodeOf(value);
        if (forwarded !== undefined) return forwarded; // a stub passed on: the same capability
        const x = nextExport++;
        exported.set(x, { value, owner: owner === null ? null : owner.key });
        const node = { $: "stub", w: token(), x, k: typeof value === "function" ? "f" : "t" };
        node.n = K.worker.name;
        if (owner !== null) node.o = { b: owner.binding, h: owner.hex };
        if (recent !== null) recent[recent.length] = node;
        return node;
      },
    };
  }
  const isolateExporter = exporterFor(null);

  let recent = null; // the stub nodes the last encodeForRpc made

  /** Encodes an RPC result (or arguments) of `owner` (an actor or null) for the other side. */
  function encodeForRpc(value, owner) {
    recent = null;
    if (typeof value !== "object" && typeof value !== "function") return codec.encode(value);
    recent = [];
    return codec.encode(value, owner === null || owner === undefined ? isolateExporter : exporterFor(owner));
  }

  /** The stub nodes the last encodeForRpc made (null if none): a direct call reports them. */
  function takeExports() {
    const nodes = recent;
    recent = null;
    return nodes === null || nodes.length === 0 ? null : nodes;
  }

  /** Forgets what an object instance exported (it was reset, aborted or reloaded). */
  function dropExports(ownerKey) {
    for (const [x, entry] of exported) {
      if (entry.owner === ownerKey) exported.set(x, { value: GONE, owner: ownerKey });
    }
  }
  const GONE = Object.freeze({});

  function release(x) {
    const entry = exported.get(x);
    if (entry === undefined) return;
    exported.delete(x);
    const value = entry.value;
    if (value === GONE || value === null || (typeof value !== "object" && typeof value !== "function")) return;
    const dispose = value[Symbol.dispose];
    if (typeof dispose === "function") dispose.call(value);
  }

  // ---------------------------------------------------------------- calls on exports
  function isCallSpec(method) {
    return typeof method === "string" && method.charCodeAt(0) === 0;
  }

  /** Whether a method is a call spec on an export (which needs no receiver). */
  function isExportCall(method) {
    return isCallSpec(method) && parseSpec(method).x !== undefined;
  }

  function parseSpec(method) {
    const spec = parse(method.slice(1));
    if (spec === null || typeof spec !== "object" || !Array.isArray(spec.p)) throw new TypeError("Malformed RPC call.");
    return spec;
  }

  /** Whether `object` exposes its own properties (plain objects, functions) or its class's. */
  function exposesOwn(object) {
    if (typeof object === "function") return true;
    const proto = getProto(object);
    return proto === ObjectProto || proto === null;
  }

  function lookup(object, name, own) {
    if (RESERVED.has(name)) throw new TypeError(TEXT.reserved(name));
    if (own) {
      if (!hasOwn.call(object, name)) throw new TypeError(TEXT.noMethod(name));
      return object[name];
    }
    if (hasOwn.call(object, name) || name.startsWith("#")) throw new TypeError(TEXT.noMethod(name));
    const value = object[name];
    if (value === ObjectProto[name]) throw new TypeError(TEXT.noMethod(name)); // missing, or inherited from Object
    return value;
  }

  /**
   * Follows `path` from `base` and calls the last step with `args` (or returns its value when
   * `args` is undefined). A stub met on the way takes the rest of the path (one more call).
   */
  function follow(base, path, args, own) {
    let object = base;
    const last = path.length - 1;
    for (let i = 0; i < last; i++) {
      const next = lookup(object, path[i], own);
      if (K.isStub(next)) return K.callStub(next, path.slice(i + 1), args);
      if (next === null || (typeof next !== "object" && typeof next !== "function")) throw new TypeError(TEXT.noMethod(path[i]));
      if (!(exposesOwn(next) || isRpcTarget(next))) throw new TypeError(TEXT.noMethod(path[i]));
      object = next;
      own = exposesOwn(next);
    }
    if (last < 0) {
      // The target itself: a function stub called.
      if (args === undefined) return object;
      if (typeof object !== "function") throw new TypeError(TEXT.notFunction(""));
      return K.isStub(object) ? K.callStub(object, [], args) : object(...args);
    }
    const name = path[last];
    const value = lookup(object, name, own);
    if (args === undefined) return value;
    if (typeof value !== "function") throw new TypeError(TEXT.notFunction(name));
    return value.apply(object, args);
  }

  /**
   * Runs a call spec in this isolate: on an export, or on `receiver` (the Durable Object or
   * entrypoint instance the RPC was delivered to) when the spec names none.
   */
  function invokeSpec(receiver, method, argsText) {
    const spec = parseSpec(method);
    if (spec.x === undefined) {
      if (receiver === null) throw new TypeError(TEXT.noMethod(String(spec.p[0])));
      return follow(receiver, spec.p, spec.g ? undefined : decodeArgs(argsText), false);
    }
    if (spec.w !== token()) throw new Error(TEXT.gone);
    const entry = exported.get(spec.x);
    if (spec.r) {
      release(spec.x);
      return undefined;
    }
    if (entry === undefined) throw new Error(TEXT.disposed);
    if (entry.value === GONE) throw new Error(TEXT.gone);
    const value = entry.value;
    return follow(value, spec.p, spec.g ? undefined : decodeArgs(argsText), exposesOwn(value));
  }

  /** Decodes RPC arguments: stubs in them become stubs of this isolate. */
  function decodeArgs(argsText) {
    return argsText.indexOf('"stub"') < 0 ? codec.decode(argsText) : codec.decode(argsText, K.stubImporter(null));
  }

  /**
   * The envelope of an error thrown by an RPC callee: the caller's error is marked `remote`
   * and keeps this stack (the callee's file and line); `retryable` / `overloaded` pass on.
   */
  function rpcEnvelope(error) {
    const envelope = envelopeFromError(error);
    if (envelope.thrownValue !== true) envelope.remote = true;
    if (error !== null && typeof error === "object") {
      if (error.retryable === true) envelope.retryable = true;
      if (error.overloaded === true) envelope.overloaded = true;
    }
    return envelope;
  }

  /** The receiver's own export spec text for a path (used by the Python proxy's wire as well). */
  function specText(fields) {
    return SPEC_PREFIX + K.stringify(fields);
  }

  /** Whether the owner of `node` is this isolate and no object (a call runs here, at once). */
  function ownsUnbound(node) {
    return node.w === token() && node.o === undefined;
  }

  Object.assign(K, {
    RPC_TEXT: TEXT,
    decodeArgs,
    dropExports,
    encodeForRpc,
    invokeSpec,
    isCallSpec,
    isExportCall,
    ownsUnbound,
    rpcEnvelope,
    rpcToken: token,
    specText,
    takeExports,
  });
})(globalThis.__mfKernelParts);
