// mfbook transaction timeline front end (anywidget ES module, no build step).
//
// The kernel sends deltas as custom messages (mfbook/widgets/timeline.py):
//   {type: "delta", since, rev, bars: [...], txns: [...], commits: [...], removed_bars, removed_txns,
//    view: {axis: {start, end, unit, parts: [{kind, start, end, f0, f1}]}, summary, legend, counts,
//           objects, end, shown_attempts, total_attempts}}
//   {type: "view", view}
// A view asks for everything with {type: "sync"}, acknowledges each drawn delta with
// {type: "ack", rev} (back-pressure) and resumes a paused timeline with {type: "resume"}.
// Traits: object_filter (list of "BINDING:name"), live, notice, disposed.
//
// Drawing: one row per transaction, grouped under a row per object. Only the rows inside the
// scrolled viewport are in the DOM (virtualized); redraws are coalesced to animation frames.
// The axis is in fractions (the kernel fits it and collapses idle gaps); zoom is a window of
// fractions, set with the buttons, ctrl+wheel or by brushing the overview strip.

function render({ model, el }) {
  const state = {
    rev: 0,
    bars: new Map(), // txn_id -> attempt
    txns: new Map(), // row id -> transaction
    commits: new Map(), // "object:version" -> commit
    view: null,
  };
  let windowF = [0, 1]; // zoom window, fractions of the axis
  let follow = true;
  let selected = null; // txn_id of the attempt shown in the details
  let pendingAck = null;
  let frame = 0;
  let ownScroll = false;
  let lastObjects = "";
  let drawn = 0; // draws so far (for tests)

  // ------------------------------------------------------------------ skeleton (built once)
  const root = h("div", { class: "mf-widget mf-timeline", "data-draws": "0" });
  const filterSelect = h("select", { class: "mf-object-filter", title: "Show one object", "aria-label": "Object filter" });
  filterSelect.addEventListener("change", () => {
    model.set("object_filter", filterSelect.value ? [filterSelect.value] : []);
    model.save_changes();
  });
  const followBox = h("input", { type: "checkbox", class: "mf-follow-box" });
  followBox.checked = follow;
  followBox.addEventListener("change", () => {
    follow = followBox.checked;
    if (follow) windowF = followWindow(windowF[1] - windowF[0]);
    schedule();
  });
  const zoomBy = (factor) => {
    const width = Math.min(1, Math.max(0.002, (windowF[1] - windowF[0]) / factor));
    const centre = (windowF[0] + windowF[1]) / 2;
    setWindow(centre - width / 2, centre + width / 2, true);
  };
  const toolbar = h(
    "div",
    { class: "mf-toolbar" },
    filterSelect,
    h("button", { class: "mf-zoom-out", title: "Zoom out", "aria-label": "Zoom out", onclick: () => zoomBy(0.5) }, "−"),
    h("button", { class: "mf-zoom-in", title: "Zoom in (or ctrl + wheel, or brush the overview)", "aria-label": "Zoom in", onclick: () => zoomBy(2) }, "+"),
    h("button", { class: "mf-zoom-fit", title: "Fit everything", onclick: () => setWindow(0, 1, false) }, "fit"),
    h("label", { class: "mf-follow", title: "Keep the newest transactions in view" }, followBox, " follow"),
  );
  const summaryLine = h("div", { class: "mf-summary", role: "status" });
  const notice = h("div", { class: "mf-notice", hidden: true });
  const legend = h("div", { class: "mf-legend-box" });
  const legendText = h("div", { class: "mf-legend-text" });
  const overview = h("canvas", { class: "mf-overview", height: 28, title: "Overview: drag to zoom to a range" });
  const brush = h("div", { class: "mf-brush" });
  const overviewBox = h("div", { class: "mf-overview-box" }, overview, brush);
  const axisSvg = s("svg", { class: "mf-axis", height: AXIS_HEIGHT });
  const axisRow = h("div", { class: "mf-axis-row" }, h("div", { class: "mf-axis-corner", style: `width:${LABEL_WIDTH}px` }), axisSvg);
  const spacer = h("div", { class: "mf-spacer" });
  const labels = h("div", { class: "mf-lane-labels", style: `width:${LABEL_WIDTH}px` });
  const chartSvg = s("svg", { class: "mf-timeline-svg" });
  const canvasBox = h("div", { class: "mf-rows-box" }, chartSvg);
  const viewport = h("div", { class: "mf-rows", tabindex: -1 }, spacer, labels, canvasBox);
  const empty = h("div", { class: "mf-chart-empty", hidden: true }, "No transactions yet: they appear here while requests run.");
  const chart = h("div", { class: "mf-chart" }, overviewBox, axisRow, viewport, empty);
  const details = h("div", { class: "mf-details-box" });
  root.append(toolbar, summaryLine, notice, chart, legend, legendText, details);
  el.append(root);

  // ------------------------------------------------------------------ data
  function reset() {
    state.bars.clear();
    state.txns.clear();
    state.commits.clear();
  }

  function apply(message) {
    if (message.type === "view") {
      state.view = message.view;
      schedule();
      return;
    }
    if (message.type !== "delta") return;
    if (message.since === 0) reset();
    else if (message.since !== state.rev) {
      model.send({ type: "sync" }); // a gap: ask for everything
      return;
    }
    for (const id of message.removed_bars) state.bars.delete(id);
    for (const id of message.removed_txns) state.txns.delete(id);
    for (const bar of message.bars) state.bars.set(bar.txn_id, bar);
    for (const txn of message.txns) state.txns.set(txn.id, txn);
    for (const mark of message.commits) state.commits.set(`${mark.object}:${mark.version}`, mark);
    state.rev = message.rev;
    state.view = message.view;
    pendingAck = message.rev;
    schedule();
  }

  // ------------------------------------------------------------------ window and follow
  function followWindow(width) {
    return [Math.max(0, 1 - width), 1];
  }

  function setWindow(f0, f1, byUser) {
    const width = Math.min(1, Math.max(0.002, f1 - f0));
    let start = Math.min(Math.max(0, f0), 1 - width);
    windowF = [start, start + width];
    if (byUser) stopFollowing();
    else {
      follow = true;
      followBox.checked = true;
    }
    schedule();
  }

  function stopFollowing() {
    follow = false;
    followBox.checked = false;
  }

  // ------------------------------------------------------------------ drawing
  function schedule() {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      draw();
    });
  }

  function shownRows() {
    const filter = model.get("object_filter");
    const txns = [...state.txns.values()]
      .filter((txn) => filter.length === 0 || filter.includes(txn.object))
      .sort((a, b) => a.id - b.id);
    const objects = [...new Set(txns.map((txn) => txn.object))];
    const rows = [];
    for (const object of objects) {
      rows.push({ kind: "object", object });
      for (const txn of txns) if (txn.object === object) rows.push({ kind: "txn", txn });
    }
    return rows;
  }

  function drawToolbar(view) {
    const objects = view?.objects ?? [];
    const filter = model.get("object_filter");
    const signature = JSON.stringify([objects, filter]);
    if (signature !== lastObjects) {
      lastObjects = signature;
      filterSelect.replaceChildren(
        h("option", { value: "" }, "all objects"),
        ...objects.map((key) => h("option", { value: key, selected: filter.includes(key) }, key)),
      );
    }
    const counts = view?.counts ?? {};
    legend.replaceChildren(
      ...OUTCOMES.map((outcome) =>
        h(
          "span",
          { class: `mf-legend mf-legend-${outcome}` },
          h("i", { class: `mf-swatch mf-fill-${outcome}` }, GLYPH[outcome]),
          ` ${WORD[outcome]} ${counts[outcome] ?? 0}`,
        ),
      ),
      h("span", { class: "mf-legend mf-legend-wait" }, h("i", { class: "mf-swatch mf-swatch-wait" }), " waiting"),
      h("span", { class: "mf-legend mf-legend-winner" }, h("i", { class: "mf-swatch mf-swatch-winner" }, "◆"), " winning commit"),
    );
    legendText.textContent = view?.legend ?? "";
    summaryLine.textContent = view?.summary ?? "";
    const message = model.get("notice");
    notice.hidden = !message;
    const paused = !model.get("live") && !model.get("disposed");
    notice.replaceChildren(
      ...[message, paused ? h("button", { class: "mf-resume", onclick: () => model.send({ type: "resume" }) }, "Resume") : null].filter(Boolean),
    );
  }

  function drawOverview(axis, width, rows) {
    const ratio = window.devicePixelRatio || 1;
    overview.width = Math.max(1, Math.round(width * ratio));
    overview.style.width = `${width}px`;
    const context = overview.getContext("2d");
    if (!context) return;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, 28);
    const style = getComputedStyle(root);
    const txnRows = rows.filter((row) => row.kind === "txn");
    const pitch = Math.max(1, Math.min(6, 24 / Math.max(1, txnRows.length)));
    txnRows.forEach((row, index) => {
      const y = 2 + ((index * pitch) % 24);
      for (const txnId of row.txn.attempts) {
        const bar = state.bars.get(txnId);
        if (!bar) continue;
        context.fillStyle = style.getPropertyValue(`--mf-${bar.outcome}`).trim() || "#888";
        const x0 = fraction(axis, bar.start) * width;
        const x1 = fraction(axis, bar.end ?? axis.end) * width;
        context.fillRect(x0, y, Math.max(1.5, x1 - x0), Math.max(1.5, pitch - 0.5));
      }
    });
    for (const part of axis.parts) {
      if (part.kind !== "break") continue;
      context.fillStyle = style.getPropertyValue("--mf-break").trim() || "#999";
      context.fillRect(part.f0 * width, 0, Math.max(2, (part.f1 - part.f0) * width), 28);
    }
    brush.style.left = `${LABEL_WIDTH + windowF[0] * width}px`;
    brush.style.width = `${Math.max(2, (windowF[1] - windowF[0]) * width)}px`;
  }

  function drawAxis(axis, width, x) {
    axisSvg.setAttribute("width", width);
    axisSvg.replaceChildren(...axisParts(axis, width, x, windowF));
  }

  function drawRows(rows, axis, width, x) {
    const total = rows.length * ROW;
    spacer.style.height = `${total}px`;
    const top = viewport.scrollTop;
    const height = Math.min(VIEWPORT, Math.max(total, ROW));
    viewport.style.height = `${height}px`;
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(rows.length, Math.ceil((top + height) / ROW) + OVERSCAN);
    const slice = rows.slice(first, last);
    const offset = first * ROW;
    labels.style.top = canvasBox.style.top = `${offset}px`;
    labels.style.height = canvasBox.style.height = `${slice.length * ROW}px`;
    chartSvg.setAttribute("width", width);
    chartSvg.setAttribute("height", slice.length * ROW);

    const under = []; // links and waits: under the bars, never catching the pointer
    const bars = [];
    const over = []; // glyphs and marks: pointer-events none
    const rowOf = new Map(); // txn_id -> y of its row (for winner links)
    const objectY = new Map();
    slice.forEach((row, index) => {
      const y = index * ROW;
      if (row.kind === "object") objectY.set(row.object, y);
      else for (const id of row.txn.attempts) rowOf.set(id, y);
    });
    const labelNodes = slice.map((row, index) =>
      row.kind === "object"
        ? h("div", { class: "mf-lane-label mf-object-label", style: `top:${index * ROW}px`, title: row.object }, row.object)
        : h(
            "div",
            { class: "mf-lane-label", style: `top:${index * ROW}px`, title: `${row.txn.label} · ${row.txn.object}` },
            `${row.txn.label}`,
          ),
    );
    for (const [index, row] of slice.entries()) {
      const y = index * ROW;
      if (row.kind === "object") {
        under.push(s("line", { class: "mf-lane-line", x1: 0, x2: width, y1: y + 0.5, y2: y + 0.5 }));
        let lastMark = -Infinity;
        for (const mark of state.commits.values()) {
          if (mark.object !== row.object || mark.txn_id !== null) continue;
          const cx = x(fraction(axis, mark.time));
          if (cx < -10 || cx > width + 10 || Math.abs(cx - lastMark) < 6) continue; // thin crowded marks
          lastMark = cx;
          over.push(
            s("path", { class: "mf-commit", "data-version": mark.version, d: `M${cx},${y + 4} l5,6 l-5,6 l-5,-6 z` },
              s("title", {}, `commit v${mark.version} (a plain write): ${keys(mark.keys)}`)),
          );
        }
        continue;
      }
      const txn = row.txn;
      const cy = y + ROW / 2;
      if (txn.wait_start !== null && txn.wait >= 1) {
        const w0 = x(fraction(axis, txn.wait_start));
        const w1 = x(fraction(axis, txn.start));
        if (w1 - w0 >= 1) {
          under.push(
            s("rect", { class: "mf-wait", x: w0, y: y + 5, width: w1 - w0, height: ROW - 10, "data-txn": txn.id },
              s("title", {}, `waited ${fmt(txn.wait)} before its first attempt (queued at the object's input gate)`)),
          );
        }
      }
      let right = -Infinity;
      let previous = null;
      for (const txnId of txn.attempts) {
        const bar = state.bars.get(txnId);
        if (!bar) continue;
        const end = bar.end ?? state.view.end;
        let x0 = Math.max(x(fraction(axis, bar.start)), right + 1);
        const x1 = Math.max(x0 + MIN_BAR, x(fraction(axis, end)));
        right = x1;
        if (previous !== null) {
          under.push(s("line", { class: "mf-retry-link", x1: previous, x2: x0, y1: cy, y2: cy, "data-to": bar.txn_id }));
        }
        previous = x1;
        if (x1 < 0 || x0 > width) continue;
        const classes = ["mf-bar", `mf-outcome-${bar.outcome}`, `mf-fill-${bar.outcome}`];
        if (bar.retry_of !== null) classes.push("mf-retry");
        if (bar.txn_id === selected) classes.push("mf-selected");
        const label =
          `${txn.label}, attempt ${bar.attempt}: ${WORD[bar.outcome]}, ` +
          `${bar.end === null ? "running" : fmt(bar.end - bar.start)}` +
          (bar.conflict_keys.length ? `, conflict on ${bar.conflict_keys.join(", ")}` : "");
        bars.push(
          s("rect", {
            class: classes.join(" "),
            "data-txn-id": bar.txn_id,
            "data-txn": txn.id,
            "data-outcome": bar.outcome,
            "data-attempt": bar.attempt,
            "data-retry-of": bar.retry_of ?? undefined,
            x: x0,
            y: y + (ROW - BAR) / 2,
            width: x1 - x0,
            height: BAR,
            rx: 2,
            tabindex: 0,
            role: "button",
            "aria-label": label,
          }, s("title", {}, `${label}\n${explain(bar, state)}`)),
        );
        const glyph = GLYPH[bar.outcome];
        const inside = x1 - x0 >= glyph.length * 8 + 4;
        over.push(
          s("text", {
            class: `mf-glyph mf-glyph-${bar.outcome}${inside ? " mf-glyph-inside" : ""}`,
            x: inside ? (x0 + x1) / 2 : x1 + 2,
            y: cy + 4,
            "text-anchor": inside ? "middle" : "start",
            "data-keys": bar.conflict_keys.length ? bar.conflict_keys.join(",") : undefined,
          }, glyph),
        );
        if (bar.conflict_keys.length && bar.winner_time !== null && bar.end !== null) {
          // The winning commit: a labelled mark on its row (or the object's row for a plain write).
          const wx = x(fraction(axis, bar.winner_time));
          const wy = (bar.winner_txn !== null ? rowOf.get(bar.winner_txn) : objectY.get(txn.object)) ?? null;
          if (wy !== null) {
            under.push(s("line", { class: "mf-winner-link", x1: wx, y1: wy + ROW / 2, x2: x1, y2: cy }));
            const text = `v${bar.winning_version} won` + (bar.winner_txn === null ? " (plain write)" : "");
            const atEnd = wx > width - text.length * 6.5 - 12;
            if (bar.winner_txn !== null) over.push(s("path", { class: "mf-winner", d: `M${wx},${wy + 3} l6,7 l-6,7 l-6,-7 z` }));
            over.push(
              s("text", {
                class: "mf-winner-label",
                x: atEnd ? wx - 8 : wx + 8,
                y: wy + ROW / 2 + 4,
                "text-anchor": atEnd ? "end" : "start",
              }, text),
            );
          }
        }
      }
    }
    chartSvg.replaceChildren(s("g", { class: "mf-under" }, under), s("g", { class: "mf-bars" }, bars), s("g", { class: "mf-over" }, over));
    labels.replaceChildren(...labelNodes);
  }

  function drawDetails() {
    const filter = model.get("object_filter");
    const bar = selected === null ? undefined : state.bars.get(selected);
    if (!bar || (filter.length && !filter.includes(bar.object))) { // the details follow the filter too
      details.replaceChildren(h("div", { class: "mf-details mf-details-empty" }, "Click (or focus and press Enter on) an attempt for its read and write sets."));
      return;
    }
    details.replaceChildren(detailsTable(bar, state, select));
  }

  function select(txnId) {
    selected = txnId;
    stopFollowing();
    schedule();
  }

  function draw() {
    const began = performance.now();
    drawn += 1;
    root.dataset.draws = String(drawn);
    root.dataset.window = windowF.map((f) => f.toFixed(3)).join(" "); // the zoom window (for tests)
    const view = state.view;
    drawToolbar(view);
    const rows = shownRows();
    const isEmpty = !view || rows.length === 0;
    empty.hidden = !isEmpty;
    for (const part of [overviewBox, axisRow, viewport]) part.hidden = isEmpty;
    if (!isEmpty) {
      const width = Math.max(240, (root.clientWidth || el.clientWidth || 900) - LABEL_WIDTH - 4);
      const axis = view.axis;
      if (follow) windowF = followWindow(windowF[1] - windowF[0]);
      const span = windowF[1] - windowF[0];
      const x = (f) => ((f - windowF[0]) / span) * (width - 16) + 4;
      drawOverview(axis, width, rows);
      drawAxis(axis, width, x);
      const focused = root.querySelector(".mf-bar:focus")?.dataset.txnId;
      drawRows(rows, axis, width, x);
      const bottom = viewport.scrollHeight - viewport.clientHeight;
      if (follow && Math.abs(viewport.scrollTop - bottom) > 1) {
        ownScroll = true;
        viewport.scrollTop = bottom;
      }
      if (focused) root.querySelector(`.mf-bar[data-txn-id="${focused}"]`)?.focus();
    }
    drawDetails();
    root.dataset.drawMs = (performance.now() - began).toFixed(1); // the last draw's cost (for tests)
    if (pendingAck !== null) {
      model.send({ type: "ack", rev: pendingAck });
      pendingAck = null;
    }
  }

  // ------------------------------------------------------------------ user input
  chartSvg.addEventListener("click", (event) => {
    const target = event.target.closest?.(".mf-bar");
    if (target) select(Number(target.dataset.txnId));
  });
  chartSvg.addEventListener("keydown", (event) => {
    const target = event.target.closest?.(".mf-bar");
    if (target && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      select(Number(target.dataset.txnId));
    }
    event.stopPropagation(); // keep notebook shortcuts out of the chart
  });
  viewport.addEventListener("scroll", () => {
    if (ownScroll) ownScroll = false;
    else if (viewport.scrollTop + viewport.clientHeight < viewport.scrollHeight - 2) stopFollowing();
    schedule();
  });
  viewport.addEventListener(
    "wheel",
    (event) => {
      if (event.ctrlKey || event.metaKey) {
        event.preventDefault();
        zoomBy(event.deltaY < 0 ? 1.25 : 0.8);
      } else if (event.shiftKey || Math.abs(event.deltaX) > Math.abs(event.deltaY)) {
        event.preventDefault();
        const span = windowF[1] - windowF[0];
        const delta = ((event.deltaX || event.deltaY) / 600) * span;
        setWindow(windowF[0] + delta, windowF[1] + delta, true);
      }
    },
    { passive: false },
  );
  let brushStart = null;
  const overviewFraction = (event) => {
    const box = overview.getBoundingClientRect();
    return Math.min(1, Math.max(0, (event.clientX - box.left) / Math.max(1, box.width)));
  };
  overviewBox.addEventListener("pointerdown", (event) => {
    brushStart = overviewFraction(event);
    overviewBox.setPointerCapture?.(event.pointerId);
  });
  overviewBox.addEventListener("pointermove", (event) => {
    if (brushStart === null) return;
    const here = overviewFraction(event);
    brush.style.left = `${LABEL_WIDTH + Math.min(here, brushStart) * overview.clientWidth}px`;
    brush.style.width = `${Math.max(2, Math.abs(here - brushStart) * overview.clientWidth)}px`;
  });
  overviewBox.addEventListener("pointerup", (event) => {
    if (brushStart === null) return;
    const here = overviewFraction(event);
    const [f0, f1] = [Math.min(here, brushStart), Math.max(here, brushStart)];
    brushStart = null;
    if (f1 - f0 < 0.005) {
      const span = windowF[1] - windowF[0];
      setWindow(here - span / 2, here + span / 2, true);
    } else setWindow(f0, f1, true);
  });

  const onMessage = (message) => apply(message);
  const onTrait = () => schedule();
  model.on("msg:custom", onMessage);
  for (const name of ["object_filter", "live", "notice", "disposed"]) model.on(`change:${name}`, onTrait);
  const resize = new ResizeObserver(() => schedule());
  resize.observe(root);
  model.send({ type: "sync" });
  draw();
  return () => {
    resize.disconnect();
    model.off("msg:custom", onMessage);
    for (const name of ["object_filter", "live", "notice", "disposed"]) model.off(`change:${name}`, onTrait);
    if (frame) cancelAnimationFrame(frame);
  };
}

export default { render };
