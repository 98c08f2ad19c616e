// Shared DOM helper of the widget front ends. Python prepends this file to each widget's ES
// module (mfbook/widgets/frontend.py): anywidget loads one module per widget, so a relative
// import between the files would not resolve.

/** Creates an element: `h("td", {class: "x", onclick: f}, child, [more children])`. */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}
