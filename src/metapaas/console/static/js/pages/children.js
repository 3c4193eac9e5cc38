// A child collection of an instance (demo's pages, s3's buckets): listed, added, edited and
// deleted through forms made from the collection's JSON Schema.

import { api, instancePath, listAll } from "../api.js";
import { confirmByName, errorLine, fill, h, props, table } from "../dom.js";
import { schemaForm, secretNames } from "../form.js";

/** The collection's section of the instance page, and `refresh` for its live updates. */
export function childCollection(page, slug, id, collection, schema) {
  const path = (rest = "") => instancePath(slug, id, `/${collection}${rest}`);
  const list = h("div", { class: "children", "data-collection": collection });
  const editor = h("div");
  const once = h("div");
  const columns = Object.keys(schema.properties || {}).filter(
    (n) => n !== "name" && !schema.properties[n]["x-secret"],
  );

  function addForm() {
    return schemaForm(schema, {
      prefix: `add-${collection}`,
      submit: `Add to ${collection}`,
      onSubmit: async (body) => {
        const created = await api("POST", path(), body);
        const secrets = secretNames(schema).filter((n) => created[n] !== undefined);
        fill(
          once,
          secrets.length
            ? h(
                "div",
                { class: "once" },
                h("p", {}, `Shown once: copy the secrets of ${created.name} now.`),
                props(secrets.map((n) => [n, h("code", {}, created[n])])),
              )
            : null,
        );
        await refresh();
      },
    });
  }

  function editForm(item) {
    return h(
      "div",
      {},
      h("h3", {}, `Edit ${collection}/${item.name}`),
      schemaForm(schema, {
        values: item,
        omit: ["name"],
        prefix: `edit-${collection}`,
        submit: "Save",
        onSubmit: async (body) => {
          await api("PATCH", path(`/${encodeURIComponent(item.name)}`), body);
          fill(editor);
          await refresh();
        },
      }),
    );
  }

  async function remove(item) {
    if (!(await confirmByName(`${collection}/${item.name}`, item.name))) return;
    try {
      await api("DELETE", path(`/${encodeURIComponent(item.name)}`));
      await refresh();
    } catch (error) {
      fill(editor, errorLine(error));
    }
  }

  async function refresh() {
    if (page.gone) return;
    const items = await listAll(path());
    const rows = items.map((item) => [
      h("code", {}, item.name),
      ...columns.map((c) =>
        typeof item[c] === "object" ? JSON.stringify(item[c]) : String(item[c] ?? ""),
      ),
      h(
        "span",
        { class: "actions" },
        h("button", { class: "secondary", onclick: () => fill(editor, editForm(item)) }, "Edit"),
        h("button", { class: "danger", onclick: () => remove(item) }, "Delete"),
      ),
    ]);
    fill(list, table(["Name", ...columns, ""], rows, `No ${collection} yet.`));
  }

  const element = h(
    "section",
    {},
    h("h2", {}, `Child resources: ${collection}`),
    list,
    editor,
    once,
    h("h3", {}, `Add to ${collection}`),
    addForm(),
  );
  return { element, refresh };
}
