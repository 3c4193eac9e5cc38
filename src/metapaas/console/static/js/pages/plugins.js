// Plugins (admins): the bundled ones and those installed at run time, kept live while the
// installer moves them; install, upgrade and remove. A row's controls are made once per
// plugin and only its status cells are redrawn, so polling never wipes what the user types.

import { api, get } from "../api.js";
import { badge, confirmByName, errorLine, fill, h } from "../dom.js";
import { schemaForm } from "../form.js";
import { requestSchema } from "../schemas.js";

const HEADERS = ["Plugin", "State", "Version", "Types", "Rollout", ""];
const path = (name) => `/v1/plugins/${encodeURIComponent(name)}`;

/** A one-line input: the schema allows 2000 characters, which would make it a text area. */
const line = (id, name) => h("input", { id, name, type: "text", autocomplete: "off" });

function stateCell(plugin) {
  return [
    badge(plugin.state),
    plugin.progress && h("div", { class: "muted" }, plugin.progress),
    plugin.error && h("div", { class: "error" }, plugin.error),
  ];
}

/** A type links to its page once the types list serves it. */
const typeCell = (plugin, served) =>
  plugin.types.flatMap((slug, i) => [
    i ? ", " : "",
    served.has(slug) ? h("a", { href: `#/types/${slug}` }, slug) : slug,
  ]);

function rolloutCell({ rollout }) {
  if (!rollout) return "";
  if (!rollout.nodes) return h("span", { class: "muted" }, "no nodes");
  return `${rollout.on_served_version} of ${rollout.nodes} nodes on this version`;
}

/** Upgrade and remove for a plugin installed at run time; a refusal is shown beside them. */
function controls(name, packageSchema) {
  const notice = h("div", { class: "notice" });
  const upgrade = schemaForm(packageSchema, {
    omit: ["sha256", "index_url"],
    replace: { package: line(`upgrade-${name}-package`, "package") },
    submit: "Upgrade",
    onSubmit: (body) => api("PATCH", path(name), body),
  });
  const purge = h("input", { type: "checkbox", id: `purge-${name}` });
  const remove = h("button", { class: "danger" }, "Remove");
  remove.addEventListener("click", async () => {
    const what = purge.checked ? `the plugin ${name} and its tables` : `the plugin ${name}`;
    if (!(await confirmByName(what, name))) return;
    try {
      await api("DELETE", `${path(name)}?purge=${purge.checked}`);
      fill(notice);
    } catch (error) {
      fill(notice, errorLine(error));
    }
  });
  return h(
    "div",
    { class: "plugin-controls" },
    upgrade,
    h(
      "div",
      { class: "actions" },
      remove,
      h("label", { for: purge.id }, purge, " purge its tables"),
    ),
    notice,
  );
}

/** One plugin's row: the status cells are redrawn by `show`, the controls stay. */
function pluginRow(plugin, packageSchema) {
  const cells = HEADERS.slice(0, -1).map(() => h("td"));
  const last = h("td", {}, plugin.bundled ? h("span", { class: "muted" }, "bundled") : "");
  if (!plugin.bundled) last.append(controls(plugin.name, packageSchema));
  const element = h("tr", { "data-plugin": plugin.name }, cells, last);
  const show = (current, served) => {
    const [name, state, version, types, rollout] = cells;
    fill(name, h("strong", {}, current.name));
    fill(state, stateCell(current));
    fill(version, current.version || "—");
    fill(types, typeCell(current, served));
    fill(rollout, rolloutCell(current));
  };
  return { element, show };
}

/** The slugs of the types the API serves. */
async function servedTypes() {
  const { items } = await get("/v1/types/");
  return new Set(items.filter((t) => t.status === "ACTIVE").map((t) => t.slug));
}

export async function pluginsPage(view, _params, page) {
  const packageSchema = await requestSchema("PackageBody");
  const body = h("tbody");
  const list = h(
    "table",
    { id: "plugins" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        HEADERS.map((x) => h("th", {}, x)),
      ),
    ),
    body,
  );
  const install = schemaForm(packageSchema, {
    replace: {
      package: line("field-package", "package"),
      index_url: line("field-index_url", "index_url"),
    },
    submit: "Install",
    onSubmit: (request) => api("POST", "/v1/plugins", request),
  });
  install.id = "install";
  fill(view, h("h1", {}, "Plugins"), list, h("h2", {}, "Install a plugin"), install);

  const rows = new Map(); // name → pluginRow
  let served = new Set();
  await page.every(async () => {
    const { items } = await get("/v1/plugins");
    // Asked again until every listed type serves: the request that sees a plugin ACTIVE
    // may still have reached the process that served before it, which lacks its types.
    if (items.some((p) => p.types.some((slug) => !served.has(slug)))) served = await servedTypes();
    const names = items.map((p) => p.name);
    for (const plugin of items) {
      if (!rows.has(plugin.name)) rows.set(plugin.name, pluginRow(plugin, packageSchema));
      rows.get(plugin.name).show(plugin, served);
    }
    for (const name of rows.keys()) if (!names.includes(name)) rows.delete(name);
    // Rows are put in place only when the list changed: moving a row takes focus from it.
    const shown = [...body.children].map((tr) => tr.dataset.plugin);
    if (shown.join(" ") !== names.join(" ")) fill(body, ...names.map((n) => rows.get(n).element));
  });
}
