// mfbook transaction timeline front end (anywidget ES module, no build step).
//
// Model traits (from mfbook/widgets/timeline.py): data = {lanes: [{key, label, object, rows}],
// bars: [{txn_id, lane, row, attempt, start, end, outcome, request_id, retry_of, retried_by,
// read, write, conflict_keys, read_version, version, winning_version, winner_time, winner_txn,
// reason}], commits: [{lane, time, version, keys, txn_id}], objects, end, counts}, times in ms;
// object_filter (list of "BINDING:name" keys, empty = all); live.

const SVG = "http://www.w3.org/2000/svg";
const LABEL_WIDTH = 190;
const ROW = 18;
const LANE_PAD = 8;
const AXIS = 24;
const OUTCOMES = ["committed", "conflict", "rolledback", "giveup", "open"];

function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function niceStep(span, pixels) {
  const target = span / Math.max(2, Math.floor(pixels / 90));
  const power = 10 ** Math.floor(Math.log10(target || 1));
  for (const factor of [1, 2, 5, 10]) if (power * factor >= target) return power * factor;
  return power * 10;
}

const keys = (list) => (list && list.length ? list.join(", ") : "—");
const ms = (value) => `${value.toFixed(1)} ms`;

function tooltip(bar) {
  const lines = [
    `txn ${bar.txn_id} · attempt ${bar.attempt} · ${bar.outcome}`,
    `${ms(bar.start)} → ${bar.end === null ? "open" : ms(bar.end)}`,
    `read: ${keys(bar.read)}`,
    `write: ${keys(bar.write)}`,
  ];
  if (bar.retry_of !== null) lines.push(`retry of txn ${bar.retry_of}`);
  if (bar.conflict_keys.length) lines.push(`conflict on ${keys(bar.conflict_keys)} · lost to commit v${bar.winning_version}`);
  if (bar.version !== null) lines.push(`committed v${bar.version}`);
  return lines.join("\n");
}

