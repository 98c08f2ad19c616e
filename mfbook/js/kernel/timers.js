// mfbook isolate kernel, part "timers": setTimeout / setInterval: the host schedules, `fireTimer`
// runs the callback.
// Parts share one namespace `K` (kernel/base.js); names defined by a later part are read as
// `K.name` when used, so that load order does not matter.
(function (K) {
  "use strict";
  const {
    SafeMap,
    host,
    tag,
  } = K;

  // ---------------------------------------------------------------- timers
  const timers = new SafeMap();
  let nextTimerId = 1;

  function addTimer(callback, delay, args, repeat) {
    if (typeof callback !== "function") {
      throw new TypeError("Failed to execute 'setTimeout': parameter 1 is not of type 'Function'.");
    }
    const id = nextTimerId++;
    const ms = Math.max(0, Number(delay) || 0);
    timers.set(id, { callback, args, repeat });
    host.emit(tag({ op: "timer", timer: id, ms, repeat }));
    return id;
  }

  function clearTimer(id) {
    const key = typeof id === "object" && id !== null ? Number(id) : id;
    if (timers.delete(key)) host.emit({ op: "cleartimer", timer: key });
  }

  const timerGlobals = {
    setTimeout: (callback, delay, ...args) => addTimer(callback, delay, args, false),
    setInterval: (callback, delay, ...args) => addTimer(callback, delay, args, true),
    clearTimeout: clearTimer,
    clearInterval: clearTimer,
  };
  for (const [name, value] of Object.entries(timerGlobals)) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
  }

  Object.assign(K, { timers });

  /** Runs a timer the host says is due (an interval stays registered). */
  function fireTimer(timerId) {
    const timer = timers.get(timerId);
    if (timer === undefined) return;
    if (!timer.repeat) timers.delete(timerId);
    timer.callback.apply(globalThis, timer.args);
  }

  Object.assign(K, { fireTimer });
})(globalThis.__mfKernelParts);
