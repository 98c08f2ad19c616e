"""Where a 1,000-row ``SELECT`` + ``toArray()`` spends its time in mfbook, step by step.

Each step of the path a ``sql.exec`` answer takes is timed alone (CPU time, many
repetitions, the median of ``--rounds`` rounds), on the benchmark's table (``bench/sql_worker.js``:
1,000 rows of an integer, a short string and a float), then the whole request through
``dispatch_fetch``:

1. ``fetchall``: CPython's ``sqlite3`` steps the statement and builds 1,000 tuples;
2. ``rows read``: the step counter lookups of :mod:`mfbook.sql.reads`;
3. ``encode_result``: the scan for blobs and infinities (:mod:`mfbook.sql.host_ops`);
4. ``json encode``: the bridge's answer text (``mfbook/bridge/host_entry.py``);
5. ``JSON.parse``: QuickJS reads the answer;
6. ``rows → objects``: ``toArray()`` builds 1,000 objects (``mfbook/js/sql_storage.js``).

    python bench/sql_breakdown.py [--rounds 5]

Prints one JSON line per step (``us`` per request) and a ``request`` line (the whole
``/select`` through RPC, CPU ms per request) with the share the steps explain.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import quickjs  # noqa: E402

from mfbook import Miniflare  # noqa: E402
from mfbook.bridge.host_entry import _dumps  # noqa: E402
from mfbook.sql.database import SqlDatabase, open_connection  # noqa: E402
from mfbook.sql.host_ops import encode_result  # noqa: E402

HERE = Path(__file__).resolve().parent
QUERY = "SELECT id, name, score FROM items ORDER BY id"


def cpu_us(step: Callable[[], object], repeat: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(repeat):
            step()
        samples.append((time.process_time() - started) / repeat * 1e6)
    return round(statistics.median(samples), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rounds = args.rounds

    database = SqlDatabase(open_connection(":memory:"))
    database.begin()
    database.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, score REAL)")
    for index in range(1000):
        database.exec("INSERT INTO items (name, score) VALUES (?, ?)", [f"item-{index}", index / 7])
    connection = database.connection
    rows = connection.execute(QUERY).fetchall()
    wire = encode_result(("id", "name", "score"), rows)
    text = _dumps([1, wire])

    context = quickjs.Context()
    context.set("answer", text)
    context.eval(
        """
        globalThis.make = new Function(
          "row", '"use strict"; return { "id": row[0], "name": row[1], "score": row[2] };');
        globalThis.parsed = JSON.parse(answer)[1];
        globalThis.parseOnce = () => { JSON.parse(answer); return 0; };
        globalThis.buildOnce = () => {
          const r = parsed.r; const out = new Array(r.length);
          for (let i = 0; i < r.length; i++) out[i] = make(r[i]);
          return out.length;
        };
        """
    )
    parse_once = context.get("parseOnce")
    build_once = context.get("buildOnce")

    steps = {
        "fetchall": lambda: connection.execute(QUERY).fetchall(),
        "rows read": lambda: database._reads.after(QUERY, database._reads.before(QUERY), rows, 0),
        "encode_result": lambda: encode_result(("id", "name", "score"), rows),
        "json encode": lambda: _dumps([1, wire]),
        "JSON.parse": parse_once,
        "rows → objects": build_once,
    }
    explained = 0.0
    for name, step in steps.items():
        us = cpu_us(step, 200, rounds)
        explained += us
        print(json.dumps({"step": name, "us": us}, ensure_ascii=False))

    with Miniflare(
        script=(HERE / "sql_worker.js").read_text(),
        modules=True,
        durable_objects={"COUNTER": {"class_name": "SqlCounter", "sqlite": True}},
        trace_maxlen=1000,
    ) as mf:
        request = lambda: mf.dispatch_fetch("http://localhost/select").text()  # noqa: E731
        for _ in range(50):
            request()
        total = cpu_us(request, 100, rounds)
    print(json.dumps({"step": "request", "us": total, "explained_by_steps": round(explained / total, 2)}))


if __name__ == "__main__":
    main()