function render({ model, el }) {
  let zoom = 1;
  let follow = true;
  let selected = null; // txn_id shown in the details panel
  let scrollLeft = 0;

  const root = h("div", { class: "mf-widget mf-timeline" });
  el.append(root);

  const setFilter = (value) => {
    model.set("object_filter", value ? [value] : []);
    model.save_changes();
  };

  function toolbar(data) {
    const filter = model.get("object_filter");
    const counts = data.counts ?? {};
    const select = h(
      "select",
      { class: "mf-object-filter", title: "Show one object", onchange: (event) => setFilter(event.target.value) },
      h("option", { value: "" }, "all objects"),
      (data.objects ?? []).map((key) => h("option", { value: key, selected: filter.includes(key) }, key)),
    );
    const zoomBy = (factor) => {
      zoom = Math.min(200, Math.max(1, zoom * factor));
      draw();
    };
    const legend = OUTCOMES.map((outcome) =>
      h("span", { class: `mf-legend mf-legend-${outcome}` }, h("i", {}), `${outcome} ${counts[outcome] ?? 0}`),
    );
    legend.push(h("span", { class: "mf-legend mf-legend-retry" }, h("i", {}), `retries ${counts.retry ?? 0}`));
    return h(
      "div",
      { class: "mf-toolbar" },
      select,
      h("button", { class: "mf-zoom-out", title: "Zoom out", onclick: () => zoomBy(1 / 2) }, "−"),
      h("button", { class: "mf-zoom-in", title: "Zoom in (or ctrl + wheel)", onclick: () => zoomBy(2) }, "+"),
      h("button", { class: "mf-zoom-fit", title: "Fit", onclick: () => { zoom = 1; draw(); } }, "fit"),
      h(
        "label",
        { class: "mf-follow", title: "Keep the newest events in view" },
        h("input", { type: "checkbox", checked: follow, onchange: (event) => { follow = event.target.checked; } }),
        " follow",
      ),
      h("span", { class: "mf-legend-box" }, legend),
    );
  }

  function details(data) {
    const bar = (data.bars ?? []).find((item) => item.txn_id === selected);
    if (!bar) return h("div", { class: "mf-details mf-details-empty" }, "Click a bar for its read and write sets.");
    const link = (txnId) =>
      txnId === null
        ? "—"
        : h("a", { href: "#", onclick: (event) => { event.preventDefault(); selected = txnId; draw(); } }, `txn ${txnId}`);
    const rows = [
      ["transaction", `txn ${bar.txn_id} · attempt ${bar.attempt} · ${bar.lane}`],
      ["outcome", h("b", { class: `mf-text-${bar.outcome}` }, bar.outcome + (bar.reason ? ` (${bar.reason})` : ""))],
      ["time", `${ms(bar.start)} → ${bar.end === null ? "open" : ms(bar.end)}` +
        (bar.end === null ? "" : ` (${ms(bar.end - bar.start)})`)],
      ["request", bar.request_id === null ? "Python" : `#${bar.request_id}`],
      ["read set", keys(bar.read)],
      ["write set", keys(bar.write)],
      ["versions", `read at v${bar.read_version ?? "?"}` + (bar.version !== null ? ` · committed v${bar.version}` : "")],
    ];
    if (bar.conflict_keys.length) {
      rows.push(["conflict", h("span", {}, `${keys(bar.conflict_keys)} written by commit v${bar.winning_version}`,
        bar.winner_txn !== null ? h("span", {}, " (", link(bar.winner_txn), ")") : " (a plain write)")]);
    }
    rows.push(["retry of", link(bar.retry_of)], ["retried by", link(bar.retried_by)]);
    if ((bar.sql ?? []).length) {
      // The SQL statements of the same request (SQLite-backed objects).
      rows.push([
        "SQL",
        h(
          "ol",
          { class: "mf-sql-statements" },
          bar.sql.map((item) =>
            h("li", {}, h("code", {}, item.statement), ` · read ${item.rows_read} · wrote ${item.rows_written} · ${item.ms} ms`),
          ),
        ),
      ]);
    }
    return h(
      "table",
      { class: "mf-details", "data-txn-id": bar.txn_id },
      h("tbody", {}, rows.map(([name, value]) => h("tr", {}, h("th", {}, name), h("td", {}, value)))),
    );
  }

  function chart(data) {
    const filter = model.get("object_filter");
    const lanes = (data.lanes ?? []).filter((lane) => filter.length === 0 || filter.includes(lane.object));
    const shown = new Set(lanes.map((lane) => lane.key));
    const span = Math.max(data.end ?? 0, 1);
    const available = Math.max(300, (root.clientWidth || el.clientWidth || 900) - LABEL_WIDTH - 16);
    const width = available * zoom;
    const x = (time) => (time / span) * (width - 12) + 4;

    const top = {};
    let y = AXIS;
    for (const lane of lanes) {
      top[lane.key] = y;
      y += lane.rows * ROW + LANE_PAD;
    }
    const height = y + 4;
    const barY = (bar) => top[bar.lane] + LANE_PAD / 2 + bar.row * ROW;

    const grid = [];
    const step = niceStep(span, width);
    for (let tick = 0; tick <= span + 1e-9; tick += step) {
      grid.push(s("line", { class: "mf-grid", x1: x(tick), x2: x(tick), y1: AXIS - 4, y2: height }));
      grid.push(s("text", { class: "mf-tick", x: x(tick) + 2, y: 12 }, `${+tick.toFixed(3)} ms`));
    }
    const laneLines = lanes.map((lane) =>
      s("line", { class: "mf-lane-line", x1: 0, x2: width, y1: top[lane.key] + lane.rows * ROW + LANE_PAD, y2: top[lane.key] + lane.rows * ROW + LANE_PAD }),
    );

    const bars = (data.bars ?? []).filter((bar) => shown.has(bar.lane));
    const byId = new Map(bars.map((bar) => [bar.txn_id, bar]));
    const links = [];
    const marks = [];
    const rects = bars.map((bar) => {
      const end = bar.end === null ? span : bar.end;
      const x0 = x(bar.start);
      const x1 = Math.max(x0 + 3, x(end));
      const y0 = barY(bar);
      const classes = [`mf-bar`, `mf-outcome-${bar.outcome}`];
      if (bar.retry_of !== null) classes.push("mf-retry");
      if (bar.txn_id === selected) classes.push("mf-selected");
      const replaced = bar.retry_of !== null ? byId.get(bar.retry_of) : undefined;
      if (replaced && replaced.end !== null) {
        const fromX = x(replaced.end);
        const fromY = barY(replaced) + (ROW - 4) / 2;
        const toY = y0 + (ROW - 4) / 2;
        links.push(
          s("path", {
            class: "mf-retry-link",
            "data-from": replaced.txn_id,
            "data-to": bar.txn_id,
            d: `M${fromX},${fromY} C${fromX + 12},${fromY} ${x0 - 12},${toY} ${x0},${toY}`,
            "marker-end": "url(#mf-arrow)",
          }),
        );
      }
      if (bar.conflict_keys.length && bar.end !== null) {
        const cx = x(bar.end);
        const cy = y0 + (ROW - 4) / 2;
        if (bar.winner_time !== null) {
          const winner = bar.winner_txn !== null ? byId.get(bar.winner_txn) : undefined;
          const wy = winner ? barY(winner) + (ROW - 4) / 2 : top[bar.lane] + 2;
          links.push(s("line", { class: "mf-winner-link", x1: x(bar.winner_time), y1: wy, x2: cx, y2: cy }));
        }
        // An X at the end of the bar; the keys and the winning version inside it when they fit.
        const label = `${keys(bar.conflict_keys)} ↯ v${bar.winning_version}`;
        const fits = cx - x0 > label.length * 6.2 + 18;
        marks.push(
          s("g", { class: "mf-conflict", "data-txn-id": bar.txn_id, "data-keys": bar.conflict_keys.join(",") },
            s("path", { d: `M${cx - 9},${cy - 3} l6,6 m0,-6 l-6,6` }),
            fits ? s("text", { x: cx - 13, y: cy + 3.5, "text-anchor": "end" }, label) : null,
          ),
        );
      }
      return s(
        "rect",
        {
          class: classes.join(" "),
          "data-txn-id": bar.txn_id,
          "data-outcome": bar.outcome,
          "data-attempt": bar.attempt,
          "data-retry-of": bar.retry_of ?? undefined,
          x: x0,
          y: y0,
          width: x1 - x0,
          height: ROW - 4,
          rx: 2,
          onclick: () => {
            selected = bar.txn_id;
            draw();
          },
        },
        s("title", {}, tooltip(bar)),
      );
    });
    const commits = (data.commits ?? [])
      .filter((mark) => mark.txn_id === null && shown.has(mark.lane))
      .map((mark) => {
        const cx = x(mark.time);
        const cy = top[mark.lane] + 1;
        return s(
          "path",
          { class: "mf-commit", "data-version": mark.version, d: `M${cx},${cy + 6} l-4,-6 h8 z` },
          s("title", {}, `commit v${mark.version} (plain write): ${keys(mark.keys)}`),
        );
      });

    const svg = s(
      "svg",
      { class: "mf-timeline-svg", width, height },
      s("defs", {}, s("marker", { id: "mf-arrow", viewBox: "0 0 6 6", refX: 5, refY: 3, markerWidth: 6, markerHeight: 6, orient: "auto" },
        s("path", { d: "M0,0 L6,3 L0,6 z", class: "mf-arrow-head" }))),
      grid, laneLines, commits, rects, links, marks,
    );
    const labels = h(
      "div",
      { class: "mf-lane-labels", style: `height:${height}px;width:${LABEL_WIDTH}px` },
      lanes.map((lane) =>
        h("div", { class: "mf-lane-label", "data-lane": lane.key, title: lane.label,
          style: `top:${top[lane.key]}px;height:${lane.rows * ROW + LANE_PAD}px` }, lane.label),
      ),
    );
    const scroller = h("div", { class: "mf-scroll" }, svg);
    scroller.addEventListener("scroll", () => { scrollLeft = scroller.scrollLeft; });
    scroller.addEventListener("wheel", (event) => {
      if (!event.ctrlKey && !event.metaKey) return;
      event.preventDefault();
      const box = scroller.getBoundingClientRect();
      const pointer = event.clientX - box.left + scroller.scrollLeft;
      const factor = event.deltaY < 0 ? 1.25 : 0.8;
      const next = Math.min(200, Math.max(1, zoom * factor));
      scrollLeft = pointer * (next / zoom) - (event.clientX - box.left);
      zoom = next;
      follow = false;
      draw();
    }, { passive: false });
    if (lanes.length === 0) {
      return h("div", { class: "mf-chart mf-chart-empty" }, "No transactions yet: they appear here while requests run.");
    }
    return h("div", { class: "mf-chart" }, labels, scroller);
  }

  function draw() {
    const data = model.get("data") ?? {};
    root.replaceChildren(toolbar(data), chart(data), details(data));
    const scroller = root.querySelector(".mf-scroll");
    if (scroller) scroller.scrollLeft = follow ? scroller.scrollWidth : scrollLeft;
  }

  const handlers = [["change:data", draw], ["change:object_filter", draw]];
  for (const [event, handler] of handlers) model.on(event, handler);
  draw();
  // The first draw may happen before the element is attached (width unknown): draw again.
  requestAnimationFrame(draw);
  return () => {
    for (const [event, handler] of handlers) model.off(event, handler);
  };
}

export default { render };
