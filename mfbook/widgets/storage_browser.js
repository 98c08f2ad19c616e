// mfbook storage browser front end (anywidget ES module, no build step).
//
// Model traits (from mfbook/widgets/storage_browser.py): namespaces, namespace, objects,
// object_id, prefix, sort ("key", "-key", "size", "-size"), page {index, has_next,
// has_previous, page_size, offset, total, capped, range, rows: [{key, type, preview, full,
// size, edit, tree}]}, error, status, live, disposed. Actions go to Python with
// model.send({action, ...}): next, previous, first, last, jump {key}, refresh, put {key, text,
// kind, id}, delete {key}; an action with an id is answered by {type: "result", id, ok, error}.
// The SQL pane (tables, table, table_page traits) is drawn by storage_sql.js.
//
// The toolbar is built once and updated in place, so typing in the filter keeps the focus
// while the rows narrow (debounced; Enter applies at once).

const FILTER_DELAY_MS = 250;
const TYPED_EDITS = { Date: "an ISO date, e.g. 2024-01-31T12:00:00.000Z", Map: 'JSON: [["key", value], …] or {"key": value}', Set: "JSON list: [1, 2]" };

function formatBytes(size) {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KiB`;
  return `${(size / 1024 / 1024).toFixed(1)} MiB`;
}

function copyIcon() {
  // Two overlapping sheets, drawn (a glyph such as ⧉ is missing from many fonts).
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 12 12");
  svg.setAttribute("width", "11");
  svg.setAttribute("height", "11");
  svg.setAttribute("aria-hidden", "true");
  for (const [x, y] of [[3.5, 0.5], [0.5, 3.5]]) {
    const rect = document.createElementNS(ns, "rect");
    for (const [name, value] of Object.entries({ x, y, width: 8, height: 8, rx: 1, fill: "var(--mf-bg)", stroke: "currentColor" })) {
      rect.setAttribute(name, value);
    }
    svg.append(rect);
  }
  return svg;
}

function copyButton(text, what) {
  const button = h("button", { class: "mf-copy", title: `Copy ${what}`, "aria-label": `Copy ${what}` }, copyIcon());
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    const done = (mark) => {
      button.replaceChildren(mark);
      setTimeout(() => button.replaceChildren(copyIcon()), 1200);
    };
    if (navigator.clipboard) navigator.clipboard.writeText(text).then(() => done("✓"), () => done("!"));
    else done("!");
  });
  return button;
}

function treeNode(node, key) {
  const head = [key !== undefined ? h("span", { class: "mf-tree-key" }, `${key}: `) : null, node.label];
  if (!node.children) {
    return node.more ? h("div", { class: "mf-leaf" }, head, ` (${node.more} not shown)`) : h("div", { class: "mf-leaf" }, head);
  }
  return h(
    "details",
    { open: key === undefined ? true : undefined },
    h("summary", {}, head),
    node.children.map((child) => treeNode(child, child.key)),
    node.more ? h("div", { class: "mf-leaf" }, `… ${node.more} more`) : null,
  );
}

function render({ model, el }) {
  const expanded = new Set(); // keys whose tree or full text is open
  const widths = { key: 220, type: 96, size: 76, actions: 120 }; // px; the value column takes the rest
  let editing = null; // {key, draft, error, pending}
  let confirmDelete = null;
  let nextId = 1;
  let filterTimer = 0;
  const newEntry = { key: "", value: "" };
  const send = (message) => model.send(message);

  // ------------------------------------------------------------------ toolbar (built once)
  const root = h("div", { class: "mf-widget mf-storage-browser" });
  const namespaceSelect = h("select", { class: "mf-namespace", title: "Durable Object namespace", "aria-label": "Namespace" });
  namespaceSelect.addEventListener("change", () => {
    model.set("namespace", namespaceSelect.value);
    model.save_changes();
  });
  const objectSelect = h("select", { class: "mf-object", title: "Object (name where known, else id) · keys · size", "aria-label": "Object" });
  objectSelect.addEventListener("change", () => {
    editing = null;
    expanded.clear();
    model.set("object_id", objectSelect.value);
    model.save_changes();
  });
  const filterInput = h("input", { class: "mf-prefix", type: "search", placeholder: "filter: key prefix…", "aria-label": "Key prefix filter" });
  const applyFilter = () => {
    clearTimeout(filterTimer);
    if (filterInput.value === model.get("prefix")) return;
    model.set("prefix", filterInput.value);
    model.save_changes();
  };
  filterInput.addEventListener("input", () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(applyFilter, FILTER_DELAY_MS);
  });
  filterInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") applyFilter();
    event.stopPropagation(); // keep notebook shortcuts out of the inputs
  });
  const sortSelect = h(
    "select",
    { class: "mf-sort-select", title: "Sort rows", "aria-label": "Sort" },
    [["key", "key A→Z"], ["-key", "key Z→A"], ["-size", "largest first"], ["size", "smallest first"]].map(([value, label]) =>
      h("option", { value }, label),
    ),
  );
  sortSelect.addEventListener("change", () => {
    model.set("sort", sortSelect.value);
    model.save_changes();
  });
  const jumpInput = h("input", { class: "mf-jump", type: "search", placeholder: "jump to key…", "aria-label": "Jump to key" });
  const jump = () => jumpInput.value && send({ action: "jump", key: jumpInput.value });
  jumpInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") jump();
    event.stopPropagation();
  });
  const liveBox = h("input", { type: "checkbox", class: "mf-live" });
  liveBox.addEventListener("change", () => {
    model.set("live", liveBox.checked);
    model.save_changes();
  });
  const toolbar = h(
    "div",
    { class: "mf-toolbar" },
    namespaceSelect,
    objectSelect,
    filterInput,
    sortSelect,
    jumpInput,
    h("button", { class: "mf-jump-go", title: "Go to the page holding this key", onclick: jump }, "go"),
    h("button", { class: "mf-refresh", title: "Read again", "aria-label": "Refresh", onclick: () => send({ action: "refresh" }) }, "↻"),
    h("label", { class: "mf-live-label", title: "Refresh when storage changes" }, liveBox, " live"),
  );
  const banner = h("div", { class: "mf-banner-box" });
  const tableBox = h("div", { class: "mf-table-box" });
  const pagerBox = h("div", { class: "mf-pager-box" });
  const sqlBox = h("div", { class: "mf-sql-box" }); // SQLite-backed objects' tables (storage_sql.js)
  root.append(toolbar, banner, tableBox, pagerBox, sqlBox);
  el.append(root);

  function updateToolbar() {
    const namespaces = model.get("namespaces");
    if (namespaceSelect.options.length !== namespaces.length || [...namespaceSelect.options].some((o, i) => o.value !== namespaces[i])) {
      namespaceSelect.replaceChildren(...namespaces.map((binding) => h("option", { value: binding }, binding)));
    }
    namespaceSelect.value = model.get("namespace");
    const objects = model.get("objects");
    objectSelect.replaceChildren(
      objects.length === 0 ? h("option", { value: "" }, "(no objects yet)") : "",
      ...objects.map((item) => h("option", { value: item.object_id }, item.label)),
    );
    objectSelect.value = model.get("object_id");
    if (document.activeElement !== filterInput && filterInput.value !== model.get("prefix")) filterInput.value = model.get("prefix");
    sortSelect.value = model.get("sort");
    liveBox.checked = model.get("live");
    const disposed = model.get("disposed");
    for (const control of toolbar.querySelectorAll("select, input, button")) control.disabled = disposed;
    root.classList.toggle("mf-disposed", disposed);
  }

  // ------------------------------------------------------------------ table
  function cell(className, text, title, what) {
    return h(
      "td",
      { class: className },
      h("div", { class: "mf-cell" }, h("span", { class: "mf-cell-text", title }, text), copyButton(title, what)),
    );
  }

  function editor(row) {
    // One textarea per edit, moved between redraws: live refreshes keep its text and caret.
    if (!editing.area) {
      editing.area = h("textarea", { class: "mf-edit-text", rows: 3, "aria-label": `New value of ${row.key}` });
      editing.area.value = editing.draft;
      setTimeout(() => editing?.area?.focus(), 0);
    }
    const area = editing.area;
    area.oninput = () => (editing.draft = area.value);
    const save = () => {
      editing.pending = nextId++;
      editing.error = "";
      const kind = TYPED_EDITS[row.type] ? row.type : undefined;
      send({ action: "put", key: row.key, text: area.value, kind, id: editing.pending });
    };
    area.onkeydown = (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) save();
      if (event.key === "Escape") {
        editing = null;
        draw();
      }
      event.stopPropagation();
    };
    return h(
      "td",
      { class: "mf-value mf-open-cell" },
      area,
      editing.error ? h("div", { class: "mf-edit-error", role: "alert" }, editing.error) : null,
      TYPED_EDITS[row.type] ? h("div", { class: "mf-edit-hint" }, `${row.type}: ${TYPED_EDITS[row.type]}`) : null,
      h("button", { class: "mf-save", onclick: save }, "save"),
      h("button", { class: "mf-cancel", onclick: () => { editing = null; draw(); } }, "cancel"),
    );
  }

  function valueCell(row) {
    if (editing && editing.key === row.key) return editor(row);
    const full = row.full ?? row.preview;
    const open = expanded.has(row.key);
    const toggle =
      row.tree || row.full !== null
        ? h(
            "button",
            {
              class: "mf-expand",
              "aria-expanded": open ? "true" : "false",
              title: open ? "Collapse" : row.tree ? "Expand the value as a tree" : "Show the whole value",
              onclick: () => {
                if (open) expanded.delete(row.key);
                else expanded.add(row.key);
                draw();
              },
            },
            open ? "▾" : "▸",
          )
        : null;
    const head = h("div", { class: "mf-cell" }, toggle, h("span", { class: "mf-cell-text mf-value-text", title: full }, row.preview), copyButton(full, "value"));
    if (!open) return h("td", { class: "mf-value" }, head);
    const body = row.tree ? h("div", { class: "mf-tree" }, treeNode(row.tree)) : h("pre", { class: "mf-full" }, full);
    return h("td", { class: "mf-value mf-open-cell" }, head, body);
  }

  function actions(row) {
    const armed = confirmDelete === row.key;
    return h(
      "td",
      { class: "mf-actions" },
      h(
        "button",
        {
          class: "mf-edit",
          disabled: row.edit === null,
          title: row.edit === null ? "This value cannot be edited as text" : `Edit (${TYPED_EDITS[row.type] ?? "JSON or a Python literal"})`,
          onclick: () => {
            editing = { key: row.key, draft: row.edit ?? "", error: "", pending: null };
            draw();
          },
        },
        "edit",
      ),
      h(
        "button",
        {
          class: armed ? "mf-delete mf-armed" : "mf-delete",
          title: "Delete this key (click twice)",
          "aria-label": armed ? `Confirm deleting ${row.key}` : `Delete ${row.key}`,
          onclick: () => {
            if (armed) {
              confirmDelete = null;
              send({ action: "delete", key: row.key });
            } else {
              confirmDelete = row.key;
              draw();
            }
          },
        },
        armed ? "delete?" : "✕",
      ),
    );
  }

  function header(name, column) {
    const th = h("th", { "data-column": column }, name);
    if (column === "key" || column === "size") {
      const sort = model.get("sort");
      const mine = sort.replace("-", "") === column;
      const arrow = mine ? (sort.startsWith("-") ? " ↓" : " ↑") : "";
      th.replaceChildren(
        h(
          "button",
          {
            class: "mf-sort",
            title: `Sort by ${column}`,
            onclick: () => {
              const next = column === "key" ? (sort === "key" ? "-key" : "key") : sort === "-size" ? "size" : "-size";
              model.set("sort", next);
              model.save_changes();
            },
          },
          name + arrow,
        ),
      );
      th.setAttribute("aria-sort", mine ? (sort.startsWith("-") ? "descending" : "ascending") : "none");
    }
    if (column in widths) {
      const grip = h("span", { class: "mf-resizer", title: "Drag to resize" });
      grip.addEventListener("pointerdown", (event) => {
        event.preventDefault();
        const startX = event.clientX;
        const start = widths[column];
        const col = tableBox.querySelector(`col[data-column="${column}"]`);
        const move = (moveEvent) => {
          widths[column] = Math.max(40, start + moveEvent.clientX - startX);
          if (col) col.style.width = `${widths[column]}px`;
        };
        const up = (upEvent) => {
          // Chromium coalesces pointermove events per frame: a release before the next frame
          // would drop the last move, so the release position sets the final width.
          move(upEvent);
          window.removeEventListener("pointermove", move);
          window.removeEventListener("pointerup", up);
        };
        window.addEventListener("pointermove", move);
        window.addEventListener("pointerup", up);
      });
      th.append(grip);
    }
    return th;
  }

  function table() {
    const page = model.get("page") ?? {};
    const rows = page.rows ?? [];
    const body = rows.map((row) =>
      h(
        "tr",
        { "data-key": row.key, "data-type": row.type },
        cell("mf-key", row.key, row.key, "key"),
        h("td", { class: "mf-type", title: row.type }, row.type),
        valueCell(row),
        h("td", { class: "mf-size", title: `${row.size} bytes` }, formatBytes(row.size)),
        actions(row),
      ),
    );
    if (rows.length === 0) body.push(h("tr", { class: "mf-empty" }, h("td", { colspan: 5 }, model.get("prefix") ? "(no keys match the filter)" : "(no keys)")));
    const keyInput = h("input", { class: "mf-new-key", placeholder: "new key", "aria-label": "New key" });
    const valueInput = h("input", { class: "mf-new-value", placeholder: 'value: JSON or Python literal, e.g. {"a": 1}', "aria-label": "New value" });
    keyInput.value = newEntry.key;
    valueInput.value = newEntry.value;
    keyInput.addEventListener("input", () => (newEntry.key = keyInput.value));
    valueInput.addEventListener("input", () => (newEntry.value = valueInput.value));
    for (const input of [keyInput, valueInput]) input.addEventListener("keydown", (event) => event.stopPropagation());
    const disposed = model.get("disposed");
    const addRow = disposed
      ? null
      : h(
          "tr",
          { class: "mf-add" },
          h("td", {}, keyInput),
          h("td", {}),
          h("td", {}, valueInput),
          h("td", {}),
          h("td", {}, h("button", { class: "mf-put", onclick: () => send({ action: "put", key: keyInput.value, text: valueInput.value }) }, "put")),
        );
    const columns = ["key", "type", "value", "size", "actions"];
    return h(
      "table",
      { class: "mf-storage" },
      h("colgroup", {}, columns.map((column) => h("col", { "data-column": column, style: column in widths ? `width:${widths[column]}px` : undefined }))),
      h("thead", {}, h("tr", {}, columns.map((column) => header(column === "actions" ? "" : column, column)))),
      h("tbody", {}, body, addRow),
    );
  }

  function pager() {
    const page = model.get("page") ?? {};
    const disposed = model.get("disposed");
    return h(
      "div",
      { class: "mf-pager" },
      h("button", { class: "mf-first", title: "First page", disabled: disposed || !page.has_previous, onclick: () => send({ action: "first" }) }, "⇤"),
      h("button", { class: "mf-previous", disabled: disposed || !page.has_previous, onclick: () => send({ action: "previous" }) }, "‹ prev"),
      h("span", { class: "mf-range", "aria-live": "polite" }, page.range ?? ""),
      h("button", { class: "mf-next", disabled: disposed || !page.has_next, onclick: () => send({ action: "next" }) }, "next ›"),
      h("button", { class: "mf-last", title: "Last page", disabled: disposed || !page.has_next, onclick: () => send({ action: "last" }) }, "⇥"),
      h("span", { class: "mf-status" }, model.get("status")),
    );
  }

  function draw() {
    const focused = document.activeElement;
    updateToolbar();
    const error = model.get("error");
    banner.replaceChildren(
      model.get("disposed")
        ? h("div", { class: "mf-disposed-banner", role: "status" }, "Emulator disposed — re-run %do_storage to browse the new one. Live updates are off; the rows below are the last ones read.")
        : error
          ? h("div", { class: "mf-error", role: "alert" }, error)
          : "",
    );
    tableBox.replaceChildren(table());
    pagerBox.replaceChildren(pager());
    sqlBox.replaceChildren(sqlPane(model, send));
    if (focused && editing?.area === focused) focused.focus();
  }

  const onMessage = (message) => {
    if (message.type !== "result" || !editing || message.id !== editing.pending) return;
    editing.pending = null;
    if (message.ok) editing = null;
    else editing.error = message.error;
    draw();
  };
  const redraw = () => {
    confirmDelete = null;
    draw();
  };
  const names = ["namespaces", "namespace", "objects", "object_id", "prefix", "sort", "page", "error", "status", "live", "disposed", "tables", "table", "table_page"];
  const handlers = names.map((name) => [`change:${name}`, name === "status" || name === "objects" ? draw : redraw]);
  for (const [event, handler] of handlers) model.on(event, handler);
  model.on("msg:custom", onMessage);
  draw();
  return () => {
    clearTimeout(filterTimer);
    for (const [event, handler] of handlers) model.off(event, handler);
    model.off("msg:custom", onMessage);
  };
}

export default { render };
