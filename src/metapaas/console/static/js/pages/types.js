// The catalog: every installed type, and one type's versions, spec fields and collections.

import { get } from "../api.js";
import { badge, fill, h, table } from "../dom.js";
import { resolve } from "../form.js";
import { liveInstanceTable } from "./instances.js";

export async function typesPage(view) {
  const { items } = await get("/v1/types/");
  fill(
    view,
    h("h1", {}, "Service types"),
    table(
      ["Type", "Title", "Status", "Versions", "Child resources"],
      items.map((t) => [
        t.status === "ACTIVE" ? h("a", { href: `#/types/${t.slug}` }, t.slug) : t.slug,
        t.title,
        h("span", {}, badge(t.status), t.error && h("div", { class: "error" }, t.error)),
        t.versions.map((v) => v.name).join(", "),
        t.collections.join(", "),
      ]),
      "No type is installed.",
    ),
  );
}

/** What a property accepts, from its JSON Schema: type, bounds, pattern, choices. */
export function rules(prop) {
  const parts = [];
  if (prop.enum) parts.push(`one of ${prop.enum.join(", ")}`);
  if (prop.minimum !== undefined) parts.push(`≥ ${prop.minimum}`);
  if (prop.maximum !== undefined) parts.push(`≤ ${prop.maximum}`);
  if (prop.maxLength !== undefined) parts.push(`≤ ${prop.maxLength} characters`);
  if (prop.pattern) parts.push(h("code", {}, prop.pattern));
  if (prop["x-immutable"]) parts.push("fixed at create");
  if (prop["x-secret"]) parts.push("secret");
  return parts.flatMap((p, i) => (i ? ["; ", p] : [p]));
}

export function fieldsTable(schema) {
  const required = new Set(schema.required || []);
  return table(
    ["Field", "Type", "Default", "Rules", "Description"],
    Object.entries(schema.properties || {}).map(([name, raw]) => {
      const p = resolve(schema, raw); // a nullable field's rules are those of its value
      const types = (raw.anyOf || [raw]).map((o) => resolve(schema, o).type);
      return [
        h("code", {}, name, required.has(name) ? " *" : ""),
        types.join(" | "),
        p.default === undefined || p.default === null
          ? ""
          : h("code", {}, JSON.stringify(p.default)),
        h("span", {}, rules(p)),
        p.description || "",
      ];
    }),
  );
}

export async function typePage(view, [slug], page) {
  const type = await get(`/v1/types/${encodeURIComponent(slug)}/`);
  const instances = h("div");
  fill(
    view,
    h("h1", {}, type.title, " ", h("span", { class: "muted" }, `(${type.slug})`)),
    h("p", {}, type.description),
    h(
      "div",
      { class: "actions" },
      h("a", { class: "button", href: `#/types/${slug}/new` }, "Create instance"),
    ),
    h("h2", {}, "Instances"),
    instances,
    h("h2", {}, "Versions"),
    table(
      ["Version", "Default", "Deprecated"],
      type.versions.map((v) => [v.name, v.default ? "yes" : "", v.deprecated ? "deprecated" : ""]),
    ),
    h("h2", {}, "Instance fields"),
    fieldsTable(type.instance_schema),
    Object.entries(type.resource_schemas || {}).map(([collection, schema]) => [
      h("h2", {}, `Child resource: ${collection}`),
      fieldsTable(schema),
    ]),
  );
  await liveInstanceTable(instances, page, { types: [slug] });
}
