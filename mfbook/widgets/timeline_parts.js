// mfbook transaction timeline front end, part 1: constants, SVG and time formatting, and the
// text of an attempt's details (what happened, its SQL). Python puts it in front of
// timeline.js in one ES module (mfbook/widgets/frontend.py).

const SVG = "http://www.w3.org/2000/svg";
const LABEL_WIDTH = 200;
const ROW = 20; // row pitch (px)
const BAR = 14; // bar height (px): hit areas are at least 8 px in both directions
const MIN_BAR = 8; // minimum bar width (px)
const AXIS_HEIGHT = 22;
const VIEWPORT = 360; // max height of the rows viewport (px)
const OVERSCAN = 6; // rows drawn above and below the viewport
const OUTCOMES = ["committed", "conflict", "rolledback", "giveup", "open"];
const GLYPH = { committed: "✓", conflict: "✕", rolledback: "↺", giveup: "✕✕", open: "▸" };
const WORD = {
  committed: "committed",
  conflict: "conflicted, ran again",
  rolledback: "rolled back",
  giveup: "gave up",
  open: "running",
};

function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

const keys = (list) => (list && list.length ? list.map((key) => `\`${key}\``).join(", ") : "—");

/** A unit for a visible span of `ms` (the kernel's timeline_axis.unit_for). */
function unitFor(ms) {
  return ms < 2000 ? "ms" : ms < 120000 ? "s" : "min";
}

/** A moment (ms since the first activity) precisely enough to tell attempts apart. */
function at(ms) {
  return ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(ms < 60000 ? 3 : 2)} s`;
}

/** `ms` in `unit` (the kernel's timeline_axis.format_duration). */
function fmt(ms, unit) {
  unit = unit ?? (Math.abs(ms) < 1000 ? "ms" : Math.abs(ms) < 60000 ? "s" : "min");
  if (unit === "min") return `${(ms / 60000).toFixed(1)} min`;
  if (unit === "s") return Math.abs(ms) < 10000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 1000).toFixed(0)} s`;
  if (Math.abs(ms) < 10) return `${+ms.toFixed(2)} ms`;
  return `${ms.toFixed(0)} ms`;
}

function niceStep(span, count) {
  const target = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(target || 1));
  for (const factor of [1, 2, 5, 10]) if (power * factor >= target) return power * factor;
  return power * 10;
}

/** Where time `ms` lies on the axis, as a fraction (piecewise linear over the axis parts). */
function fraction(axis, ms) {
  for (const part of axis.parts) {
    if (ms <= part.end) {
      if (ms <= part.start || part.end === part.start) return part.f0;
      return part.f0 + ((part.f1 - part.f0) * (ms - part.start)) / (part.end - part.start);
    }
  }
  return 1;
}

function explain(bar, state) {
  const lines = [`Attempt ${bar.attempt} (txn ${bar.txn_id}): ${WORD[bar.outcome]}.`];
  if (bar.read.length) lines.push(`It read ${keys(bar.read)}.`);
  if (bar.write.length) lines.push(`It wrote ${keys(bar.write)}.`);
  if (bar.conflict_keys.length) {
    const by = bar.winner_txn !== null ? `transaction ${state.bars.get(bar.winner_txn)?.txn ?? bar.winner_txn}` : "a plain write";
    lines.push(
      `Before it could commit, commit v${bar.winning_version} (${by}) wrote ${keys(bar.conflict_keys)}, ` +
        (bar.retried_by !== null ? "so it ran again." : "so it stopped."),
    );
  }
  if (bar.reason) lines.push(`Reason: ${bar.reason}.`);
  if (bar.version !== null) lines.push(`Its commit is version v${bar.version}.`);
  return lines.join(" ");
}

/** The SQL statements of an attempt's request (SQLite-backed objects), as a details row. */
function sqlDetails(bar) {
  const statements = bar.sql ?? [];
  if (!statements.length) return null;
  const count = (n, what) => `${n} ${what}${n === 1 ? "" : "s"}`;
  return h(
    "ol",
    { class: "mf-sql-statements" },
    statements.map((item) =>
      h(
        "li",
        { class: "mf-sql-statement" },
        h("code", { title: item.statement }, item.statement),
        h("span", { class: "mf-sql-stats" }, ` · ${count(item.rows_read, "row")} read · ${count(item.rows_written, "row")} written · ${fmt(item.ms)}`),
      ),
    ),
  );
}


