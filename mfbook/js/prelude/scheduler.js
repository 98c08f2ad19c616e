// `scheduler.wait(ms, { signal })` as in workerd (src/workerd/api/scheduler.c++): a promise
// that resolves after `ms` milliseconds on the worker's own timers. With an AbortSignal it
// rejects with the signal's reason when aborted (at once if it already is), and the timer is
// cleared.
//
// The kernel defines setTimeout/clearTimeout after the prelude, so they are looked up when
// wait() is called (as AbortSignal.timeout() in events.js does).
(function () {
  'use strict';

  function timerFunctions() {
    const setTimer = globalThis.setTimeout;
    const clearTimer = globalThis.clearTimeout;
    if (typeof setTimer !== 'function' || typeof clearTimer !== 'function') {
      throw new TypeError('scheduler.wait(): timers are not available');
    }
    return [setTimer, clearTimer];
  }

  function checkSignal(signal) {
    if (signal === undefined || signal === null) return null;
    if (typeof AbortSignal === 'function' && signal instanceof AbortSignal) return signal;
    throw new TypeError("Failed to execute 'wait' on 'Scheduler': member signal is not of type 'AbortSignal'.");
  }

  class Scheduler {
    wait(delay, options) {
      let signal;
      let ms;
      try {
        signal = checkSignal(options === undefined || options === null ? undefined : options.signal);
        ms = Math.max(0, Number(delay) || 0);
      } catch (error) {
        return Promise.reject(error);
      }
      if (signal !== null && signal.aborted) return Promise.reject(signal.reason);
      return new Promise((resolve, reject) => {
        const [setTimer, clearTimer] = timerFunctions();
        let onAbort = null;
        const timer = setTimer(() => {
          if (onAbort !== null) signal.removeEventListener('abort', onAbort);
          resolve(undefined);
        }, ms);
        if (signal !== null) {
          onAbort = () => {
            clearTimer(timer);
            reject(signal.reason);
          };
          signal.addEventListener('abort', onAbort, { once: true });
        }
      });
    }

    get [Symbol.toStringTag]() { return 'Scheduler'; }
  }

  Object.defineProperty(globalThis, 'Scheduler', {
    value: Scheduler, writable: true, configurable: true, enumerable: false,
  });
  Object.defineProperty(globalThis, 'scheduler', {
    value: new Scheduler(), writable: true, configurable: true, enumerable: false,
  });
})();
