// mfbook isolate kernel, part "rpc_stubs": the caller's side of RPC (workerd's JS RPC).
//
// - `rpcProxy(target, send)` wraps a Durable Object stub or a service binding: any other
//   property is an *RPC property*: callable (a call), awaitable (a property read) and with
//   properties of its own (`stub.a.b()` is one call with the path ["a", "b"]).
// - Calls return *RPC promises*: native promises whose prototype pipelines: `p.x` and `p.x()`
//   act on the result once it arrives (`stub.getCounter().increment()`), and
//   `p[Symbol.dispose]()` disposes the result.
// - Stub nodes in results and arguments (kernel/rpc_targets.js) become *stubs*: callable when
//   they stand for a function, with RPC properties, `dup()` and `Symbol.dispose`; a call on a
//   disposed stub rejects with workerd's error. Disposing the last duplicate releases the
//   export on the owner's side (which runs the target's own `Symbol.dispose`, if any).
// Parts share one namespace `K` (kernel/base.js); names defined by a later part are read as
// `K.name` when used, so that load order does not matter.
(function (K) {
  "use strict";
  const { Promise, RESOLVED, SafeMap, SafeSet, SafeWeakMap, catchError, codec, rejected, resolved, then } = K;
  const hasOwn = Object.prototype.hasOwnProperty;
  const defineProperty = Object.defineProperty;
  const setPrototypeOf = Object.setPrototypeOf;

  /** Properties a stub never turns into RPC (so that it is not mistaken for a thenable, ...). */
  const RESERVED_STUB_PROPERTIES = new SafeSet(["then", "toJSON", "constructor", "valueOf", "toString"]);
  const PROMISE_METHODS = new SafeSet(["then", "catch", "finally"]);
  const NOT_OBJECT = "Can't pipeline on RPC that did not return an object.";

  /** Namespace specs by binding (filled by DurableObjectNamespace): routes stubs to objects. */
  const namespaceSpecs = new SafeMap();

  function encodeArgs(args) {
    return K.encodeForRpc(args, null);
  }

  /** Runs `fn` and turns a synchronous throw into a rejection (RPC never throws synchronously). */
  function attempt(fn) {
    try {
      return fn();
    } catch (error) {
      return rejected(error);
    }
  }

  // ---------------------------------------------------------------- RPC promises
  // The prototype of RPC promises: a pipelined step acts on the promise it is read from.
  const PIPELINE_PROTO = new Proxy(Object.create(Promise.prototype), {
    get(target, name, receiver) {
      if (name === Symbol.dispose) return disposePromise;
      if (typeof name === "symbol" || name in target || !(receiver instanceof Promise)) return Reflect.get(target, name, receiver);
      return makeProperty({ send: (path, argsText) => then(receiver, (value) => pipelineOn(value, path, argsText)) }, [name]);
    },
  });

  function disposePromise() {
    then(this, (value) => disposeValue(value), () => undefined);
  }

  function disposeValue(value) {
    if (value === null || (typeof value !== "object" && typeof value !== "function")) return;
    const dispose = value[Symbol.dispose];
    if (typeof dispose === "function") dispose.call(value);
  }

  /** Makes `promise` an RPC promise: pipelined calls and reads act on its result. */
  function rpcPromise(promise) {
    if (!(promise instanceof Promise)) promise = resolved(promise);
    setPrototypeOf(promise, PIPELINE_PROTO);
    return promise;
  }

  /** A pipelined step on an arrived result: through its stubs, or its own properties. */
  function pipelineOn(value, path, argsText) {
    let object = value;
    for (let i = 0; ; i++) {
      const state = stubStates.get(object);
      if (state !== undefined) return stubSend(state, path.slice(i), argsText);
      if (i === path.length) {
        if (argsText === undefined) return object;
        throw new TypeError(K.RPC_TEXT.notFunction(path[i - 1] ?? ""));
      }
      if (object === null || typeof object !== "object") {
        throw new TypeError(i === 0 ? NOT_OBJECT : K.RPC_TEXT.noMethod(path[i - 1]));
      }
      if (!hasOwn.call(object, path[i])) throw new TypeError(K.RPC_TEXT.noMethod(path[i]));
      object = object[path[i]];
    }
  }

  /** What stubs and properties answer for symbols: a tag and a string form (for printing). */
  function describe(symbol, tag) {
    if (symbol === Symbol.toStringTag) return tag;
    if (symbol === Symbol.toPrimitive) return () => `[object ${tag}]`;
    return undefined;
  }

  // ---------------------------------------------------------------- RPC properties
  // An RPC property is a plain function (a call on it is an ordinary call, no proxy trap on the
  // hot path) without own `name` / `length`, whose prototype answers every other name.
  // `root.send(path, argsText)` sends a call (`argsText` the encoded arguments) or a property
  // read (`argsText` undefined) and returns a promise of the decoded result.
  const propertyInfo = new SafeWeakMap(); // RPC property -> {root, path}

  const PROPERTY_PROTO = new Proxy(Object.create(null), {
    get(_target, name, receiver) {
      const info = propertyInfo.get(receiver);
      if (info === undefined) return undefined;
      if (typeof name === "symbol") return describe(name, "RpcProperty");
      const { root, path } = info;
      if (PROMISE_METHODS.has(name)) {
        const read = rpcPromise(attempt(() => root.send(path, undefined)));
        if (name === "then") return (ok, fail) => then(read, ok, fail);
        if (name === "catch") return (fail) => catchError(read, fail);
        return (fn) => then(read, (v) => (fn(), v), (e) => { fn(); throw e; });
      }
      const next = path.slice();
      next[next.length] = name;
      return makeProperty(root, next);
    },
  });

  function makeProperty(root, path) {
    const property = {
      call(...args) {
        let promise;
        try {
          promise = root.send(path, encodeArgs(args));
        } catch (error) {
          promise = rejected(error); // RPC never throws synchronously
        }
        return rpcPromise(promise);
      },
    }.call;
    delete property.name;
    delete property.length;
    setPrototypeOf(property, PROPERTY_PROTO);
    propertyInfo.set(property, { root, path });
    return property;
  }

  /**
   * Wraps a stub (`target`: its own fields, e.g. `id`, `name`, `fetch`) so that any other
   * property is an RPC property. `send(method, argsText)` sends one RPC; a path, a property
   * read or a pipelined step goes as a call spec (kernel/rpc_targets.js) in `method`.
   */
  function rpcProxy(target, send) {
    const properties = new SafeMap(); // name -> RPC property: `stub.method` is made once
    const root = {
      send(path, argsText) {
        if (path.length === 1 && argsText !== undefined) return send(path[0], argsText);
        const fields = { p: path };
        if (argsText === undefined) fields.g = 1;
        return send(K.specText(fields), argsText ?? "[]");
      },
    };
    return new Proxy(target, {
      get(object, property) {
        if (property in object || typeof property === "symbol") return object[property];
        if (RESERVED_STUB_PROPERTIES.has(property)) return undefined;
        let made = properties.get(property);
        if (made === undefined) {
          made = makeProperty(root, [property]);
          if (properties.size < 256) properties.set(property, made);
        }
        return made;
      },
    });
  }

  // ---------------------------------------------------------------- stubs of exports
  const stubStates = new SafeWeakMap(); // stub -> {node, handle: {refs, released}, disposed}

  function isStub(value) {
    return typeof value === "function" && stubStates.has(value);
  }

  /** The node a stub stands for (to pass it on); a disposed stub cannot be passed. */
  function stubNodeOf(value) {
    const state = stubStates.get(value);
    if (state === undefined) return undefined;
    if (state.disposed) throw new Error(K.RPC_TEXT.disposed);
    return state.node;
  }

  function makeStub(node, handle) {
    const state = { node, handle, disposed: false };
    const root = { send: (path, argsText) => stubSend(state, path, argsText) };
    const stub = new Proxy(function () {}, {
      apply(_target, _this, args) {
        return rpcPromise(attempt(() => stubSend(state, [], encodeArgs(args))));
      },
      get(_target, name) {
        if (name === Symbol.dispose) return () => disposeStub(state);
        if (typeof name === "symbol") return describe(name, "RpcStub");
        if (RESERVED_STUB_PROPERTIES.has(name)) return undefined;
        if (name === "dup") return () => dupStub(state);
        return makeProperty(root, [name]);
      },
      set() {
        return false;
      },
    });
    stubStates.set(stub, state);
    return stub;
  }

  function dupStub(state) {
    if (state.disposed) throw new Error(K.RPC_TEXT.disposed);
    state.handle.refs++;
    return makeStub(state.node, state.handle);
  }

  function disposeStub(state) {
    if (state.disposed) return;
    state.disposed = true;
    const handle = state.handle;
    if (--handle.refs !== 0 || handle.released) return;
    handle.released = true;
    catchError(attempt(() => transmit(state.node, { p: [], r: 1 }, "[]")), () => undefined);
  }

  /** Calls (or reads, `argsText` undefined) `path` on a stub; used by pipelining as well. */
  function stubSend(state, path, argsText) {
    if (state.disposed) return rejected(new Error(K.RPC_TEXT.disposed));
    const fields = { p: path };
    if (argsText === undefined) fields.g = 1;
    return transmit(state.node, fields, argsText ?? "[]");
  }

  /** Calls a stub met while following a path on the owner's side (arguments not yet encoded). */
  function callStub(stub, path, args) {
    const state = stubStates.get(stub);
    return stubSend(state, path, args === undefined ? undefined : encodeArgs(args));
  }

  /** Sends a call spec on `node` to its owner: its object, this isolate, or a service. */
  function transmit(node, fields, argsText) {
    fields.w = node.w;
    fields.x = node.x;
    const method = K.specText(fields);
    const owner = node.o;
    if (owner !== undefined) {
      const id = { toString: () => owner.h, name: undefined };
      return (
        K.directCall(namespaceSpecs.get(owner.b), id, "rpc", argsText, method) ??
        K.call("do_rpc", { binding: owner.b, hex: owner.h, method, args: argsText }, decodeResult)
      );
    }
    if (K.ownsUnbound(node)) return runHere(method, argsText);
    return K.call("service_rpc", { service: null, worker: node.n, method, args: argsText }, decodeResult);
  }

  /** A call on an export of this isolate owned by no object: runs in a job of its own. */
  function runHere(method, argsText) {
    return then(
      RESOLVED,
      () => then(resolved(K.invokeSpec(null, method, argsText)), (value) => decodeResult(K.encodeForRpc(value, null))),
      (error) => {
        throw K.errorFromEnvelope(K.rpcEnvelope(error));
      }
    );
  }

  // ---------------------------------------------------------------- decoding results
  /** An importer for the codec: stub nodes become stubs (collected in `made`). */
  function stubImporter(made) {
    return (node) => {
      const stub = makeStub(node, { refs: 1, released: false });
      if (made !== undefined && made !== null) made[made.length] = stub;
      return stub;
    };
  }

  /**
   * Decodes an RPC result; an object result holding stubs gets a `Symbol.dispose` that
   * disposes them all (workerd's shortcut).
   */
  function decodeResult(text) {
    if (text.indexOf('"stub"') < 0) return codec.decode(text);
    const made = [];
    const value = codec.decode(text, stubImporter(made));
    if (made.length !== 0 && value !== null && typeof value === "object") {
      defineProperty(value, Symbol.dispose, {
        value: () => {
          for (let i = 0; i < made.length; i++) made[i][Symbol.dispose]();
        },
        configurable: true,
        writable: true,
      });
    }
    return value;
  }

  Object.assign(K, { callStub, decodeResult, isStub, namespaceSpecs, rpcPromise, rpcProxy, stubImporter, stubNodeOf });
})(globalThis.__mfKernelParts);
