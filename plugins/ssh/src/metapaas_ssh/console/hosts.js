// Hosts (admins): the ssh provider's pool, kept live while the host monitor checks each
// host and drains move nodes off them; register, drain, resume and remove. A row's buttons
// are made once per host and only its other cells are redrawn, so a poll never takes a
// click or the focus away. Served at /ui/ext/ssh/: the console's own modules are ../../js/.

import { api, get } from "../../js/api.js";
import { badge, confirmByName, errorLine, fill, h } from "../../js/dom.js";
import { resolve, schemaForm } from "../../js/form.js";
import { requestSchema } from "../../js/schemas.js";

const HEADERS = ["Host", "State", "Used", "Nodes on it", ""];
const path = (name, rest = "") => `/v1/hosts/${encodeURIComponent(name)}${rest}`;

/** Labels by key: the control plane's JSON documents keep no order of their own. */
const labelsText = (labels) =>
  Object.keys(labels)
    .sort()
    .map((key) => `${key}=${labels[key]}`)
    .join(", ");

function hostCell(host) {
  const labels = labelsText(host.labels);
  return [
    h("strong", {}, host.name),
    h("div", { class: "mono" }, `${host.user}@${host.address}:${host.port}`),
    labels ? h("div", { class: "muted" }, labels) : null,
  ];
}

function stateCell(host) {
  return [
    badge(host.state),
    host.draining ? [" ", badge("DRAINING")] : null,
    host.state_reason ? h("div", { class: "muted" }, host.state_reason) : null,
  ];
}

/** What a host runs of what it may: a bar and the numbers. */
function gauge(what, used, capacity, unit = "") {
  return h(
    "div",
    { class: "gauge", "data-gauge": what },
    h("meter", { min: 0, max: capacity, value: used, title: what }),
    h("span", {}, `${used} of ${capacity}${unit} ${what}`),
  );
}

const usedCell = ({ used, capacity }) => [
  gauge("nodes", used.nodes, capacity.nodes),
  gauge("memory", used.memory_mb, capacity.memory_mb, " MB"),
];

/** Each node links to its instance's page (the API gives every node its instance). */
function nodesCell(host) {
  if (!host.nodes.length) return h("span", { class: "muted" }, "none");
  return h(
    "ul",
    { class: "host-nodes" },
    host.nodes.map((node) =>
      h(
        "li",
        { "data-node": node.name },
        h("a", { href: `#/types/${node.type}/instances/${node.instance_id}` }, node.name),
        h(
          "span",
          { class: "muted" },
          ` ${node.type}`,
          node.memory_mb ? `, ${node.memory_mb} MB` : "",
        ),
      ),
    ),
  );
}

/** Drain or resume, and remove; `current()` is the host as last read, `changed()` reads
 * them all again. A refusal is shown beside the buttons. */
function controls(name, current, changed) {
  const notice = h("div", { class: "notice" });
  const act = async (method, rest) => {
    try {
      await api(method, path(name, rest));
      fill(notice);
      await changed();
    } catch (error) {
      fill(notice, errorLine(error));
    }
  };
  const drain = h("button", { class: "secondary" });
  drain.addEventListener("click", async () => {
    if (current().draining) return act("POST", "/actions/resume");
    const warning = "Its nodes move to other hosts, one at a time, and it takes no new one.";
    if (await confirmByName(`the host ${name}`, name, { verb: "Drain", warning })) {
      await act("POST", "/actions/drain");
    }
  });
  const remove = h("button", { class: "danger" }, "Remove");
  remove.addEventListener("click", async () => {
    if (await confirmByName(`the host ${name}`, name, { verb: "Remove" })) {
      await act("DELETE");
    }
  });
  const element = h("div", {}, h("div", { class: "actions" }, drain, remove), notice);
  const show = (host) => (drain.textContent = host.draining ? "Resume" : "Drain");
  return { element, show };
}

