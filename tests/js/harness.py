"""Test harness for the JS prelude: a bare QuickJS context with a fake host.

The fake ``__mfHost`` mirrors the real kernel's contract (ARCHITECTURE.md section 1): JS never
calls Python. ``op(name, payload)`` queues ``{id, op, ...payload}`` in ``__mfTestOps`` and returns
a promise that the test settles from Python; ``console(level, text)`` appends to
``__mfTestConsole``.

Example:
    >>> ctx = load_prelude(["random.js", "encoding.js"])
    >>> run_async(ctx, "Promise.resolve(new TextEncoder().encode('hi').length)")
    2
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import quickjs

JS_DIR = Path(__file__).resolve().parents[2] / "mfbook" / "js"
PRELUDE_DIR = JS_DIR / "prelude"
VENDOR_DIR = JS_DIR / "vendor"

# Vendored sources the prelude evaluates lazily; the loader hands them over as
# ``__mfHost.vendor[name]`` (a plain string: JS never asks Python for them).
VENDOR_SOURCES = {
    "web-streams-polyfill": "web-streams-polyfill.js",
    "whatwg-url": "whatwg-url.js",
    "tr46": "tr46.js",
}

PRELUDE_ORDER = [
    "random.js",
    "encoding.js",
    "events.js",
    "url.js",
    "crypto.js",
    "console.js",
    "structured_clone.js",
    "streams.js",
    "blob.js",
    "fetch_headers.js",
    "fetch_form_data.js",
    "fetch_body.js",
    "fetch_request.js",
    "fetch_response.js",
    "fetch_bridge.js",
]

FAKE_HOST_JS = r"""
(function () {
  var nextId = 1;
  var pending = new Map();
  globalThis.__mfTestOps = [];
  globalThis.__mfTestConsole = [];
  globalThis.__mfHost = {
    op: function (name, payload) {
      var id = nextId++;
      var entry = Object.assign({ id: id, op: name }, payload || {});
      globalThis.__mfTestOps.push(entry);
      return new Promise(function (resolve, reject) { pending.set(id, { resolve: resolve, reject: reject }); });
    },
    console: function (level, text) { globalThis.__mfTestConsole.push([level, text]); },
  };
  globalThis.__mfTestTakeOps = function () {
    var ops = globalThis.__mfTestOps;
    globalThis.__mfTestOps = [];
    return JSON.stringify(ops);
  };
  globalThis.__mfTestSettle = function (id, ok, resultJson) {
    var p = pending.get(id);
    pending.delete(id);
    var value = JSON.parse(resultJson);
    if (ok) p.resolve(value); else p.reject(new Error(String(value)));
  };
  globalThis.__mfTestTakeConsole = function () {
    var lines = globalThis.__mfTestConsole;
    globalThis.__mfTestConsole = [];
    return JSON.stringify(lines);
  };
})();
"""

# Stand-in for mfbook/js/codec.js when it is not there yet: JSON plus a DataCloneError for
# functions and symbols, enough to test the structuredClone wiring.
FAKE_CODEC_JS = r"""
globalThis.__mfCodec = {
  encode: function (v) {
    return JSON.stringify(v, function (k, x) {
      if (typeof x === "function" || typeof x === "symbol") {
        throw new DOMException(String(x) + " could not be cloned.", "DataCloneError");
      }
      return x;
    });
  },
  decode: function (s) { return JSON.parse(s); },
};
"""


class JSRejection(Exception):
    """A promise evaluated by :func:`run_async` rejected (or threw)."""

    def __init__(self, name: str, message: str, stack: str = "") -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message
        self.stack = stack


OpHandler = Callable[[dict[str, Any]], Any]


def new_context(*, seed: bool = True) -> quickjs.Context:
    """A QuickJS context with the fake host and (real or fake) codec installed."""
    ctx = quickjs.Context()
    ctx.eval((JS_DIR / "intrinsics.js").read_text())
    ctx.eval(FAKE_HOST_JS)
    ctx.eval("__mfHost.vendor = {};")
    for name, file_name in VENDOR_SOURCES.items():
        path = VENDOR_DIR / file_name
        if path.exists():
            ctx.set("__mfTestVendorSource", path.read_text())
            ctx.eval(
                f"__mfHost.vendor[{json.dumps(name)}] = __mfTestVendorSource; delete globalThis.__mfTestVendorSource;"
            )
    codec = JS_DIR / "codec.js"
    ctx.eval(codec.read_text() if codec.exists() else FAKE_CODEC_JS)
    if codec.exists():
        ctx.eval((JS_DIR / "v8size.js").read_text())
    return ctx


def load_prelude(files: Iterable[str] | None = None, *, ctx: quickjs.Context | None = None) -> quickjs.Context:
    """Evaluate prelude files (names relative to ``mfbook/js/prelude``) in order.

    Args:
        files: File names such as ``"encoding.js"``; all existing ones in load order if None.
        ctx: An existing context (from :func:`new_context`) to load into.

    Returns:
        The context, seeded with fresh entropy if ``random.js`` was loaded.
    """
    if ctx is None:
        ctx = new_context()
    if files is None:
        files = [name for name in PRELUDE_ORDER if (PRELUDE_DIR / name).exists()]
    for name in files:
        ctx.eval((PRELUDE_DIR / name).read_text())
    if ctx.eval("typeof __mfHost.seed") == "function":
        seed(ctx)
    return ctx


def seed(ctx: quickjs.Context) -> None:
    """Mix fresh ``os.urandom`` entropy into the JS generator, as the kernel does per delivery."""
    ctx.eval(f"__mfHost.seed({json.dumps(os.urandom(32).hex())})")


def drain(ctx: quickjs.Context) -> None:
    """Run queued jobs until the queue is empty."""
    while ctx.execute_pending_job():
        pass


def take_ops(ctx: quickjs.Context) -> list[dict[str, Any]]:
    """Host ops queued by JS since the last call."""
    return json.loads(ctx.eval("__mfTestTakeOps()"))


def settle(ctx: quickjs.Context, op_id: int, *, ok: bool, result: Any) -> None:
    """Resolve (``ok``) or reject a pending host op with a JSON-able result."""
    ctx.eval(f"__mfTestSettle({op_id}, {json.dumps(ok)}, {json.dumps(json.dumps(result))})")


def take_console(ctx: quickjs.Context) -> list[tuple[str, str]]:
    """Console lines ``(level, text)`` written since the last call."""
    return [tuple(line) for line in json.loads(ctx.eval("__mfTestTakeConsole()"))]


def run_async(ctx: quickjs.Context, expression: str, *, ops: OpHandler | None = None) -> Any:
    """Evaluate a JS expression (a promise or a plain value) and return its JSON-decoded result.

    Args:
        ctx: The context.
        expression: JS expression; its awaited value must be JSON-serialisable.
        ops: Called with each host op dict; its return value settles the op (an exception
            rejects it with the exception's text). Without it, pending ops stay pending.

    Returns:
        The decoded value (``None`` for ``undefined``).

    Raises:
        JSRejection: The promise rejected or the expression threw.
        TimeoutError: The promise never settled.
    """
    ctx.eval("globalThis.__mfTestResult = undefined;")
    ctx.eval(
        "Promise.resolve().then(function () { return (" + expression + "); }).then("
        "function (v) { globalThis.__mfTestResult = JSON.stringify({ok: true, value: v === undefined ? null : v}); },"
        "function (e) { globalThis.__mfTestResult = JSON.stringify({ok: false,"
        " name: e && e.name !== undefined ? String(e.name) : typeof e,"
        " message: e && e.message !== undefined ? String(e.message) : String(e),"
        " stack: e && e.stack ? String(e.stack) : ''}); });"
    )
    for _ in range(1000):
        drain(ctx)
        raw = ctx.eval("globalThis.__mfTestResult")
        if raw is not None:
            result = json.loads(raw)
            if result["ok"]:
                return result["value"]
            raise JSRejection(result["name"], result["message"], result["stack"])
        pending = take_ops(ctx) if ops is not None else []
        if not pending:
            break
        for op in pending:
            try:
                value = ops(op)
            except Exception as exc:  # noqa: BLE001 - forwarded to JS as a rejection
                settle(ctx, op["id"], ok=False, result=str(exc))
            else:
                settle(ctx, op["id"], ok=True, result=value)
    raise TimeoutError(f"promise did not settle: {expression}")


def js_eval(ctx: quickjs.Context, expression: str) -> Any:
    """Evaluate a synchronous expression and return its JSON-decoded value."""
    raw = ctx.eval("JSON.stringify((function () { return (" + expression + "); })())")
    return None if raw is None else json.loads(raw)
