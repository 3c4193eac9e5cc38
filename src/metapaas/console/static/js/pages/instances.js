// Instances per project, with their status kept live, and the create form of a type.

import { api, get, listAll } from "../api.js";
import { badge, fill, h, table, when } from "../dom.js";
import { schemaForm } from "../form.js";

/** A select of the projects the caller sees; `""` stands for `none` (all, or the token's). */
export async function projectPicker(none, { name = "project_id", selected = "" } = {}) {
  const projects = await listAll("/v1/projects");
  const select = h(
    "select",
    { name, id: `field-${name}` },
    h("option", { value: "" }, none),
    projects.map((p) => h("option", { value: p.id, selected: p.id === selected }, p.name)),
  );
  return { select, names: new Map(projects.map((p) => [p.id, p.name])) };
}

/**
 * Keep `container` showing the live instances of `types` (every usable type by default)
 * in `project` (every visible one when empty), polled while the page is shown.
 */
export async function liveInstanceTable(container, page, { types = null, project = "" } = {}) {
  const slugs =
    types ||
    (await get("/v1/types/")).items.filter((t) => t.status === "ACTIVE").map((t) => t.slug);
  const { names } = await projectPicker("");
  await page.every(async () => {
    const query = project ? `?project_id=${encodeURIComponent(project)}` : "";
    const lists = await Promise.all(slugs.map((s) => listAll(`/v1/types/${s}/instances${query}`)));
    const rows = lists
      .flat()
      .map((i) => [
        h("a", { href: `#/types/${i.type}/instances/${i.id}` }, i.name),
        i.type,
        names.get(i.project_id) || i.project_id,
        i.version,
        badge(i.status),
        h("span", { class: "muted" }, i.status_reason),
        when(i.updated_at),
      ]);
    fill(
      container,
      table(
        ["Name", "Type", "Project", "Version", "Status", "Why", "Updated"],
        rows,
        "No instance yet.",
      ),
    );
  });
}

export async function instancesPage(view, [projectId = ""], page) {
  const { select } = await projectPicker("All projects", { selected: projectId });
  select.addEventListener(
    "change",
    () => (location.hash = `#/instances/${select.value}`.replace(/\/$/, "")),
  );
  const list = h("div", { id: "instances" });
  fill(
    view,
    h("h1", {}, "Instances"),
    h("div", { class: "actions" }, h("label", { for: select.id }, "Project "), select),
    list,
  );
  await liveInstanceTable(list, page, { project: projectId });
}

export async function newInstancePage(view, [slug]) {
  const type = await get(`/v1/types/${encodeURIComponent(slug)}/`);
  const { select } = await projectPicker("The token's project");
  const form = schemaForm(type.instance_schema, {
    replace: { project_id: select },
    submit: "Create",
    onSubmit: async (body) => {
      const created = await api("POST", `/v1/types/${encodeURIComponent(slug)}/instances`, body);
      location.hash = `#/types/${slug}/instances/${created.id}`;
    },
  });
  fill(view, h("h1", {}, `New ${type.title}`), form);
}