/** The axis ticks and idle breaks of the zoom window `windowF`, as SVG nodes (`x`: fraction -> px). */
function axisParts(axis, width, x, windowF) {
  const parts = [];
  const visible = axis.parts.filter((part) => part.kind === "time" && part.f1 >= windowF[0] && part.f0 <= windowF[1]);
  const shownMs = visible.reduce((sum, part) => {
    const f0 = Math.max(part.f0, windowF[0]);
    const f1 = Math.min(part.f1, windowF[1]);
    return sum + ((f1 - f0) / Math.max(1e-9, part.f1 - part.f0)) * (part.end - part.start);
  }, 0);
  const unit = unitFor(shownMs);
  // Break labels first: tick labels keep out of their way.
  const taken = axis.parts
    .filter((part) => part.kind === "break")
    .map((part) => (x(part.f0) + 90 > width ? [x(part.f1) - 140, x(part.f1)] : [Math.max(2, x(part.f0) + 2) - 50, Math.max(2, x(part.f0) + 2) + 75]));
  for (const [index, part] of axis.parts.entries()) {
    const left = x(part.f0);
    const right = x(part.f1);
    if (right < 0 || left > width) continue;
    if (part.kind === "break") {
      const idle = part.end - part.start;
      const atEnd = left + 90 > width; // near the right edge: the label goes to the left
      parts.push(
        s("g", { class: "mf-break", "data-idle-ms": idle },
          s("rect", { x: left, y: 0, width: Math.max(3, right - left), height: AXIS_HEIGHT }),
          s("text", { x: atEnd ? right - 2 : Math.max(2, left + 2), y: 15, "text-anchor": atEnd ? "end" : "start" }, `⋯ ${fmt(idle)} idle`),
        ),
      );
      continue;
    }
    // Ticks count from the part's start: the first part from 0, a part after a break says
    // where it starts ("@ 1.0 min") and counts on from there ("+100 ms").
    const pixels = right - left;
    const step = niceStep(part.end - part.start, Math.max(1, Math.floor(pixels / 90)));
    for (let offset = 0; part.start + offset <= part.end + 1e-9; offset += step) {
      const tx = x(fraction(axis, part.start + offset));
      if (tx < 0 || tx > width - 30 || taken.some(([from, to]) => tx > from && tx < to)) continue;
      const text = index === 0 ? fmt(offset, unit) : offset === 0 ? `@ ${fmt(part.start - axis.start)}` : `+${fmt(offset, unit)}`;
      parts.push(s("line", { class: "mf-tick-line", x1: tx, x2: tx, y1: AXIS_HEIGHT - 5, y2: AXIS_HEIGHT }));
      parts.push(s("text", { class: "mf-tick", x: tx + 2, y: 12 }, text));
    }
  }
  return parts;
}

/** The details table of one attempt; `select(txnId)` follows a link to another attempt. */
function detailsTable(bar, state, select) {
  const link = (txnId) =>
    txnId === null
      ? "—"
      : h("a", { href: "#", onclick: (event) => { event.preventDefault(); select(txnId); } }, `attempt txn ${txnId}`);
  const rows = [
    ["what happened", explain(bar, state)],
    ["outcome", h("b", { class: `mf-text-${bar.outcome}` }, `${GLYPH[bar.outcome]} ${WORD[bar.outcome]}`)],
    ["time", `${at(bar.start)} → ${bar.end === null ? "running" : at(bar.end)}` + (bar.end === null ? "" : ` (took ${fmt(bar.end - bar.start)})`)],
    ["read set", keys(bar.read)],
    ["write set", keys(bar.write)],
    ["versions", `read at v${bar.read_version ?? "?"}` + (bar.version !== null ? ` · committed v${bar.version}` : "")],
    ["retry of", link(bar.retry_of)],
    ["retried by", link(bar.retried_by)],
  ];
  const sql = sqlDetails(bar);
  if (sql !== null) rows.push(["SQL of the request", sql]);
  return h(
    "table",
    { class: "mf-details", "data-txn-id": bar.txn_id },
    h("tbody", {}, rows.map(([name, value]) => h("tr", {}, h("th", {}, name), h("td", {}, value)))),
  );
}
