// mfbook isolate kernel, part "modules": The `cloudflare:workers` module, the worker's bundled
// modules and its stack traces.
// Parts share one namespace `K` (kernel/base.js); names defined by a later part are read as
// `K.name` when used, so that load order does not matter.
(function (K) {
  "use strict";
  const {
    RESOLVED,
    SafeMap,
    append,
    parse,
    then,
  } = K;

  // ---------------------------------------------------------------- cloudflare:workers module
  class DurableObject {
    constructor(ctx, env) {
      this.ctx = ctx;
      this.env = env;
    }
  }
  class WorkerEntrypoint {
    constructor(ctx, env) {
      this.ctx = ctx;
      this.env = env;
    }
  }
  class RpcTarget {}
  const cloudflareWorkers = Object.freeze({
    __proto__: null,
    DurableObject,
    WorkerEntrypoint,
    RpcTarget,
    env: {},
  });

  // ---------------------------------------------------------------- modules
  const moduleFactories = new SafeMap();
  const moduleCache = new SafeMap();

  function requireModule(specifier) {
    if (specifier === "cloudflare:workers") return cloudflareWorkers;
    const cached = moduleCache.get(specifier);
    if (cached !== undefined) return cached;
    const factory = moduleFactories.get(specifier);
    if (factory === undefined) throw new Error(`No such module "${specifier}".`);
    const exports = Object.create(null);
    moduleCache.set(specifier, exports);
    const dynamicImport = (spec) => then(RESOLVED, () => requireModule(resolveSpecifier(specifier, String(spec))));
    const meta = Object.freeze({ url: "file:///" + specifier });
    factory(requireModule, exports, dynamicImport, meta);
    return exports;
  }

  /** Resolves a dynamic import's specifier against the importing module, as the bundler did. */
  function resolveSpecifier(referrer, spec) {
    if (!spec.startsWith("./") && !spec.startsWith("../") && !spec.startsWith("/")) return spec;
    const parts = spec.startsWith("/") ? [] : referrer.split("/").slice(0, -1);
    for (const part of spec.split("/")) {
      if (part === "" || part === ".") continue;
      if (part === "..") {
        if (parts.length === 0) throw new Error(`Import "${spec}" in ${referrer} resolves outside the project root`);
        parts.pop();
      } else {
        append(parts, part);
      }
    }
    return parts.join("/");
  }


  // ---------------------------------------------------------------- stack traces
  let lineMap = []; // [[first bundle line, file], ...] sorted

  function locate(line) {
    let found = null;
    for (let i = 0; i < lineMap.length && lineMap[i][0] <= line; i++) found = lineMap[i];
    return found === null ? null : [found[1], line - found[0] + 1];
  }

  function formatStack(error, callSites) {
    let header;
    try {
      header = error === undefined || error === null ? "Error" : `${error.name || "Error"}${error.message ? ": " + error.message : ""}`;
    } catch (_) {
      header = "Error";
    }
    const lines = [header];
    for (const site of callSites) {
      const place = locate(site.getLineNumber() || 0);
      if (place === null) continue; // runtime frames stay out of user stacks
      const name = site.getFunctionName();
      const where = `${place[0]}:${place[1]}:${site.getColumnNumber()}`;
      append(lines, name ? `    at ${name} (${where})` : `    at ${where}`);
    }
    return lines.join("\n");
  }

  /** Maps bundle lines back to the worker's files in every later stack trace. */
  function setLineMap(mapText) {
    lineMap = parse(mapText);
    Error.prepareStackTrace = formatStack;
  }

  function defineModule(specifier, factory) {
    moduleFactories.set(specifier, factory);
  }

  Object.assign(K, { DurableObject, RpcTarget, WorkerEntrypoint, requireModule, setLineMap, defineModule });
})(globalThis.__mfKernelParts);
