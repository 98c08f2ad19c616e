// mfbook host bridge: the only channel between an isolate and the emulator.
//
// JS never calls Python (see docs/ARCHITECTURE.md section 1). Everything the isolate asks of
// the host is appended to an outbox; Python collects it with `__mfKernel.flush()` after each
// delivery and settles asynchronous operations later through `settle`.
(function () {
  "use strict";
  let outbox = [];
  const pending = new Map();
  let nextOpId = 1;
  let localCount = 0;

  const host = {
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
      outbox.push(entry);
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
    /** Queue a fire-and-forget message to the host (console lines, timers, completions). */
    emit(entry) {
      outbox.push(entry);
    },
    console(level, text) {
      outbox.push({ op: "console", level, text });
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
      if (outbox.length === 0) return "";
      const text = JSON.stringify(outbox);
      outbox = [];
      return text;
    },
    pendingCount() {
      return pending.size - localCount;
    },
  };
  Object.defineProperty(globalThis, "__mfHost", { value: host, configurable: true, writable: true });
})();
