// mfbook prelude: events.js — Event, CustomEvent, EventTarget, AbortController, AbortSignal,
// DOMException (the engine's own when it has one: quickjs-ng ships a spec-conformant one).
//
// Like workerd (src/workerd/api/basics.c++): there is no capture phase or tree, so `capture`
// and `passive` must be false; an exception thrown by a listener stops the dispatch and
// propagates out of dispatchEvent(), remaining listeners do not run.
(function (host) {
  "use strict";
  // Collections whose methods worker code cannot patch (intrinsics.js).
  const { SafeMap, SafeWeakMap } = globalThis.__mfIntrinsics;

  function define(name, value) {
    Object.defineProperty(globalThis, name, { value: value, writable: true, configurable: true, enumerable: false });
  }

  // ---------------------------------------------------------------------------------------
  // DOMException (fallback only)

  if (typeof globalThis.DOMException !== "function") {
    var NAMES = ["IndexSizeError", "DOMStringSizeError", "HierarchyRequestError", "WrongDocumentError",
      "InvalidCharacterError", "NoDataAllowedError", "NoModificationAllowedError", "NotFoundError",
      "NotSupportedError", "InUseAttributeError", "InvalidStateError", "SyntaxError", "InvalidModificationError",
      "NamespaceError", "InvalidAccessError", "ValidationError", "TypeMismatchError", "SecurityError",
      "NetworkError", "AbortError", "URLMismatchError", "QuotaExceededError", "TimeoutError",
      "InvalidNodeTypeError", "DataCloneError"];
    var CONSTS = ["INDEX_SIZE_ERR", "DOMSTRING_SIZE_ERR", "HIERARCHY_REQUEST_ERR", "WRONG_DOCUMENT_ERR",
      "INVALID_CHARACTER_ERR", "NO_DATA_ALLOWED_ERR", "NO_MODIFICATION_ALLOWED_ERR", "NOT_FOUND_ERR",
      "NOT_SUPPORTED_ERR", "INUSE_ATTRIBUTE_ERR", "INVALID_STATE_ERR", "SYNTAX_ERR", "INVALID_MODIFICATION_ERR",
      "NAMESPACE_ERR", "INVALID_ACCESS_ERR", "VALIDATION_ERR", "TYPE_MISMATCH_ERR", "SECURITY_ERR",
      "NETWORK_ERR", "ABORT_ERR", "URL_MISMATCH_ERR", "QUOTA_EXCEEDED_ERR", "TIMEOUT_ERR",
      "INVALID_NODE_TYPE_ERR", "DATA_CLONE_ERR"];
    var priv = new SafeWeakMap();
    var DOMExceptionPolyfill = function DOMException(message, name) {
      if (!new.target) throw new TypeError("Class constructor DOMException cannot be invoked without 'new'");
      var self = Reflect.construct(Error, [message === undefined ? "" : String(message)], new.target);
      priv.set(self, { name: name === undefined ? "Error" : String(name), message: message === undefined ? "" : String(message) });
      delete self.message;
      return self;
    };
    DOMExceptionPolyfill.prototype = Object.create(Error.prototype);
    Object.defineProperties(DOMExceptionPolyfill.prototype, {
      constructor: { value: DOMExceptionPolyfill, writable: true, configurable: true },
      name: { get: function () { return priv.get(this).name; }, configurable: true },
      message: { get: function () { return priv.get(this).message; }, configurable: true },
      code: { get: function () { return NAMES.indexOf(priv.get(this).name) + 1; }, configurable: true },
      [Symbol.toStringTag]: { value: "DOMException", configurable: true },
    });
    for (var ci = 0; ci < CONSTS.length; ci++) {
      Object.defineProperty(DOMExceptionPolyfill, CONSTS[ci], { value: ci + 1, enumerable: true });
      Object.defineProperty(DOMExceptionPolyfill.prototype, CONSTS[ci], { value: ci + 1, enumerable: true });
    }
    define("DOMException", DOMExceptionPolyfill);
  }

  // ---------------------------------------------------------------------------------------
  // Event

  var NONE = 0, CAPTURING_PHASE = 1, AT_TARGET = 2, BUBBLING_PHASE = 3;
  var eventState = new SafeWeakMap();

  function ev(self) {
    var s = eventState.get(self);
    if (!s) throw new TypeError("Illegal invocation");
    return s;
  }

  class Event {
    constructor(type, init) {
      if (arguments.length === 0) throw new TypeError("Failed to construct 'Event': 1 argument required, but only 0 present.");
      init = init == null ? {} : init;
      eventState.set(this, {
        type: String(type),
        bubbles: !!init.bubbles,
        cancelable: !!init.cancelable,
        composed: !!init.composed,
        defaultPrevented: false,
        stop: false,
        stopImmediate: false,
        target: null,
        currentTarget: null,
        phase: NONE,
        dispatching: false,
        timeStamp: typeof performance === "object" ? performance.now() : Date.now(),
        isTrusted: false,
      });
    }

    get type() { return ev(this).type; }
    get bubbles() { return ev(this).bubbles; }
    get cancelable() { return ev(this).cancelable; }
    get composed() { return ev(this).composed; }
    get defaultPrevented() { return ev(this).defaultPrevented; }
    get returnValue() { return !ev(this).defaultPrevented; }
    set returnValue(value) { if (!value) this.preventDefault(); }
    get cancelBubble() { return ev(this).stop; }
    set cancelBubble(value) { if (value) ev(this).stop = true; }
    get target() { return ev(this).target; }
    get srcElement() { return ev(this).target; }
    get currentTarget() { return ev(this).currentTarget; }
    get eventPhase() { return ev(this).phase; }
    get timeStamp() { return ev(this).timeStamp; }
    get isTrusted() { return ev(this).isTrusted; }

    composedPath() {
      var s = ev(this);
      return s.dispatching && s.currentTarget ? [s.currentTarget] : [];
    }

    preventDefault() {
      var s = ev(this);
      if (s.cancelable) s.defaultPrevented = true;
    }

    stopPropagation() { ev(this).stop = true; }

    stopImmediatePropagation() {
      var s = ev(this);
      s.stop = true;
      s.stopImmediate = true;
    }

    initEvent(type, bubbles, cancelable) {
      var s = ev(this);
      if (s.dispatching) return;
      s.type = String(type);
      s.bubbles = !!bubbles;
      s.cancelable = !!cancelable;
    }

    get [Symbol.toStringTag]() { return "Event"; }
  }
  var phases = { NONE: NONE, CAPTURING_PHASE: CAPTURING_PHASE, AT_TARGET: AT_TARGET, BUBBLING_PHASE: BUBBLING_PHASE };
  for (var phaseName in phases) {
    Object.defineProperty(Event, phaseName, { value: phases[phaseName], enumerable: true });
    Object.defineProperty(Event.prototype, phaseName, { value: phases[phaseName], enumerable: true });
  }

  var customDetail = new SafeWeakMap();

  class CustomEvent extends Event {
    constructor(type, init) {
      if (arguments.length === 0) throw new TypeError("Failed to construct 'CustomEvent': 1 argument required, but only 0 present.");
      super(type, init);
      customDetail.set(this, init != null && init.detail !== undefined ? init.detail : null);
    }

    get detail() {
      if (!customDetail.has(this)) throw new TypeError("Illegal invocation");
      return customDetail.get(this);
    }

    get [Symbol.toStringTag]() { return "CustomEvent"; }
  }

  // ---------------------------------------------------------------------------------------
  // EventTarget

  var listenersOf = new SafeWeakMap();

  function listenerMap(self) {
    var m = listenersOf.get(self);
    if (!m) throw new TypeError("Illegal invocation");
    return m;
  }

  function checkCapture(options, method) {
    if (typeof options === "boolean" || options == null || typeof options !== "object") {
      if (options) throw new TypeError(method + "(): useCapture must be false.");
      return;
    }
    if (options.capture) throw new TypeError(method + "(): options.capture must be false.");
  }

  class EventTarget {
    constructor() {
      listenersOf.set(this, new SafeMap());
    }

    addEventListener(type, listener, options) {
      var map = listenerMap(this);
      if (arguments.length < 2) {
        throw new TypeError("Failed to execute 'addEventListener' on 'EventTarget': 2 arguments required, but only " + arguments.length + " present.");
      }
      checkCapture(options, "addEventListener");
      if (listener == null) return;
      if (typeof listener !== "function" && typeof listener !== "object") {
        throw new TypeError("Failed to execute 'addEventListener' on 'EventTarget': parameter 2 is not of type 'EventListener'.");
      }
      var once = false, signal;
      if (options !== null && typeof options === "object") {
        if (options.passive) throw new TypeError("addEventListener(): options.passive must be false.");
        once = !!options.once;
        signal = options.signal;
        if (signal !== undefined && !(signal instanceof AbortSignal)) {
          throw new TypeError("Failed to execute 'addEventListener' on 'EventTarget': member signal is not of type 'AbortSignal'.");
        }
        if (signal && signal.aborted) return;
      }
      type = String(type);
      var list = map.get(type);
      if (!list) map.set(type, list = []);
      for (var i = 0; i < list.length; i++) if (list[i].callback === listener) return;
      var entry = { callback: listener, once: once, removed: false };
      list.push(entry);
      if (signal) {
        var target = this;
        signal.addEventListener("abort", function () { target.removeEventListener(type, listener); });
      }
    }

    removeEventListener(type, listener, options) {
      var map = listenerMap(this);
      if (arguments.length < 2) {
        throw new TypeError("Failed to execute 'removeEventListener' on 'EventTarget': 2 arguments required, but only " + arguments.length + " present.");
      }
      checkCapture(options, "removeEventListener");
      var list = map.get(String(type));
      if (!list) return;
      for (var i = 0; i < list.length; i++) {
        if (list[i].callback === listener) {
          list[i].removed = true;
          list.splice(i, 1);
          return;
        }
      }
    }

    dispatchEvent(event) {
      var map = listenerMap(this);
      if (!(event instanceof Event)) {
        throw new TypeError("Failed to execute 'dispatchEvent' on 'EventTarget': parameter 1 is not of type 'Event'.");
      }
      var s = ev(event);
      if (s.dispatching) throw new DOMException("The event is already being dispatched.", "InvalidStateError");
      s.dispatching = true;
      s.target = this;
      s.currentTarget = this;
      s.phase = AT_TARGET;
      s.stop = false;
      s.stopImmediate = false;
      try {
        var list = map.get(s.type);
        if (list) {
          var snapshot = list.slice();
          for (var i = 0; i < snapshot.length; i++) {
            var entry = snapshot[i];
            if (entry.removed) continue;
            if (entry.once) this.removeEventListener(s.type, entry.callback);
            var cb = entry.callback;
            if (typeof cb === "function") cb.call(this, event);
            else if (cb && typeof cb.handleEvent === "function") cb.handleEvent(event);
            else throw new TypeError("The 'handleEvent' property of an event listener is not a function.");
            if (s.stopImmediate) break;
          }
        }
      } finally {
        s.dispatching = false;
        s.currentTarget = null;
        s.phase = NONE;
      }
      return !s.defaultPrevented;
    }

    get [Symbol.toStringTag]() { return "EventTarget"; }
  }

  // ---------------------------------------------------------------------------------------
  // AbortSignal / AbortController

  var CREATE = {};
  var signalState = new SafeWeakMap();

  function sig(self) {
    var s = signalState.get(self);
    if (!s) throw new TypeError("Illegal invocation");
    return s;
  }

  function abortError() { return new DOMException("The operation was aborted", "AbortError"); }

  function signalAbort(signal, reason) {
    var s = sig(signal);
    if (s.aborted) return;
    s.aborted = true;
    s.reason = reason === undefined ? abortError() : reason;
    var dependents = s.dependents;
    s.dependents = [];
    signal.dispatchEvent(new Event("abort"));
    for (var i = 0; i < dependents.length; i++) {
      signalAbort(dependents[i], s.reason);
    }
  }

  class AbortSignal extends EventTarget {
    constructor(token) {
      if (token !== CREATE) throw new TypeError("Illegal constructor");
      super();
      signalState.set(this, { aborted: false, reason: undefined, onabort: null, dependents: [] });
    }

    get aborted() { return sig(this).aborted; }
    get reason() { return sig(this).reason; }

    throwIfAborted() {
      var s = sig(this);
      if (s.aborted) throw s.reason;
    }

    get onabort() { return sig(this).onabort; }
    set onabort(handler) {
      var s = sig(this);
      if (s.onabort) this.removeEventListener("abort", s.onabort);
      s.onabort = typeof handler === "function" ? handler : null;
      if (s.onabort) this.addEventListener("abort", s.onabort);
    }

    static abort(reason) {
      var signal = new AbortSignal(CREATE);
      var s = sig(signal);
      s.aborted = true;
      s.reason = reason === undefined ? abortError() : reason;
      return signal;
    }

    static timeout(ms) {
      if (arguments.length === 0) throw new TypeError("Failed to execute 'timeout' on 'AbortSignal': 1 argument required, but only 0 present.");
      ms = Number(ms);
      if (!(ms >= 0) || ms > Number.MAX_SAFE_INTEGER) {
        throw new TypeError("Failed to execute 'timeout' on 'AbortSignal': Value is outside the 'unsigned long long' value range.");
      }
      var signal = new AbortSignal(CREATE);
      var setTimeoutNow = globalThis.setTimeout; // defined later by the kernel: look it up now
      if (typeof setTimeoutNow !== "function") throw new TypeError("AbortSignal.timeout(): timers are not available");
      setTimeoutNow(function () {
        signalAbort(signal, new DOMException("The operation was aborted due to timeout", "TimeoutError"));
      }, Math.floor(ms));
      return signal;
    }

    static any(signals) {
      var list = Array.from(signals);
      var result = new AbortSignal(CREATE);
      for (var i = 0; i < list.length; i++) {
        if (!(list[i] instanceof AbortSignal)) {
          throw new TypeError("Failed to execute 'any' on 'AbortSignal': Failed to convert value to 'AbortSignal'.");
        }
      }
      for (var j = 0; j < list.length; j++) {
        if (list[j].aborted) {
          var r = sig(result);
          r.aborted = true;
          r.reason = list[j].reason;
          return result;
        }
      }
      for (var k = 0; k < list.length; k++) sig(list[k]).dependents.push(result);
      return result;
    }

    get [Symbol.toStringTag]() { return "AbortSignal"; }
  }

  var controllerSignal = new SafeWeakMap();

  class AbortController {
    constructor() {
      controllerSignal.set(this, new AbortSignal(CREATE));
    }

    get signal() {
      var s = controllerSignal.get(this);
      if (!s) throw new TypeError("Illegal invocation");
      return s;
    }

    abort(reason) { signalAbort(this.signal, reason); }

    get [Symbol.toStringTag]() { return "AbortController"; }
  }

  define("Event", Event);
  define("CustomEvent", CustomEvent);
  define("EventTarget", EventTarget);
  define("AbortSignal", AbortSignal);
  define("AbortController", AbortController);
})(globalThis.__mfHost);
