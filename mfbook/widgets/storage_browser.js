// mfbook storage browser front end (anywidget ES module, no build step).
//
// Model traits (from mfbook/widgets/storage_browser.py): namespaces, namespace, objects,
// object_id, prefix, page {index, has_next, has_previous, rows: [{key, type, preview, full,
// size, edit}]}, error, status, live. Actions go to Python with model.send({action, ...}):
// next, previous, first, refresh, put {key, text}, delete {key}. SQLite-backed objects also
// have tables [{name, schema, rows, columns}], table (the one shown) and table_page {table,
// index, columns, rows, has_next, has_previous}; actions table_next, table_previous.

function formatBytes(size) {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KiB`;
  return `${(size / 1024 / 1024).toFixed(1)} MiB`;
}

function render({ model, el }) {
  const expanded = new Set(); // keys whose full value is shown
  let editing = null; // key being edited
  let confirmDelete = null; // key whose delete awaits a second click
  let editDraft = null; // text in the edit box (kept across live redraws)
  const newEntry = { key: "", value: "" }; // the "put" row's inputs

  const send = (message) => model.send(message);
  const root = h("div", { class: "mf-widget mf-storage-browser" });
  el.append(root);

  function toolbar() {
    const namespaceSelect = h(
      "select",
      {
        class: "mf-namespace",
        title: "Durable Object namespace",
        onchange: (event) => {
          model.set("namespace", event.target.value);
          model.save_changes();
        },
      },
      model.get("namespaces").map((binding) =>
        h("option", { value: binding, selected: binding === model.get("namespace") }, binding),
      ),
    );
    const objects = model.get("objects");
    const objectSelect = h(
      "select",
      {
        class: "mf-object",
        title: "Object (name where known, else id) · keys · size",
        onchange: (event) => {
          model.set("object_id", event.target.value);
          model.save_changes();
        },
      },
      objects.length === 0 ? h("option", { value: "" }, "(no objects yet)") : null,
      objects.map((item) =>
        h("option", { value: item.object_id, selected: item.object_id === model.get("object_id") }, item.label),
      ),
    );
    const prefixInput = h("input", {
      class: "mf-prefix",
      type: "search",
      placeholder: "key prefix…",
      value: model.get("prefix"),
      onchange: (event) => {
        model.set("prefix", event.target.value);
        model.save_changes();
      },
    });
    const liveBox = h("input", {
      type: "checkbox",
      class: "mf-live",
      checked: model.get("live"),
      onchange: (event) => {
        model.set("live", event.target.checked);
        model.save_changes();
      },
    });
    return h(
      "div",
      { class: "mf-toolbar" },
      namespaceSelect,
      objectSelect,
      prefixInput,
      h("button", { class: "mf-refresh", title: "Read again", onclick: () => send({ action: "refresh" }) }, "↻"),
      h("label", { class: "mf-live-label", title: "Refresh when storage changes" }, liveBox, " live"),
    );
  }

  function valueCell(row) {
    if (editing === row.key) {
      const area = h("textarea", { class: "mf-edit-text", rows: 2 }, editDraft ?? row.edit ?? "");
      area.addEventListener("input", () => {
        editDraft = area.value;
      });
      const save = () => {
        editing = null;
        send({ action: "put", key: row.key, text: area.value });
      };
      area.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) save();
        if (event.key === "Escape") {
          editing = null;
          draw();
        }
        event.stopPropagation(); // keep JupyterLab shortcuts out of the editor
      });
      setTimeout(() => area.focus(), 0);
      return h(
        "td",
        { class: "mf-value" },
        area,
        h("button", { class: "mf-save", onclick: save }, "save"),
        h("button", { onclick: () => { editing = null; draw(); } }, "cancel"),
      );
    }
    const open = expanded.has(row.key) && row.full !== null;
    const text = h(open ? "pre" : "code", { class: "mf-value-text" }, open ? row.full : row.preview);
    const more =
      row.full === null
        ? null
        : h(
            "button",
            {
              class: "mf-expand",
              onclick: () => {
                if (expanded.has(row.key)) expanded.delete(row.key);
                else expanded.add(row.key);
                draw();
              },
            },
            open ? "less" : "more",
          );
    return h("td", { class: "mf-value" }, text, " ", more);
  }

  function actions(row) {
    const edit = h(
      "button",
      {
        class: "mf-edit",
        disabled: row.edit === null,
        title: row.edit === null ? "Only JSON or Python-literal values can be edited here" : "Edit (JSON or Python literal)",
        onclick: () => {
          editing = row.key;
          editDraft = null;
          draw();
        },
      },
      "edit",
    );
    const armed = confirmDelete === row.key;
    const remove = h(
      "button",
      {
        class: armed ? "mf-delete mf-armed" : "mf-delete",
        title: "Delete this key (click twice)",
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
    );
    return h("td", { class: "mf-actions" }, edit, remove);
  }

  function table() {
    const page = model.get("page") ?? {};
    const rows = page.rows ?? [];
    const body = rows.map((row) =>
      h(
        "tr",
        { "data-key": row.key, "data-type": row.type },
        h("td", { class: "mf-key" }, row.key),
        h("td", { class: "mf-type" }, row.type),
        valueCell(row),
        h("td", { class: "mf-size" }, formatBytes(row.size)),
        actions(row),
      ),
    );
    if (rows.length === 0) {
      body.push(h("tr", { class: "mf-empty" }, h("td", { colspan: 5 }, "(no keys)")));
    }
    const keyInput = h("input", { class: "mf-new-key", placeholder: "new key", value: newEntry.key });
    const valueInput = h("input", {
      class: "mf-new-value",
      placeholder: 'value: JSON or Python literal, e.g. {"a": 1}',
      value: newEntry.value,
    });
    keyInput.addEventListener("input", () => (newEntry.key = keyInput.value));
    valueInput.addEventListener("input", () => (newEntry.value = valueInput.value));
    for (const input of [keyInput, valueInput]) input.addEventListener("keydown", (event) => event.stopPropagation());
    const addRow = h(
      "tr",
      { class: "mf-add" },
      h("td", {}, keyInput),
      h("td", {}),
      h("td", {}, valueInput),
      h("td", {}),
      h(
        "td",
        {},
        h("button", { class: "mf-put", onclick: () => send({ action: "put", key: keyInput.value, text: valueInput.value }) }, "put"),
      ),
    );
    return h(
      "table",
      { class: "mf-storage" },
      h("thead", {}, h("tr", {}, ["key", "type", "value", "size", ""].map((name) => h("th", {}, name)))),
      h("tbody", {}, body, addRow),
    );
  }

  function pager() {
    const page = model.get("page") ?? {};
    return h(
      "div",
      { class: "mf-pager" },
      h("button", { class: "mf-first", disabled: !page.has_previous, onclick: () => send({ action: "first" }) }, "⇤"),
      h("button", { class: "mf-previous", disabled: !page.has_previous, onclick: () => send({ action: "previous" }) }, "‹ prev"),
      h("span", { class: "mf-page-number" }, `page ${(page.index ?? 0) + 1}`),
      h("button", { class: "mf-next", disabled: !page.has_next, onclick: () => send({ action: "next" }) }, "next ›"),
      h("span", { class: "mf-status" }, model.get("status")),
    );
  }

  function sqlTables() {
    const tables = model.get("tables") ?? [];
    if (tables.length === 0) return null;
    const page = model.get("table_page") ?? {};
    const shown = tables.find((item) => item.name === model.get("table"));
    const picker = h(
      "div",
      { class: "mf-sql-tables" },
      h("span", { class: "mf-sql-title" }, "SQL tables:"),
      tables.map((item) =>
        h(
          "button",
          {
            class: item.name === model.get("table") ? "mf-sql-table mf-selected" : "mf-sql-table",
            "data-table": item.name,
            title: item.schema,
            onclick: () => {
              model.set("table", item.name);
              model.save_changes();
            },
          },
          `${item.name} (${item.rows})`,
        ),
      ),
    );
    const columns = page.columns ?? [];
    const rows = (page.rows ?? []).map((row) => h("tr", { class: "mf-sql-row" }, row.map((cell) => h("td", {}, cell))));
    if (rows.length === 0) rows.push(h("tr", { class: "mf-empty" }, h("td", { colspan: Math.max(1, columns.length) }, "(no rows)")));
    const grid = h(
      "table",
      { class: "mf-sql", "data-table": page.table ?? "" },
      h("thead", {}, h("tr", {}, columns.map((name) => h("th", {}, name)))),
      h("tbody", {}, rows),
    );
    const pagerRow = h(
      "div",
      { class: "mf-pager" },
      h("button", { class: "mf-sql-previous", disabled: !page.has_previous, onclick: () => send({ action: "table_previous" }) }, "‹ prev"),
      h("span", { class: "mf-page-number" }, `page ${(page.index ?? 0) + 1}`),
      h("button", { class: "mf-sql-next", disabled: !page.has_next, onclick: () => send({ action: "table_next" }) }, "next ›"),
    );
    return h("div", { class: "mf-sql-section" }, picker, shown ? h("code", { class: "mf-sql-schema" }, shown.schema) : null, grid, pagerRow);
  }

  function draw() {
    const error = model.get("error");
    const parts = [toolbar(), error ? h("div", { class: "mf-error" }, error) : null, table(), pager(), sqlTables()];
    root.replaceChildren(...parts.filter((part) => part !== null));
  }

  const redraw = () => {
    confirmDelete = null;
    draw();
  };
  const handlers = ["namespaces", "namespace", "objects", "object_id", "page", "error", "status", "live", "tables", "table", "table_page"].map(
    (name) => [`change:${name}`, name === "status" || name === "objects" ? draw : redraw],
  );
  for (const [event, handler] of handlers) model.on(event, handler);
  draw();
  return () => {
    for (const [event, handler] of handlers) model.off(event, handler);
  };
}

export default { render };
