// mfbook prelude: url.js — URL and URLSearchParams from the vendored WHATWG reference
// implementation (whatwg-url, see mfbook/js/vendor/whatwg-url.js and its build script).
//
// Start-up cost: parsing the vendored bundle costs QuickJS ~15 ms (the IDNA tables of tr46 another
// ~30 ms), far more than the rest of the prelude. So `URL` and `URLSearchParams` are accessors on
// globalThis that evaluate the bundle on first use and then replace themselves with plain data
// properties; tr46 is evaluated only when a host actually needs UTS 46 processing (non-ASCII or
// "xn--" labels). The sources come from `host.vendor` (name without ".js" -> source text), which the
// loader fills before the prelude runs; JS cannot read files.
(function (host) {
  "use strict";

  var indirectEval = eval;
  var loaded = null;
  var tr46 = null;

  function source(name) {
    var text = host.vendor && host.vendor[name];
    if (typeof text !== "string") throw new Error("mfbook: vendored " + name + " was not provided to the isolate");
    return text;
  }

  function evaluate(name, requireFn) {
    var factory = indirectEval(source(name));
    var module = { exports: {} };
    factory(requireFn, module, module.exports);
    return module.exports;
  }

  function loadTr46() {
    if (tr46 === null) tr46 = evaluate("tr46", function (id) { throw new Error("tr46: unexpected require " + id); });
    return tr46;
  }

  // Defers evaluating tr46 until a host needs it.
  var lazyTr46 = {
    toASCII: function (domain, options) { return loadTr46().toASCII(domain, options); },
    toUnicode: function (domain, options) { return loadTr46().toUnicode(domain, options); },
  };

  function load() {
    if (loaded === null) {
      loaded = evaluate("whatwg-url", function (id) {
        if (id === "tr46") return lazyTr46;
        throw new Error("whatwg-url: unexpected require " + id);
      });
      install("URL", loaded.URL);
      install("URLSearchParams", loaded.URLSearchParams);
    }
    return loaded;
  }

  function install(name, value) {
    Object.defineProperty(globalThis, name, { value: value, writable: true, configurable: true, enumerable: false });
  }

  function lazy(name) {
    Object.defineProperty(globalThis, name, {
      configurable: true,
      enumerable: false,
      get: function () { return load()[name]; },
      set: function (value) { install(name, value); },
    });
  }

  lazy("URL");
  lazy("URLSearchParams");

  // For tests and diagnostics: the loaded module ({URL, URLSearchParams, usm}) and whether tr46 is in.
  host.urlInternals = function () { return { module: load(), tr46Loaded: tr46 !== null }; };
})(globalThis.__mfHost);
