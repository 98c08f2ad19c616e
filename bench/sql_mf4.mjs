// Miniflare 4 side of bench/sql_bench.py: the same worker and loops, SQLite-backed class.
// Run: MF_DIR=/tmp/peers/mf4 node sql_mf4.mjs   (prints one JSON line per scenario)
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PEERS = process.env.PEERS_BENCH || "/work/shared/peers-bench";
const { importMiniflare } = await import(path.join(PEERS, "lib.mjs"));
const { Miniflare, version } = await importMiniflare(process.env.MF_DIR || "/tmp/peers/mf4");
const N = Number(process.env.BENCH_N || 2000);
const SELECT_N = Number(process.env.BENCH_SELECT_N || 300);
const WARMUP = Number(process.env.BENCH_WARMUP || 100);

const mf = new Miniflare({
  modules: true,
  script: readFileSync(path.join(HERE, "sql_worker.js"), "utf8"),
  durableObjects: { COUNTER: { className: "SqlCounter", useSQLite: true } },
  // No persistence option: workerd keeps the objects in SQLite files in a temporary directory
  // (its in-memory mode is not SQLite-backed, so it has no SQL API).
  compatibilityDate: "2025-01-01",
  cf: false,
});
await mf.ready;

async function loop(name, route, n) {
  for (let i = 0; i < WARMUP; i++) await (await mf.dispatchFetch(`http://localhost${route}`)).text();
  const t0 = performance.now();
  let last = "";
  for (let i = 0; i < n; i++) {
    const response = await mf.dispatchFetch(`http://localhost${route}`);
    last = await response.text();
    if (response.status !== 200) throw new Error(`${route}: ${response.status} ${last}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ impl: "miniflare", version, scenario: name, n, rps: Math.round((n / seconds) * 10) / 10, last }));
}
await loop("sql_inc", "/inc", N);
await loop("sql_select_1000", "/select", SELECT_N);
await mf.dispose();
