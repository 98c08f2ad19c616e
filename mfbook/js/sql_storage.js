// mfbook SQL storage: `ctx.storage.sql`, `ctx.storage.kv`, `transactionSync` and the
// point-in-time-recovery bookmarks of SQLite-backed Durable Objects.
//
// Everything here is a synchronous host call, `__mfHost.call(op, payload)`, answered by
// `mfbook/sql/host_ops.py` (which documents the wire formats). The database, its implicit
// transaction per event, the KV table and the bookmarks live in Python; this file builds the
// runtime's objects (SqlStorage, SqlStorageCursor, the kv facade) around the answers.
// The kernel calls `__mfHost.sqlStorage.attach(storage, actor, helpers)` for every
// DurableObjectStorage it makes.
(function (host) {
  "use strict";

  const SQL_NOT_ENABLED =
    "SQL is not enabled for this Durable Object class. To enable it, change " +
    "`new_classes` to `new_sqlite_classes` within the 'migrations' field in " +
    "your wrangler.jsonc or wrangler.toml file. If using workerd directly," +
    "set `enableSql = true` in your workerd config for the class. Note " +
    "that this change cannot be made after the class is " +
    "already deployed to production.";
  const KV_NOT_ENABLED =
    "The storage.kv (synchronous KV) API is only available for SQLite-backed Durable " +
    "Objects, but this object's namespace is not declared to use SQLite. You can use " +
    "the older, asyncronous interface via methods of `storage` itself (e.g. " +
    "`storage.get()`). Alternatively, to enable SQLite, change `new_classes` to " +
    "`new_sqlite_classes` within the 'migrations' field in your wrangler.jsonc or " +
    "wrangler.toml file. If using workerd directly, set `enableSql = true` in your workerd " +
    "config for the class. Note that this change cannot be made after the class is " +
    "already deployed to production.";
  const NOT_SQL = "Durable Object is not backed by SQL.";
  const NO_RESULTS = "Expected exactly one result from SQL query, but got no results.";
  const MANY_RESULTS = "Expected exactly one result from SQL query, but got multiple results.";

  // ---------------------------------------------------------------- values on the wire
  function latin1(bytes) {
    let text = "";
    for (let i = 0; i < bytes.length; i += 8192) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
    }
    return text;
  }

  function bufferFromLatin1(text) {
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes.buffer;
  }

  function encodeBinding(value) {
    if (value === null || value === undefined) return null;
    switch (typeof value) {
      case "string":
        return value;
      case "number":
        return Number.isFinite(value) || Number.isNaN(value) ? value : { $d: String(value) };
      case "bigint":
        return { $i: value.toString() };
      case "boolean":
        return value ? 1 : 0;
    }
    if (value instanceof ArrayBuffer) return { $b: latin1(new Uint8Array(value)) };
    if (ArrayBuffer.isView(value)) {
      return { $b: latin1(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)) };
    }
    throw new TypeError(
      "Failed to execute 'exec' on 'SqlStorage': parameter 2 is not of type 'ArrayBuffer or ArrayBufferView or string or number or bigint or null'."
    );
  }

  /** Rows of an `exec` answer as JS values (blobs become ArrayBuffers, marked cells restored). */
  function decodeRows(wire) {
    const rows = wire.r;
    if (wire.b !== undefined) for (const [i, j] of wire.b) rows[i][j] = bufferFromLatin1(rows[i][j]);
    if (wire.x !== undefined) for (const [i, j] of wire.x) rows[i][j] = rows[i][j] === "inf" ? Infinity : -Infinity;
    return rows;
  }

  // ---------------------------------------------------------------- cursors
  // Row objects are built by a small function compiled per column list (an object literal
  // with fixed keys), several times faster in QuickJS than setting the keys one by one.
  // Kept per column list, at most ROW_MAKERS_MAX of them; captured before user code runs.
  const MakeFunction = Function;
  const encodeKey = JSON.stringify;
  const ROW_MAKERS_MAX = 256;
  const rowMakers = new Map();

  function rowMaker(columns) {
    const key = encodeKey(columns);
    let make = rowMakers.get(key);
    if (make === undefined) {
      if (rowMakers.size >= ROW_MAKERS_MAX) rowMakers.clear();
      if (columns.includes("__proto__")) {
        // A literal would set the prototype (and may not repeat that key): set keys one by one.
        make = (row) => {
          const result = {};
          for (let j = 0; j < columns.length; j++) result[columns[j]] = row[j];
          return result;
        };
      } else {
        const fields = columns.map((name, j) => `${encodeKey(name)}: row[${j}]`).join(", ");
        make = new MakeFunction("row", `"use strict"; return { ${fields} };`);
      }
      rowMakers.set(key, make);
    }
    return make;
  }

  class SqlStorageCursor {
    #columns;
    #rows;
    #index = 0;
    #read;
    #written;
    constructor(wire) {
      this.#columns = wire.c;
      this.#rows = decodeRows(wire);
      // Rows read count as the cursor consumes them (as the runtime steps its statement);
      // what the statements read besides the rows they return counts at once.
      this.#read = Math.max(0, wire.rr - this.#rows.length);
      this.#written = wire.rw;
    }
    #make = null;
    #object(row) {
      if (this.#make === null) this.#make = rowMaker(this.#columns);
      return this.#make(row);
    }
    #take() {
      return this.#index < this.#rows.length ? this.#rows[this.#index++] : undefined;
    }
    next() {
      const row = this.#take();
      return row === undefined ? { done: true, value: undefined } : { done: false, value: this.#object(row) };
    }
    toArray() {
      const rows = this.#rows;
      let index = this.#index;
      if (index >= rows.length) return [];
      if (this.#make === null) this.#make = rowMaker(this.#columns);
      const make = this.#make;
      const out = new Array(rows.length - index);
      for (let k = 0; index < rows.length; index++, k++) out[k] = make(rows[index]);
      this.#index = index;
      return out;
    }
    #rest() {
      const out = this.#rows.slice(this.#index);
      this.#index = this.#rows.length;
      return out;
    }
    one() {
      const row = this.#take();
      if (row === undefined) throw new Error(NO_RESULTS);
      if (this.#index < this.#rows.length) {
        this.#index = this.#rows.length;
        throw new Error(MANY_RESULTS);
      }
      return this.#object(row);
    }
    raw() {
      const cursor = this;
      const take = () => this.#take();
      const rest = () => this.#rest();
      const iterator = {
        next() {
          const row = take();
          return row === undefined ? { done: true, value: undefined } : { done: false, value: row };
        },
        toArray() {
          return rest();
        },
        get columnNames() {
          return cursor.columnNames;
        },
        [Symbol.iterator]() {
          return iterator;
        },
      };
      return iterator;
    }
    get columnNames() {
      // Cloudflare's documentation calls `columnNames.toArray()`: keep that working too.
      const names = this.#columns.slice();
      Object.defineProperty(names, "toArray", { value: () => names.slice() });
      return names;
    }
    get rowsRead() {
      return this.#read + this.#index;
    }
    get rowsWritten() {
      return this.#written;
    }
    [Symbol.iterator]() {
      return this;
    }
    get [Symbol.toStringTag]() {
      return "SqlStorageCursor";
    }
  }

  // ---------------------------------------------------------------- ctx.storage.sql / kv
  function makeSql(actor, helpers) {
    const call = (op, payload) => host.call(op, payload);
    class SqlStorage {
      exec(query, ...bindings) {
        const wire = call("sql.exec", { a: actor.key, q: String(query), b: bindings.map(encodeBinding) });
        return new SqlStorageCursor(wire);
      }
      prepare(query) {
        const text = String(query);
        return (...bindings) => this.exec(text, ...bindings);
      }
      get databaseSize() {
        return call("sql.size", { a: actor.key });
      }
      get [Symbol.toStringTag]() {
        return "SqlStorage";
      }
    }
    return new SqlStorage();
  }

  function makeKv(actor, helpers) {
    const call = (op, payload) => host.call(op, payload);
    return Object.freeze({
      get(key) {
        const text = call("kv.get", { a: actor.key, k: helpers.normaliseKeys(String(key)) });
        return text === null ? undefined : helpers.decode(text);
      },
      put(key, value) {
        call("kv.put", { a: actor.key, entries: helpers.normalisePut(String(key), value) });
      },
      delete(key) {
        const count = call("kv.delete", { a: actor.key, keys: [helpers.normaliseKeys(String(key))] });
        return count > 0;
      },
      list(options) {
        const entries = call("kv.list", { a: actor.key, options: helpers.listOptions(options) });
        return entries.map(([key, text]) => [key, helpers.decode(text)])[Symbol.iterator]();
      },
    });
  }

  function attachSql(storage, actor, helpers) {
    const call = (op, payload) => host.call(op, payload);
    const sql = makeSql(actor, helpers);
    const kv = makeKv(actor, helpers);
    const asyncTransaction = storage.transaction;
    // As in workerd, the closure of the async `transaction()` runs in a savepoint of the
    // object's database: a throw or `txn.rollback()` undoes its SQL (and its sync KV writes)
    // too. Each attempt has its own savepoint.
    async function inSavepoint(closure, txn) {
      call("sql.txnBegin", { a: actor.key });
      let keep = false;
      try {
        const result = await closure(txn);
        keep = txn._state !== "rolledback";
        return result;
      } finally {
        call("sql.txnEnd", { a: actor.key, commit: keep });
      }
    }
    Object.defineProperties(storage, {
      transaction: {
        configurable: true,
        value(closure) {
          if (typeof closure !== "function") return asyncTransaction.call(this, closure);
          return asyncTransaction.call(this, (txn) => inSavepoint(closure, txn));
        },
      },
      sql: { get: () => sql, configurable: true },
      kv: { get: () => kv, configurable: true },
      transactionSync: {
        configurable: true,
        value(closure) {
          if (typeof closure !== "function") {
            throw new TypeError("Failed to execute 'transactionSync' on 'DurableObjectStorage': parameter 1 is not of type 'Function'.");
          }
          call("sql.txnBegin", { a: actor.key });
          let ok = false;
          try {
            const result = closure();
            ok = true;
            return result;
          } finally {
            call("sql.txnEnd", { a: actor.key, commit: ok });
          }
        },
      },
      deleteAll: {
        configurable: true,
        value() {
          try {
            helpers.clearCache(actor);
            call("sql.deleteAll", { a: actor.key });
            return Promise.resolve();
          } catch (error) {
            return Promise.reject(error);
          }
        },
      },
      getCurrentBookmark: {
        configurable: true,
        value() {
          return attempt(() => call("bookmark.current", { a: actor.key }));
        },
      },
      getBookmarkForTime: {
        configurable: true,
        value(time) {
          const ms = time instanceof Date ? time.getTime() : Number(time);
          return attempt(() => call("bookmark.forTime", { a: actor.key, t: ms }));
        },
      },
      onNextSessionRestoreBookmark: {
        configurable: true,
        value(bookmark) {
          return attempt(() => {
            return call("bookmark.restoreNext", { a: actor.key, b: String(bookmark) });
          });
        },
      },
    });
  }

  function attempt(run) {
    try {
      return Promise.resolve(run());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  function attachKvOnly(storage) {
    const fail = (message) => () => {
      throw new Error(message);
    };
    Object.defineProperties(storage, {
      sql: { get: fail(SQL_NOT_ENABLED), configurable: true },
      kv: { get: fail(KV_NOT_ENABLED), configurable: true },
      transactionSync: { value: fail(NOT_SQL), configurable: true },
    });
  }

  host.sqlStorage = {
    /**
     * Gives a DurableObjectStorage its SQLite-only API (or the runtime's errors for it).
     * `helpers`: `normaliseKeys(keys)`, `normalisePut(keyOrEntries, value)` (validated `[key, text]`
     * pairs), `decode(text)`, `listOptions(options)`, `clearCache(actor)`.
     */
    attach(storage, actor, helpers) {
      if (actor.sql) attachSql(storage, actor, helpers);
      else attachKvOnly(storage);
    },
    SqlStorageCursor,
  };
})(globalThis.__mfHost);
