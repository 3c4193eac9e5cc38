// Admin pages: projects, users and API tokens. Their forms come from the request schemas
// of the API's own OpenAPI document, as the types' forms come from the types' schemas.

import { api, get, listAll } from "../api.js";
import { badge, confirmByName, errorLine, fill, h, props, table, when } from "../dom.js";
import { schemaForm } from "../form.js";
import { requestSchema } from "../schemas.js";
import { currentUser } from "../session.js";
import { projectPicker } from "./instances.js";

/** A page with a list and a create form below it; `rows` turns items into cells. */
async function listPage(
  view,
  { title, path, headers, rows, schema, create, method = "POST", replace = {}, after },
) {
  const list = h("div");
  const notice = h("div");
  const refresh = async () =>
    fill(list, table(headers, rows(await listAll(path), refresh, notice)));
  const form = schemaForm(await requestSchema(schema), {
    replace,
    submit: create,
    onSubmit: async (body) => {
      const created = await api(method, path, body);
      fill(notice, after ? after(created) : null);
      await refresh();
    },
  });
  await refresh();
  fill(view, h("h1", {}, title), list, notice, h("h2", {}, create), form);
}

function deleteButton(what, name, path, refresh, notice, label = "Delete") {
  return h(
    "button",
    {
      class: "danger",
      onclick: async () => {
        if (!(await confirmByName(what, name))) return;
        try {
          await api("DELETE", path);
          await refresh();
        } catch (error) {
          fill(notice, errorLine(error));
        }
      },
    },
    label,
  );
}

export async function projectsPage(view) {
  await listPage(view, {
    title: "Projects",
    path: "/v1/projects",
    headers: ["Name", "Description", "Id", "Created", "", ""],
    rows: (items, refresh, notice) =>
      items.map((p) => [
        h("a", { href: `#/instances/${p.id}` }, p.name),
        p.description,
        h("code", {}, p.id),
        when(p.created_at),
        h("a", { href: `#/projects/${p.id}/members` }, "Members"),
        deleteButton(`the project ${p.name}`, p.name, `/v1/projects/${p.id}`, refresh, notice),
      ]),
    schema: "ProjectCreate",
    create: "Create project",
  });
}

export async function usersPage(view) {
  const { select, names } = await projectPicker("None", { name: "default_project_id" });
  await listPage(view, {
    title: "Users",
    path: "/v1/users",
    headers: ["Name", "Admin", "Default project", "Created", "", ""],
    rows: (items, refresh, notice) =>
      items.map((u) => [
        u.name,
        u.is_admin ? "admin" : "",
        names.get(u.default_project_id) || "",
        when(u.created_at),
        h("a", { href: `#/tokens/${u.id}` }, "Tokens"),
        u.id === currentUser().id
          ? ""
          : deleteButton(`the user ${u.name}`, u.name, `/v1/users/${u.id}`, refresh, notice),
      ]),
    schema: "UserCreate",
    create: "Create user",
    replace: { default_project_id: select },
  });
}

export async function tokensPage(view, [userId]) {
  const user = await get(`/v1/users/${encodeURIComponent(userId)}`);
  const { select, names } = await projectPicker("None", { name: "project_id" });
  const base = `/v1/users/${user.id}/tokens`;
  await listPage(view, {
    title: `API tokens of ${user.name}`,
    path: base,
    headers: ["Name", "Prefix", "Project", "Created", "Expires", "Last used", ""],
    rows: (items, refresh, notice) =>
      items.map((t) => [
        t.name,
        h("code", {}, t.prefix),
        names.get(t.project_id) || "",
        when(t.created_at),
        when(t.expires_at),
        when(t.last_used_at),
        t.revoked
          ? badge("revoked")
          : deleteButton(
              `the token ${t.name}`,
              t.name,
              `${base}/${t.id}`,
              refresh,
              notice,
              "Revoke",
            ),
      ]),
    schema: "TokenCreate",
    create: "Issue token",
    replace: { project_id: select },
    after: (created) =>
      h(
        "div",
        { class: "once", id: "new-token" },
        h("p", {}, `The token ${created.name}, shown this once: copy it now.`),
        props([["Token", h("code", {}, created.token)]]),
      ),
  });
}

/** A select of every user (admins may list them), for the role binding form. */
async function userPicker() {
  const users = await listAll("/v1/users");
  return h(
    "select",
    { name: "user_id", id: "field-user_id" },
    users.map((u) => h("option", { value: u.id }, u.name)),
  );
}

export async function membersPage(view, [projectId]) {
  const project = await get(`/v1/projects/${encodeURIComponent(projectId)}`);
  const base = `/v1/projects/${project.id}/members`;
  await listPage(view, {
    title: `Members of ${project.name}`,
    path: base,
    method: "PUT",
    headers: ["User", "Role", ""],
    rows: (items, refresh, notice) =>
      items.map((m) => [
        m.user,
        badge(m.role, "role"),
        deleteButton(
          `the role of ${m.user} in ${project.name}`,
          m.user,
          `${base}/${m.user_id}`,
          refresh,
          notice,
          "Remove",
        ),
      ]),
    schema: "BindingCreate",
    create: "Give a role",
    replace: currentUser().is_admin ? { user_id: await userPicker() } : {},
  });
}
