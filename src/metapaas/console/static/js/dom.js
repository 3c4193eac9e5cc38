// Building the page from data without innerHTML: every value is text, never markup.

/** h("a", {href: "#/x"}, "text", child...): an element; null/false children are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  el.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

/** A table with a header row; `rows` are arrays of cells (strings or nodes). */
export function table(headers, rows, empty = "Nothing yet.") {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h(
    "table",
    {},
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        headers.map((x) => h("th", {}, x)),
      ),
    ),
    h(
      "tbody",
      {},
      rows.map((cells) =>
        h(
          "tr",
          {},
          cells.map((c) => h("td", {}, c)),
        ),
      ),
    ),
  );
}

/** A definition list of label → value. */
export const props = (pairs) =>
  h(
    "dl",
    { class: "props" },
    pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
  );

export const badge = (text, kind = "status") =>
  h("span", { class: `badge ${kind}-${text}`, "data-status": text }, text);

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

/** Replace `el`'s content. */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
  return el;
}

/** A line saying what went wrong, for errors that name no field. */
export const errorLine = (error) =>
  h("p", { class: "error", role: "alert" }, String(error.message));

/**
 * Ask the user to type `name` before deleting `what` (or doing `verb` to it, with another
 * `warning`); resolves true when they did.
 */
export function confirmByName(
  what,
  name,
  { verb = "Delete", warning = "This cannot be undone." } = {},
) {
  const dialog = document.getElementById("confirm");
  const input = document.getElementById("confirm-input");
  const ok = document.getElementById("confirm-ok");
  document.getElementById("confirm-text").textContent = `${verb} ${what}? ${warning}`;
  document.getElementById("confirm-name").textContent = name;
  input.value = "";
  ok.textContent = verb;
  ok.disabled = true;
  input.oninput = () => (ok.disabled = input.value !== name);
  return new Promise((resolve) => {
    dialog.onclose = () => resolve(dialog.returnValue === "ok" && input.value === name);
    dialog.showModal();
  });
}
