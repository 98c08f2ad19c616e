// mfbook host bridge: the only channels between an isolate and the emulator.
//
// Two channels (docs/ARCHITECTURE.md section 1): `call(op, payload)` asks the host something
// synchronously through the one entry Python registered (`__mfHostCall`, hidden here before
// any user code runs); everything asynchronous is appended to an outbox, which Python collects
// with `__mfKernel.flush()` after each delivery, settling the operations later through `settle`.
(function () {
  "use strict";
  // Built-ins captured before worker code runs (intrinsics.js): it may patch the global ones.
  const { stringify, parse, SafeMap, Promise } = globalThis.__mfIntrinsics;
  const append = (array, item) => {
    array[array.length] = item;
  };
  const hostCall = globalThis.__mfHostCall;
  const syncUnavailable = globalThis.__mfSyncUnavailable;
  delete globalThis.__mfHostCall;
  delete globalThis.__mfSyncUnavailable;
  let outbox = [];
  let notes = [];
  let outOfMemory = false;
  const OUT_OF_MEMORY = "!out-of-memory"; // not JSON: Isolate.deliver turns it into the fault
  // Storage notes and operations waiting in the outbox: while there are any, a synchronous
  // storage call would overtake them, so the kernel sends storage through the outbox too.
  let queuedStorage = 0;
  /** Moves the notes into the outbox, keeping their order relative to what follows them. */
  function spill() {
    if (notes.length === 0) return;
    for (let i = 0; i < notes.length; i++) append(outbox, notes[i]);
    queuedStorage += notes.length;
    notes = [];
  }
  const pending = new SafeMap();
  let nextOpId = 1;
  let localCount = 0;

  const host = {
    /** Whether `call` works (not when the engine could only install the binding's time limit). */
    syncCalls: typeof hostCall === "function",
    /**
     * Asks the host synchronously: returns the handler's result or throws its error. Both
     * directions are JSON text (NUL and lone surrogates survive; nothing raises through C).
     */
    call(op, payload) {
      if (hostCall === undefined) {
        throw new Error("Synchronous host calls are unavailable in this engine: " + syncUnavailable);
      }
      // Notes made since the last call go first, so the host sees everything in program order.
      const request = [op, payload === undefined ? null : payload];
      if (notes.length !== 0) {
        append(request, notes);
        notes = [];
      }
      let answer;
      try {
        answer = parse(hostCall(stringify(request)));
      } catch (error) {
        // QuickJS throws a bare null when it cannot allocate (a huge answer): the isolate is
        // out of memory. Python resets it after this delivery, as for any memory-limit error.
        if (error !== null) throw error;
        outOfMemory = true;
        throw new RangeError("Worker exceeded memory limit.");
      }
      if (answer[0] === 1) return answer[1];
      throw host.makeError === null ? answer[1] : host.makeError(answer[1]);
    },
    /** Whether a synchronous storage call now keeps program order (nothing storage-related is queued). */
    inOrder() {
      return queuedStorage === 0;
    },
    /** Sources of vendored libraries evaluated lazily by the prelude (set by Python). */
    vendor: {},
    /** Turns a rejection envelope from Python into a JS error (installed by the kernel). */
    makeError: null,
    /**
     * Queue an asynchronous host operation; Python settles the returned promise. `transform`
     * maps the settled value synchronously (saving a promise job per operation).
     */
    op(name, payload, transform, owner) {
      const id = nextOpId++;
      const entry = payload === undefined ? {} : payload;
      entry.id = id;
      entry.op = name;
      spill();
      if (name === "st" || name === "bcw") queuedStorage++;
      append(outbox, entry);
      if (owner !== undefined) owner.ops++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject, transform, owner });
      });
    },
    /**
     * A pending operation with nothing in the outbox: the caller's side of a direct call
     * into an object of this isolate. The kernel settles it itself, or Python does when the
     * object answers in a later delivery. Not counted by `pendingCount` (a direct call that
     * can never finish must not keep hang detection away).
     */
    local(transform) {
      const id = nextOpId++;
      localCount++;
      const promise = new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject, transform, owner: undefined, local: true });
      });
      return [id, promise];
    },
    /**
     * A pending operation with nothing in the outbox, counted like `op` (hang detection, the
     * owner's busy count): for a synchronous call whose answer may come later instead.
     */
    pending(transform, owner) {
      const id = nextOpId++;
      if (owner !== undefined) owner.ops++;
      const promise = new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject, transform, owner });
      });
      return [id, promise];
    },
    /** Forgets a pending operation that was answered synchronously after all. */
    drop(id) {
      const entry = pending.get(id);
      if (entry === undefined) return;
      pending.delete(id);
      if (entry.owner !== undefined) entry.owner.ops--;
    },
    /**
     * A storage note (a put, a read the cache answered, the start of a direct call): nothing
     * to answer, but its place among the storage operations matters. Notes travel with the
     * next synchronous call, or at the head of the outbox when the delivery ends.
     */
    note(entry) {
      if (hostCall === undefined) append(outbox, entry);
      else append(notes, entry);
    },
    /** Queue a fire-and-forget message to the host (console lines, timers, completions). */
    emit(entry) {
      spill();
      append(outbox, entry);
    },
    console(level, text) {
      append(outbox, { op: "console", level, text });
    },
    /** Settle a pending operation: `ok` resolves with `value`, otherwise rejects with it. */
    settle(id, ok, value) {
      const entry = pending.get(id);
      if (entry === undefined) return;
      pending.delete(id);
      if (entry.owner !== undefined) entry.owner.ops--;
      if (entry.local === true) localCount--;
      if (!ok) {
        entry.reject(host.makeError === null ? value : host.makeError(value));
      } else if (entry.transform === undefined) {
        entry.resolve(value);
      } else {
        try {
          entry.resolve(entry.transform(value));
        } catch (error) {
          entry.reject(error);
        }
      }
    },
    /** Returns the outbox as JSON ("" when empty) and starts a new one. */
    flush() {
      if (outOfMemory) return OUT_OF_MEMORY;
      spill();
      queuedStorage = 0;
      if (outbox.length === 0) return "";
      const text = stringify(outbox);
      outbox = [];
      return text;
    },
    pendingCount() {
      return pending.size - localCount;
    },
  };
  Object.defineProperty(globalThis, "__mfHost", { value: host, configurable: true, writable: true });
})();
