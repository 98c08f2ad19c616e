// SQL benchmark worker (bench/sql_bench.py runs it in mfbook and in Miniflare 4).
//   GET /inc     -> RPC increment(): UPDATE ... RETURNING on a one-row counter table
//   GET /select  -> RPC selectAll(): a 1,000-row SELECT materialised with toArray()
import { DurableObject } from "cloudflare:workers";

export class SqlCounter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)");
    this.sql.exec("INSERT OR IGNORE INTO counter VALUES (1, 0)");
    this.sql.exec("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT, score REAL)");
    if (this.sql.exec("SELECT count(*) AS n FROM items").one().n === 0) {
      for (let i = 0; i < 1000; i++) this.sql.exec("INSERT INTO items (name, score) VALUES (?, ?)", `item-${i}`, i / 7);
    }
  }
  increment() {
    return this.sql.exec("UPDATE counter SET n = n + 1 WHERE id = 1 RETURNING n").one().n;
  }
  selectAll() {
    const rows = this.sql.exec("SELECT id, name, score FROM items ORDER BY id").toArray();
    return rows.length;
  }
}

export default {
  async fetch(request, env) {
    const stub = env.COUNTER.getByName("bench");
    const path = new URL(request.url).pathname;
    if (path === "/inc") return new Response(String(await stub.increment()));
    if (path === "/select") return new Response(String(await stub.selectAll()));
    return new Response("not found", { status: 404 });
  },
};
