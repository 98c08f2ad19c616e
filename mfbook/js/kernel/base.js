// mfbook isolate kernel: runs handlers, Durable Object instances and their storage proxies.
//
// Python drives the kernel through `__mfKernel` (kernel/entry.js; docs/ARCHITECTURE.md
// section 1): every entry point is one *delivery*; the job queue is drained by Python
// afterwards, and whatever the code asked of the host goes through host.js (synchronous calls,
// or the outbox collected with `flush()`). Storage semantics (coalescing, OCC, gates) live in
// Python; the kernel validates arguments synchronously where the Workers runtime throws
// synchronously, encodes values, and turns settlements back into JS values.
//
// The kernel is several files ("parts") evaluated in order, each a closure over one shared
// namespace `K` created here: a part takes what earlier parts defined from `K` at load and
// reads a later part's names as `K.name` at call time. entry.js, the last part, publishes
// `__mfKernel` and deletes `K` and the other internal globals before any user code runs.
(function (host, codec) {
  "use strict";
  // Built-ins captured before worker code runs (intrinsics.js): the worker may patch the
  // global ones (JSON.stringify, Promise.prototype.then, Map.prototype.get, ...).
  const {
    stringify,
    parse,
    then,
    catch: catchError,
    resolve: resolved,
    reject: rejected,
    apply,
    SafeMap,
    SafeSet,
    SafeWeakMap,
    Promise,
  } = globalThis.__mfIntrinsics;
  const append = (array, item) => {
    array[array.length] = item;
  };
  /** Error texts, filled by `loadWorker` from Python so that both languages share one source. */
  const MSG = {};

  // ---------------------------------------------------------------- errors across the bridge
  const ERROR_TYPES = { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError };

  /** Builds a JS error from the host's `{name, message, stack?}` envelope. */
  function errorFromEnvelope(envelope) {
    if (envelope === null || typeof envelope !== "object") return new Error(String(envelope));
    const Type = ERROR_TYPES[envelope.name];
    let error;
    if (Type !== undefined) {
      error = new Type(envelope.message);
    } else if (typeof DOMException === "function" && envelope.dom) {
      error = new DOMException(envelope.message, envelope.name);
    } else {
      error = new Error(envelope.message);
      error.name = envelope.name;
    }
    if (envelope.remoteStack) error.remoteStack = envelope.remoteStack;
    if (envelope.remote === true) {
      // Thrown by the callee of an RPC (kernel/rpc_targets.js): its stack names its own code.
      error.remote = true;
      if (typeof envelope.stack === "string" && envelope.stack !== "") error.stack = envelope.stack;
    }
    if (envelope.retryable === true) error.retryable = true;
    if (envelope.overloaded === true) error.overloaded = true;
    return error;
  }

  /** Serialises a thrown value for the host. */
  function envelopeFromError(error) {
    if (error instanceof Error || (error && typeof error === "object" && "message" in error)) {
      let stack = "";
      try {
        stack = String(error.stack || "");
      } catch (_) {
        stack = "";
      }
      return { name: String(error.name || "Error"), message: String(error.message), stack };
    }
    let text;
    try {
      text = String(error);
    } catch (_) {
      text = "[unprintable value]";
    }
    return { name: "Error", message: text, stack: "", thrownValue: true };
  }
  host.makeError = errorFromEnvelope;

  const fetchApi = host.fetchApi;
  const RESOLVED = resolved();

  globalThis.__mfKernelParts = {
    host,
    codec,
    fetchApi,
    stringify,
    parse,
    then,
    catchError,
    resolved,
    rejected,
    apply,
    SafeMap,
    SafeSet,
    SafeWeakMap,
    Promise,
    append,
    MSG,
    mapSet: Map.prototype.set,
    textEncoder: new TextEncoder(),
    RESOLVED,
    toUndefined: () => undefined,
    decodeValue: (text) => codec.decode(text),
    decodeOptional: (text) => (text === null ? undefined : codec.decode(text)),
    responseFromHost: (wire) => fetchApi.responseFromWire(wire),
    errorFromEnvelope,
    envelopeFromError,
    /** Live Durable Object instances of this isolate by key ("BINDING:hex"). */
    actors: new SafeMap(),
    /** The loaded worker ({modules, exports, env}); null until `loadWorker`. */
    worker: null,
  };
})(globalThis.__mfHost, globalThis.__mfCodec);
