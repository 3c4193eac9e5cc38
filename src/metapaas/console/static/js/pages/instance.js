// One instance, kept live: status, endpoints, nodes by role and host, events as a time
// line; credentials on request; its spec and child resources edited through forms made
// from the type's schemas; its backups, for a type that keeps them; delete after typing
// the name.

import { ApiError, api, get, instancePath, listAll } from "../api.js";
import { badge, confirmByName, errorLine, fill, h, props, when } from "../dom.js";
import { schemaForm } from "../form.js";
import { backupsSection, keepsBackups } from "./backups.js";
import { childCollection } from "./children.js";

/** Not editable after create, or set elsewhere on the page (a restore makes a new one). */
const FIXED = ["name", "project_id", "restore"];

function summary(instance) {
  const endpoints = Object.entries(instance.endpoints || {});
  return props([
    ["Status", h("span", { id: "instance-status" }, badge(instance.status))],
    ["Why", instance.status_reason || "—"],
    ["Version", instance.version],
    ["Generation", `${instance.observed_generation} applied of ${instance.generation}`],
    [
      "Endpoints",
      endpoints.length
        ? h(
            "ul",
            {},
            endpoints.map(([name, address]) => h("li", {}, `${name}: `, h("code", {}, address))),
          )
        : "none yet",
    ],
    ["Created", when(instance.created_at)],
    ["Updated", when(instance.updated_at)],
  ]);
}

/** The nodes grouped by role, then by the host (address) they run on, with their health. */
function nodesPicture(nodes) {
  if (!nodes.length) return h("p", { class: "muted" }, "No node yet.");
  const byRole = Map.groupBy(nodes, (n) => n.role);
  return h(
    "div",
    { class: "nodes" },
    [...byRole].map(([role, members]) =>
      h(
        "div",
        { class: "role", "data-role": role },
        h("h3", {}, role),
        [...Map.groupBy(members, (n) => n.address || "not placed yet")].map(([host, onHost]) =>
          h(
            "div",
            { class: "host" },
            h("span", { class: "mono" }, host),
            onHost.map((n) =>
              h(
                "div",
                {
                  class: "node",
                  "data-node": n.name,
                  title: n.message || n.agent_state || n.state,
                },
                h("span", { class: `dot health-${n.health}` }),
                h("span", { class: "mono" }, n.name),
                badge(n.health, "health"),
                h(
                  "span",
                  { class: "muted" },
                  n.state,
                  n.last_seen_at ? `, seen ${when(n.last_seen_at)}` : "",
                ),
              ),
            ),
          ),
        ),
      ),
    ),
  );
}

function timeline(events) {
  if (!events.length) return h("p", { class: "muted" }, "Nothing happened yet.");
  return h(
    "ol",
    { class: "timeline" },
    events.map((e) =>
      h(
        "li",
        { "data-kind": e.kind },
        h("time", { datetime: e.at }, when(e.at)),
        h("strong", {}, e.kind),
        e.node ? h("span", { class: "muted" }, ` on ${e.node}`) : "",
        h("div", {}, e.message),
      ),
    ),
  );
}

function credentialsButton(slug, id) {
  const shown = h("div", { id: "credentials" });
  const button = h("button", { class: "secondary" }, "Show credentials");
  button.addEventListener("click", async () => {
    try {
      const answer = await get(instancePath(slug, id, "/credentials"));
      fill(shown, h("pre", {}, JSON.stringify(answer, null, 2)));
    } catch (error) {
      fill(shown, errorLine(error));
    }
  });
  return [button, shown];
}

export async function instancePage(view, [slug, id], page) {
  const type = await get(`/v1/types/${encodeURIComponent(slug)}/`);
  let instance = await get(instancePath(slug, id));
  const parts = {
    summary: h("section", { class: "card" }),
    nodes: h("div", { id: "nodes" }),
    events: h("div", { id: "events" }),
    notice: h("div"), // what a refused delete or retry says; live updates leave it alone
  };
  const [showCredentials, credentials] = credentialsButton(slug, id);
  /** Send a request; a refusal is shown beside the buttons. */
  const act = async (method, path) => {
    try {
      await api(method, path);
      fill(parts.notice);
    } catch (error) {
      fill(parts.notice, errorLine(error));
    }
  };
  const deleteButton = h("button", { class: "danger" }, "Delete instance");
  deleteButton.addEventListener("click", async () => {
    if (await confirmByName(`the ${slug} instance ${instance.name}`, instance.name)) {
      await act("DELETE", instancePath(slug, id));
    }
  });
  const retryButton = h("button", { class: "secondary", hidden: true }, "Retry");
  retryButton.addEventListener("click", () =>
    act("POST", instancePath(slug, id, "/actions/retry")),
  );
  const edit = schemaForm(type.instance_schema, {
    values: instance,
    omit: FIXED,
    prefix: "settings",
    submit: "Update",
    onSubmit: (body) => api("PATCH", instancePath(slug, id), body),
  });
  const collections = Object.entries(type.resource_schemas || {}).map(([collection, schema]) =>
    childCollection(page, slug, id, collection, schema),
  );
  const backups = keepsBackups(type) ? await backupsSection(page, type, instance) : null;
  const live = [...collections, backups].filter(Boolean); // sections that refresh with the page
  fill(
    view,
    h("h1", {}, instance.name, " ", h("span", { class: "muted" }, `${slug} instance`)),
    parts.summary,
    h("div", { class: "actions" }, showCredentials, retryButton, deleteButton),
    parts.notice,
    credentials,
    h("h2", {}, "Nodes"),
    parts.nodes,
    collections.map((c) => c.element),
    backups?.element,
    h("h2", {}, "Settings"),
    edit,
    h("h2", {}, "Events"),
    parts.events,
  );
  await page.every(async () => {
    try {
      instance = await get(instancePath(slug, id));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
      page.leave();
      fill(
        view,
        h("h1", {}, instance.name),
        h("p", { id: "gone" }, `The ${slug} instance ${instance.name} is deleted.`),
        h("p", {}, h("a", { href: "#/instances" }, "Back to the instances")),
      );
      return;
    }
    const [nodes, events] = await Promise.all([
      get(instancePath(slug, id, "/nodes")),
      listAll(instancePath(slug, id, "/events")),
    ]);
    fill(parts.summary, summary(instance));
    retryButton.hidden = instance.status !== "ERROR"; // only a failed instance can be retried
    fill(parts.nodes, nodesPicture(nodes.items));
    fill(parts.events, timeline(events));
    await Promise.all(live.map((section) => section.refresh()));
  });
}
