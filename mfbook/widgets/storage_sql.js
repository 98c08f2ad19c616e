// mfbook storage browser, part 1: the SQL pane of a SQLite-backed object (tables, schema, rows
// by page). Python puts it in front of storage_browser.js in one ES module
// (mfbook/widgets/frontend.py); storage_browser.js calls sqlPane(model, send) on every draw.
//
// Model traits (mfbook/widgets/storage_browser.py, .sql_pane): tables [{name, rows, schema}],
// table (the shown one), table_page {table, index, columns, rows (cells as text), has_next,
// has_previous, range}. Picking a table sets `table`; the pager sends {action: "sql_next"}
// and {action: "sql_previous"}.

/** The SQL pane, or "" when the object has no tables (KV-backed, or none created yet). */
function sqlPane(model, send) {
  const tables = model.get("tables") ?? [];
  if (!tables.length) return "";
  const shown = model.get("table");
  const page = model.get("table_page") ?? {};
  const disposed = model.get("disposed");
  const pick = (name) => {
    model.set("table", name);
    model.save_changes();
  };
  const picker = h(
    "div",
    { class: "mf-sql-tables", role: "tablist", "aria-label": "SQL tables" },
    tables.map((table) =>
      h(
        "button",
        {
          class: table.name === shown ? "mf-sql-table mf-selected" : "mf-sql-table",
          "data-table": table.name,
          role: "tab",
          "aria-selected": table.name === shown ? "true" : "false",
          title: table.schema,
          disabled: disposed,
          onclick: () => pick(table.name),
        },
        `${table.name} (${table.rows.toLocaleString("en-US")})`,
      ),
    ),
  );
  const schema = tables.find((table) => table.name === shown)?.schema ?? "";
  const columns = page.columns ?? [];
  const rows = page.rows ?? [];
  const body = rows.map((row) =>
    h("tr", { class: "mf-sql-row" }, row.map((cell) => h("td", { class: cell === "NULL" ? "mf-sql-null" : undefined, title: cell }, cell))),
  );
  if (!rows.length) body.push(h("tr", { class: "mf-empty" }, h("td", { colspan: Math.max(1, columns.length) }, "(no rows)")));
  const pager = h(
    "div",
    { class: "mf-pager mf-sql-pager" },
    h("button", { class: "mf-sql-previous", disabled: disposed || !page.has_previous, onclick: () => send({ action: "sql_previous" }) }, "‹ prev"),
    h("span", { class: "mf-range", "aria-live": "polite" }, page.range ?? ""),
    h("button", { class: "mf-sql-next", disabled: disposed || !page.has_next, onclick: () => send({ action: "sql_next" }) }, "next ›"),
  );
  return h(
    "div",
    { class: "mf-sql-pane" },
    h("div", { class: "mf-sql-head" }, h("span", { class: "mf-sql-title" }, "SQL tables"), picker),
    h("code", { class: "mf-sql-schema" }, schema),
    h(
      "div",
      { class: "mf-table-box" },
      h(
        "table",
        { class: "mf-sql", "aria-label": `Rows of ${shown}` },
        h("thead", {}, h("tr", {}, columns.map((name) => h("th", { title: name }, name)))),
        h("tbody", {}, body),
      ),
    ),
    pager,
  );
}
