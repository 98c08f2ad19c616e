// mfbook prelude: console.js — console.* formatting arguments like a small Node util.inspect
// (strings raw at top level, %s %d %i %f %o %O %j %c substitutions, nested objects to depth 2,
// circular references as [Circular *1]) and handing one line of text per call to
// host.console(level, text) with level one of log, info, warn, error, debug.
(function (host) {
  "use strict";
  // Collections whose methods worker code cannot patch (intrinsics.js).
  const { SafeMap } = globalThis.__mfIntrinsics;

  var MAX_DEPTH = 2;
  var MAX_ITEMS = 100;
  var MAX_STRING = 10000;
  var objectToString = Object.prototype.toString;

  function quote(s) {
    if (s.length > MAX_STRING) s = s.slice(0, MAX_STRING) + "... " + (s.length - MAX_STRING) + " more characters";
    var q = s.indexOf("'") === -1 ? "'" : s.indexOf('"') === -1 ? '"' : s.indexOf("`") === -1 ? "`" : "'";
    var escaped = s.replace(/[\\\n\r\t\b\f\v\x00-\x1f\x7f]/g, function (c) {
      var table = { "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f", "\v": "\\v" };
      return table[c] || "\\x" + c.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase();
    });
    if (q === "'" && s.indexOf("'") !== -1) escaped = escaped.replace(/'/g, "\\'");
    return q + escaped + q;
  }

  function keyString(k) {
    if (typeof k === "symbol") return "[" + k.toString() + "]";
    return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : quote(k);
  }

  function constructorName(v) {
    try {
      var proto = Object.getPrototypeOf(v);
      if (proto === null) return null;
      var ctor = proto.constructor;
      return typeof ctor === "function" && ctor.name ? ctor.name : "";
    } catch (e) {
      return "";
    }
  }

  function errorText(e) {
    var stack = typeof e.stack === "string" ? e.stack : "";
    var head = String(e.name) + (e.message ? ": " + e.message : "");
    try { head = String(e); } catch (x) { /* keep name: message */ }
    if (!stack) return "[" + head + "]";
    // QuickJS stacks hold only the frames; V8/Node put "Name: message" first.
    return stack.indexOf(head) === 0 ? stack.replace(/\s+$/, "") : head + "\n" + stack.replace(/\s+$/, "");
  }

  function formatNumber(n) { return Object.is(n, -0) ? "-0" : String(n); }

  function inspect(value, opts) {
    var seen = [];
    var circular = new SafeMap();
    function fmt(v, depth, top) {
      switch (typeof v) {
        case "string": return top ? v : quote(v);
        case "number": return formatNumber(v);
        case "bigint": return v + "n";
        case "boolean": return String(v);
        case "undefined": return "undefined";
        case "symbol": return v.toString();
        case "function": {
          var cname = constructorName(v);
          var kind = cname === "AsyncFunction" ? "AsyncFunction" : cname === "GeneratorFunction" ? "GeneratorFunction" :
            /^class[\s{]/.test(Function.prototype.toString.call(v)) ? "class" : "Function";
          var fnLabel = kind === "class" ? "[class " + (v.name || "(anonymous)") + "]" :
            "[" + kind + (v.name ? ": " + v.name : " (anonymous)") + "]";
          var fnKeys = Object.keys(v);
          return fnKeys.length ? fmtObject(v, depth, fnLabel + " ") : fnLabel;
        }
      }
      if (v === null) return "null";
      if (seen.indexOf(v) !== -1) {
        if (!circular.has(v)) circular.set(v, circular.size + 1);
        return "[Circular *" + circular.get(v) + "]";
      }
      var tag = objectToString.call(v);
      if (v instanceof Error || tag === "[object Error]" || tag === "[object DOMException]") {
        var text = errorText(v);
        return depth > 0 ? text.split("\n").join("\n" + "  ".repeat(depth)) : text;
      }
      if (v instanceof Date) return isNaN(v.getTime()) ? "Invalid Date" : v.toISOString();
      if (v instanceof RegExp) return String(v);
      if (v instanceof Number || v instanceof String || v instanceof Boolean) {
        var prim = v.valueOf();
        return "[" + constructorName(v) + ": " + (typeof prim === "string" ? quote(prim) : String(prim)) + "]";
      }
      if (v instanceof Promise) return "Promise { <unknown> }";
      if (v instanceof WeakMap || v instanceof WeakSet) return constructorName(v) + " { <items unknown> }";
      if (depth > MAX_DEPTH) {
        return Array.isArray(v) ? "[Array]" : "[" + (constructorName(v) || "Object") + "]";
      }
      seen.push(v);
      try {
        return fmtContainer(v, depth);
      } finally {
        seen.pop();
      }
    }

    function fmtContainer(v, depth) {
      var items = [];
      var prefix = "";
      if (Array.isArray(v)) {
        var holes = 0;
        for (var i = 0; i < v.length && items.length < MAX_ITEMS; i++) {
          if (!(i in v)) { holes++; continue; }
          if (holes) { items.push("<" + holes + " empty item" + (holes > 1 ? "s" : "") + ">"); holes = 0; }
          items.push(fmt(v[i], depth + 1, false));
        }
        if (holes) items.push("<" + holes + " empty item" + (holes > 1 ? "s" : "") + ">");
        if (v.length > MAX_ITEMS) items.push("... " + (v.length - MAX_ITEMS) + " more items");
        var aname = constructorName(v);
        prefix = aname && aname !== "Array" ? aname + "(" + v.length + ") " : "";
        appendOwnKeys(v, depth, items, true);
        return wrap(prefix, "[", items, "]", depth);
      }
      if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
        for (var t = 0; t < v.length && t < MAX_ITEMS; t++) {
          items.push(typeof v[t] === "bigint" ? v[t] + "n" : formatNumber(v[t]));
        }
        if (v.length > MAX_ITEMS) items.push("... " + (v.length - MAX_ITEMS) + " more items");
        return wrap(constructorName(v) + "(" + v.length + ") ", "[", items, "]", depth);
      }
      if (v instanceof ArrayBuffer) {
        var bytes = new Uint8Array(v, 0, Math.min(v.byteLength, 50));
        var hex = Array.from(bytes, function (b) { return (b < 16 ? "0" : "") + b.toString(16); }).join(" ");
        if (v.byteLength > 50) hex += " ... " + (v.byteLength - 50) + " more bytes";
        return "ArrayBuffer { [Uint8Contents]: <" + hex + ">, byteLength: " + v.byteLength + " }";
      }
      if (v instanceof Map) {
        var mapCount = 0;
        v.forEach(function (val, key) {
          if (mapCount++ < MAX_ITEMS) items.push(fmt(key, depth + 1, false) + " => " + fmt(val, depth + 1, false));
        });
        if (v.size > MAX_ITEMS) items.push("... " + (v.size - MAX_ITEMS) + " more items");
        return wrap(constructorName(v) + "(" + v.size + ") ", "{", items, "}", depth);
      }
      if (v instanceof Set) {
        var setCount = 0;
        v.forEach(function (val) { if (setCount++ < MAX_ITEMS) items.push(fmt(val, depth + 1, false)); });
        if (v.size > MAX_ITEMS) items.push("... " + (v.size - MAX_ITEMS) + " more items");
        return wrap(constructorName(v) + "(" + v.size + ") ", "{", items, "}", depth);
      }
      return fmtObject(v, depth, "");
    }

    function fmtObject(v, depth, prefix) {
      var items = [];
      appendOwnKeys(v, depth, items, false);
      var name = constructorName(v);
      var tag = v[Symbol.toStringTag];
      if (!prefix) {
        if (name === null) prefix = "[Object: null prototype] ";
        else if (name !== "Object") prefix = (name || "Object") + " ";
        if (typeof tag === "string" && tag && tag !== name) prefix = (name || "Object") + " [" + tag + "] ";
      }
      if (items.length === 0) return prefix + "{}";
      return wrap(prefix, "{", items, "}", depth);
    }

    function appendOwnKeys(v, depth, items, skipIndices) {
      var keys = Object.keys(v);
      var syms = Object.getOwnPropertySymbols(v).filter(function (s) { return Object.prototype.propertyIsEnumerable.call(v, s); });
      var all = keys.concat(syms);
      for (var i = 0; i < all.length && items.length < MAX_ITEMS; i++) {
        var k = all[i];
        if (skipIndices && typeof k === "string" && /^(0|[1-9][0-9]*)$/.test(k)) continue;
        var desc = Object.getOwnPropertyDescriptor(v, k);
        var shown = desc && desc.get ? (desc.set ? "[Getter/Setter]" : "[Getter]") : desc && desc.set ? "[Setter]" : fmt(v[k], depth + 1, false);
        items.push(keyString(k) + ": " + shown);
      }
    }

    function wrap(prefix, open, items, close, depth) {
      if (items.length === 0) return prefix + open + close;
      var oneLine = prefix + open + " " + items.join(", ") + " " + close;
      if (oneLine.length <= 72 && oneLine.indexOf("\n") === -1) return oneLine;
      var pad = "  ".repeat(depth + 1);
      return prefix + open + "\n" + pad + items.join(",\n" + pad) + "\n" + "  ".repeat(depth) + close;
    }

    var out = fmt(value, 0, opts && opts.top);
    if (circular.size && circular.has(value)) out = "<ref *1> " + out;
    return out;
  }

  function formatArgs(args) {
    var first = args[0];
    var rest = 1;
    var out = "";
    if (typeof first === "string" && args.length > 1 && first.indexOf("%") !== -1) {
      out = first.replace(/%([sdifjoOc%])/g, function (m, c) {
        if (c === "%") return "%";
        if (rest >= args.length) return m;
        var a = args[rest++];
        switch (c) {
          case "s":
            return typeof a === "string" ? a : typeof a === "bigint" ? a + "n" : typeof a === "symbol" ? a.toString() :
              a !== null && typeof a === "object" ? inspect(a, {}) : String(a);
          case "d":
            return typeof a === "bigint" ? a + "n" : typeof a === "symbol" ? "NaN" : formatNumber(Number(a));
          case "i":
            return typeof a === "bigint" ? a + "n" : typeof a === "symbol" ? "NaN" : formatNumber(parseInt(a, 10));
          case "f":
            return typeof a === "symbol" ? "NaN" : formatNumber(parseFloat(a));
          case "j":
            try { return JSON.stringify(a); } catch (e) { return "[Circular]"; }
          case "o":
          case "O":
            return inspect(a, {});
          case "c":
            return "";
        }
        return m;
      });
    } else {
      rest = 0;
    }
    for (var i = rest; i < args.length; i++) {
      var piece = inspect(args[i], { top: true });
      out = out === "" && i === 0 ? piece : out + " " + piece;
    }
    return out;
  }

  var groupIndent = "";
  var counts = new SafeMap();
  var timers = new SafeMap();

  function emit(level, text) {
    if (groupIndent) text = groupIndent + text.split("\n").join("\n" + groupIndent);
    host.console(level, text);
  }

  function logger(level) {
    return function () { emit(level, formatArgs(Array.prototype.slice.call(arguments))); };
  }

  function now() { return typeof performance === "object" ? performance.now() : Date.now(); }

  function table(data) {
    if (data === null || typeof data !== "object") return emit("log", formatArgs([data]));
    var rows = Object.keys(data);
    var cols = [];
    var hasValues = false;
    rows.forEach(function (r) {
      var row = data[r];
      if (row !== null && typeof row === "object") {
        Object.keys(row).forEach(function (c) { if (cols.indexOf(c) === -1) cols.push(c); });
      } else {
        hasValues = true;
      }
    });
    var header = ["(index)"].concat(cols, hasValues ? ["Values"] : []);
    var body = rows.map(function (r) {
      var row = data[r];
      var isObj = row !== null && typeof row === "object";
      var cells = [r].concat(cols.map(function (c) { return isObj && c in row ? inspect(row[c], {}) : ""; }));
      if (hasValues) cells.push(isObj ? "" : inspect(row, {}));
      return cells;
    });
    var widths = header.map(function (h, i) {
      return Math.max(h.length, ...body.map(function (cells) { return cells[i].length; })) + 2;
    });
    function center(s, w) { var left = Math.floor((w - s.length) / 2); return " ".repeat(left) + s + " ".repeat(w - s.length - left); }
    function line(l, m, r) { return l + widths.map(function (w) { return "─".repeat(w); }).join(m) + r; }
    var lines = [line("┌", "┬", "┐"), "│" + header.map(function (h, i) { return center(h, widths[i]); }).join("│") + "│",
      line("├", "┼", "┤")];
    body.forEach(function (cells) { lines.push("│" + cells.map(function (c, i) { return center(c, widths[i]); }).join("│") + "│"); });
    lines.push(line("└", "┴", "┘"));
    emit("log", lines.join("\n"));
  }

  var console = {
    log: logger("log"),
    info: logger("info"),
    warn: logger("warn"),
    error: logger("error"),
    debug: logger("debug"),
    trace: function () {
      var stack = String(new Error().stack || "").split("\n").slice(1).join("\n");
      emit("log", "Trace" + (arguments.length ? ": " + formatArgs(Array.prototype.slice.call(arguments)) : "") +
        (stack ? "\n" + stack.replace(/\s+$/, "") : ""));
    },
    dir: function (value) { emit("log", inspect(value, {})); },
    dirxml: logger("log"),
    table: table,
    assert: function (condition) {
      if (condition) return;
      var rest = Array.prototype.slice.call(arguments, 1);
      if (rest.length && typeof rest[0] === "string") rest[0] = "Assertion failed: " + rest[0];
      else rest.unshift("Assertion failed");
      emit("error", formatArgs(rest));
    },
    count: function (label) {
      label = label === undefined ? "default" : String(label);
      var n = (counts.get(label) || 0) + 1;
      counts.set(label, n);
      emit("info", label + ": " + n);
    },
    countReset: function (label) {
      label = label === undefined ? "default" : String(label);
      if (counts.has(label)) counts.set(label, 0);
      else emit("warn", "Count for '" + label + "' does not exist");
    },
    time: function (label) {
      label = label === undefined ? "default" : String(label);
      if (timers.has(label)) return emit("warn", "Label '" + label + "' already exists for console.time()");
      timers.set(label, now());
    },
    timeLog: function (label) {
      label = label === undefined ? "default" : String(label);
      if (!timers.has(label)) return emit("warn", "No such label '" + label + "' for console.timeLog()");
      var extra = Array.prototype.slice.call(arguments, 1);
      emit("info", label + ": " + (now() - timers.get(label)).toFixed(3) + "ms" + (extra.length ? " " + formatArgs(extra) : ""));
    },
    timeEnd: function (label) {
      label = label === undefined ? "default" : String(label);
      if (!timers.has(label)) return emit("warn", "No such label '" + label + "' for console.timeEnd()");
      emit("info", label + ": " + (now() - timers.get(label)).toFixed(3) + "ms");
      timers.delete(label);
    },
    group: function () {
      if (arguments.length) emit("log", formatArgs(Array.prototype.slice.call(arguments)));
      groupIndent += "  ";
    },
    groupCollapsed: function () { console.group.apply(console, arguments); },
    groupEnd: function () { groupIndent = groupIndent.slice(0, -2); },
  };

  Object.defineProperty(globalThis, "console", { value: console, writable: true, configurable: true, enumerable: false });
  // For other prelude files (e.g. uncaught-error reports) and tests.
  host.inspect = function (value) { return inspect(value, {}); };
  host.formatLogArgs = formatArgs;
})(globalThis.__mfHost);