/** One host's row: `show` redraws every cell but the buttons'. */
function hostRow(host, changed) {
  let last = host;
  const cells = HEADERS.slice(0, -1).map(() => h("td"));
  const buttons = controls(host.name, () => last, changed);
  const element = h("tr", { "data-host": host.name }, cells, h("td", {}, buttons.element));
  const show = (current) => {
    last = current;
    const [name, state, used, nodes] = cells;
    fill(name, hostCell(current));
    fill(state, stateCell(current));
    fill(used, usedCell(current));
    fill(nodes, nodesCell(current));
    buttons.show(current);
  };
  return { element, show };
}

/** The private key from a file picked or pasted text: the file's text fills the text area. */
function privateKeyControl() {
  const text = h("textarea", {
    id: "field-private_key",
    name: "private_key",
    rows: 5,
    spellcheck: "false",
    autocomplete: "off",
    placeholder: "-----BEGIN OPENSSH PRIVATE KEY-----",
  });
  const file = h("input", { id: "field-private_key-file", type: "file" });
  file.addEventListener("change", async () => {
    if (file.files.length) text.value = await file.files[0].text();
  });
  const element = h(
    "div",
    { class: "key-input" },
    text,
    h("label", { class: "muted" }, "or read it from a file: ", file),
  );
  return { element, read: () => text.value || undefined };
}

/** A number input per property of the capacity object (nodes, memory_mb). */
function capacityControl(schema) {
  const inputs = Object.entries(schema.properties).map(([name, prop]) => {
    const input = h("input", {
      id: `field-capacity-${name}`,
      type: "number",
      step: 1,
      min: prop.minimum,
      max: prop.maximum,
    });
    return [name, input, h("label", {}, input, ` ${prop.description || name}`)];
  });
  const read = () => {
    const given = inputs.filter(([, input]) => input.value !== "");
    if (!given.length) return undefined;
    return Object.fromEntries(given.map(([name, input]) => [name, Number(input.value)]));
  };
  return { element: h("div", { class: "capacity" }, inputs.map(([, , label]) => label)), read };
}

/** A label line, key=value; a line without "=" is a key with an empty value. */
function labelPair(line) {
  const at = line.indexOf("=");
  return at < 0 ? [line, ""] : [line.slice(0, at).trim(), line.slice(at + 1).trim()];
}

/** Labels as key=value lines. */
function labelsControl() {
  const area = h("textarea", {
    id: "field-labels",
    name: "labels",
    rows: 2,
    placeholder: "zone=a (one per line)",
  });
  const read = () => {
    const lines = area.value
      .split("\n")
      .map((line) => line.trim())
      .filter(Boolean);
    if (!lines.length) return undefined;
    return Object.fromEntries(lines.map(labelPair));
  };
  return { element: area, read };
}

export default async function hostsPage(view, _params, page) {
  const schema = await requestSchema("HostBody");
  const body = h("tbody");
  const list = h(
    "table",
    { id: "hosts" },
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
  const none = h("p", { class: "muted", hidden: true }, "No host is registered.");
  const rows = new Map(); // name → hostRow
  const update = async () => {
    const { items } = await get("/v1/hosts");
    const names = items.map((host) => host.name);
    for (const host of items) {
      if (!rows.has(host.name)) rows.set(host.name, hostRow(host, update));
      rows.get(host.name).show(host);
    }
    for (const name of rows.keys()) if (!names.includes(name)) rows.delete(name);
    // Rows are put in place only when the list changed: moving a row takes focus from it.
    const shown = [...body.children].map((tr) => tr.dataset.host);
    if (shown.join(" ") !== names.join(" ")) fill(body, ...names.map((n) => rows.get(n).element));
    list.hidden = !items.length;
    none.hidden = items.length > 0;
  };
  const register = schemaForm(schema, {
    replace: {
      host_key: h("input", { id: "field-host_key", name: "host_key", autocomplete: "off" }),
      private_key: privateKeyControl(),
      capacity: capacityControl(resolve(schema, schema.properties.capacity)),
      labels: labelsControl(),
    },
    submit: "Register",
    onSubmit: async (request) => {
      await api("POST", "/v1/hosts", request);
      await update();
    },
  });
  register.id = "register";
  fill(view, h("h1", {}, "Hosts"), list, none, h("h2", {}, "Register a host"), register);
  await page.every(update);
}
