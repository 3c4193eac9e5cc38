// An instance's backups, a section of its page: the catalogue with "Back up now", the
// recovery window as a time line, the policy with its form, and a restore into a new
// instance. Only a type that declares backups has them; its create schema then takes a
// `restore` (plugins/schemas.py), which is how the page tells.

import { api, get, instancePath, listAll } from "../api.js";
import { badge, errorLine, fill, h, props, table, when } from "../dom.js";
import { control, fieldBox, parse, resolve, schemaForm } from "../form.js";
import { requestSchema } from "../schemas.js";

/** A restore may start from a backup in these states (db/backups.py's RESTORABLE). */
const RESTORABLE = ["COMPLETED", "VERIFIED"];
/** A backup in these states says why in its `reason`. */
const TROUBLED = ["FAILED", "UNRESTORABLE"];
/** An operation in these states is still under way. */
const OPEN = ["PENDING", "RUNNING"];

export const keepsBackups = (type) => "restore" in (type.instance_schema.properties || {});

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** 4096 → "4.0 KiB": powers of 1024, with a decimal below 10. */
function bytes(count) {
  let size = count;
  let unit = 0;
  for (; size >= 1024 && unit < UNITS.length - 1; unit++) size /= 1024;
  return `${unit && size < 10 ? size.toFixed(1) : Math.round(size)} ${UNITS[unit]}`;
}

const SPANS = [
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
  ["second", 1],
];

/** 200 → "3 minutes": the largest unit it holds once, rounded down. */
function inWords(seconds) {
  if (seconds < 1) return "under a second";
  const [unit, size] = SPANS.find(([, length]) => seconds >= length);
  const format = new Intl.NumberFormat("en", { style: "unit", unit, unitDisplay: "long" });
  return format.format(Math.floor(seconds / size));
}

function stateCell(backup) {
  return h(
    "span",
    {},
    badge(backup.state, "backup"),
    TROUBLED.includes(backup.state) && h("div", { class: "error" }, backup.reason),
  );
}

/** The backups in the API's order: newest first. */
function catalogue(backups) {
  return table(
    ["Kind", "State", "Started", "Finished", "Size", "Verified", "Restore took"],
    backups.map((b) => [
      b.kind,
      stateCell(b),
      when(b.started_at),
      when(b.finished_at),
      b.finished_at ? bytes(b.size_bytes) : "—",
      when(b.verified_at),
      b.restore_seconds === null ? "—" : inWords(b.restore_seconds),
    ]),
    "No backup yet.",
  );
}

/** `el` with the CSS variable `name` at `fraction` of the time line, set through the CSSOM:
 * the Content-Security-Policy refuses style attributes. */
function placed(el, name, fraction) {
  el.style.setProperty(name, `${(100 * fraction).toFixed(2)}%`);
  return el;
}

/**
 * The recovery window on a scale from its start to now (the control plane's now: the latest
 * point plus the lag, so the browser's clock does not matter): a bar from earliest to latest
 * when any point between them can be restored, a tick where each restorable backup ended.
 */
function timeLine(recovery, backups) {
  if (!recovery.latest) return h("p", { class: "muted" }, "Nothing to restore yet.");
  const start = Date.parse(recovery.earliest);
  const now = Date.parse(recovery.latest) + recovery.lag_seconds * 1000;
  const along = (iso) => (Date.parse(iso) - start) / Math.max(now - start, 1);
  const ticks = backups
    .filter((b) => RESTORABLE.includes(b.state))
    .map((b) => {
      const title = `${b.kind} backup, ${when(b.finished_at)}`;
      const tick = h("span", { class: "tick", title, "data-backup": b.id });
      return placed(tick, "--at", along(b.finished_at));
    });
  const bar = recovery.point_in_time && h("span", { class: "window" });
  return h(
    "div",
    { class: "time-line" },
    h("div", { class: "scale" }, bar && placed(bar, "--to", along(recovery.latest)), ticks),
    h("div", { class: "ends" }, h("span", {}, when(recovery.earliest)), h("span", {}, "now")),
    h(
      "p",
      { class: "lag" },
      `The latest restorable point, ${when(recovery.latest)}, is `,
      `${inWords(recovery.lag_seconds)} behind now.`,
      recovery.point_in_time ? "" : " Backups are restored whole: no point between them.",
    ),
  );
}

function policyFacts(policy) {
  const { count, days } = policy.retention;
  const backups = count === 1 ? "1 full backup" : `${count} full backups`;
  const kept = [count && backups, days && `${days} days`].filter(Boolean);
  return props([
    ["Repository", policy.repository],
    ["Schedule (UTC)", h("code", {}, policy.schedule)],
    ["Kept", kept.join(", ")],
    ["Log archived", policy.continuous ? "yes: a point in time can be restored" : "no"],
    ["Drills (UTC)", policy.verify ? h("code", {}, policy.verify) : "after each backup"],
    ["Next backup", when(policy.next_backup_at)],
    ["Next drill", when(policy.next_verify_at)],
  ]);
}

/** `schema` with `changes[name]` merged into its property `name` (a default, a title). */
const amended = (schema, changes) => ({
  ...schema,
  properties: Object.fromEntries(
    Object.entries(schema.properties).map(([name, prop]) => [name, { ...prop, ...changes[name] }]),
  ),
});

/** Retention's count and days: an input each, which shows its own error. */
function retentionControl(root, current) {
  const retention = resolve(root, root.properties.retention);
  const parts = Object.entries(retention.properties).map(([name, raw]) => {
    const prop = resolve(root, raw);
    const [kind, input] = control(name, `policy-retention-${name}`, prop, current?.[name]);
    const { field } = fieldBox(`retention.${name}`, input, prop.title || name, prop.description);
    return { name, kind, input, field };
  });
  const read = () =>
    Object.fromEntries(
      parts.map((p) => [p.name, parse(p.kind, p.input)]).filter(([, value]) => value !== undefined),
    );
  const element = h("div", { id: "policy-retention" }, parts.map((p) => p.field));
  return { element, read };
}

/** The repositories' names for an admin; none for anyone else, whom the API refuses the
 * list: they type the name. */
async function repositoryNames() {
  try {
    return (await listAll("/v1/backup-repositories")).map((r) => r.name);
  } catch (error) {
    if (error.status === 403) return [];
    throw error;
  }
}

function repositoryPicker(names, current) {
  if (!names.length) return null; // the form's own text input
  return h(
    "select",
    { name: "repository", id: "policy-repository" },
    names.map((name) => h("option", { value: name, selected: name === current }, name)),
  );
}

/** The policy's form, filled with the current one (a PUT sends the whole policy). */
function policyForm(path, schema, policy, repositories, saved) {
  const defaults = Object.entries(policy || {}).map(([name, value]) => [name, { default: value }]);
  return schemaForm(amended(schema, Object.fromEntries(defaults)), {
    replace: {
      repository: repositoryPicker(repositories, policy?.repository),
      retention: retentionControl(schema, policy?.retention),
    },
    prefix: "policy",
    submit: "Save policy",
    onSubmit: async (body) => saved(await api("PUT", path, body)),
  });
}

/** The instance's policy; null while it has none. */
async function policyOf(path) {
  try {
    return await get(path);
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

/** The policy (or that there is none) above its form; a save shows the new one. One that
 * cannot be read is said in its place: the rest of the page stands. */
async function policyPart(path) {
  const box = h("div", { id: "backup-policy" });
  const none = "No policy yet: no backup is taken until one names a repository.";
  try {
    const [schema, policy, repositories] = await Promise.all([
      requestSchema("PolicyBody"),
      policyOf(path),
      repositoryNames(),
    ]);
    const show = (current) =>
      fill(
        box,
        current ? policyFacts(current) : h("p", { class: "muted" }, none),
        policyForm(path, schema, current, repositories, show),
      );
    show(policy);
  } catch (error) {
    fill(box, errorLine(error));
  }
  return box;
}

/** An RFC 3339 time as a datetime-local input's value (the browser's zone, to the second);
 * `round` (Math.ceil or Math.floor) keeps it inside the window. */
function localValue(iso, round) {
  const ms = round(Date.parse(iso) / 1000) * 1000;
  const offset = new Date(ms).getTimezoneOffset() * 60_000;
  return new Date(ms - offset).toISOString().slice(0, 19);
}

/** A datetime-local input's value (the browser's zone) in UTC, RFC 3339; an empty one is sent
 * as it is, for the API to say what it wants. */
const utc = (local) => (local ? new Date(local).toISOString() : local);

/**
 * The restore's choices for a copy of `instance`: one of its backups, the latest point, or a
 * point in time (while its window has any). `update` follows the catalogue and the window.
 */
function restoreChoices(instance) {
  const backup = h("select", { id: "copy-backup" });
  let picked = null; // the backup the user picked; until then the newest is offered
  backup.addEventListener("change", () => (picked = backup.value));
  const moment = h("input", { id: "copy-point_in_time", type: "datetime-local", step: 1 });
  const latest = h("span", { class: "muted" });
  const option = (value, label, part) => {
    const id = `copy-choice-${value}`;
    const radio = h("input", { type: "radio", name: "restore-choice", id, value });
    radio.checked = value === "latest";
    part?.addEventListener("focusin", () => (radio.checked = true)); // picking is choosing
    return h("div", { class: "choice" }, radio, h("label", { for: id }, label), part);
  };
  const help = "In your time zone, within the recovery window.";
  const pointPart = fieldBox("restore.point_in_time", moment, null, help).field;
  const point = option("point", "A point in time", pointPart);
  const element = h(
    "div",
    { id: "copy-restore" },
    option("backup", "A backup", fieldBox("restore.backup", backup, null).field),
    option("latest", ["The latest point", latest]),
    point,
  );
  const chosen = {
    backup: () => ({ backup: backup.value }),
    latest: () => ({ point_in_time: "latest" }),
    point: () => ({ point_in_time: utc(moment.value) }),
  };
  const read = () => ({
    from: `${instance.project_id}/${instance.id}`,
    ...chosen[element.querySelector("input[type=radio]:checked").value](),
  });

  function update(recovery, backups) {
    const restorable = backups.filter((b) => RESTORABLE.includes(b.state));
    // Made again only when the list changed: a poll must not close the list the user opened.
    if (restorable.map((b) => b.id).join() !== [...backup.options].map((o) => o.value).join()) {
      const options = restorable.map((b) => {
        const label = `${when(b.finished_at)}, ${b.kind}`;
        return h("option", { value: b.id, selected: b.id === picked }, label);
      });
      fill(backup, options);
    }
    fill(latest, recovery.latest ? ` (${when(recovery.latest)})` : " (none yet)");
    point.hidden = !recovery.point_in_time;
    moment.min = recovery.earliest ? localValue(recovery.earliest, Math.ceil) : "";
    moment.max = recovery.latest ? localValue(recovery.latest, Math.floor) : "";
  }
  return { element, read, update };
}

/** What a copy is made with besides its name: its source's settings, version and project
 * (the API shows no secret: a copy's are generated anew). */
function sourceSettings(schema, instance) {
  const taken = Object.keys(schema.properties).filter(
    (name) => !["name", "restore"].includes(name) && instance[name] !== undefined,
  );
  return Object.fromEntries(taken.map((name) => [name, instance[name]]));
}

/** "Restore into a new instance": a name and the choices; lands on the new instance's page. */
function restoreForm(type, instance, choices) {
  const schema = type.instance_schema;
  const restore = { title: "Restore from", description: "The copy takes this one's settings." };
  return schemaForm(amended(schema, { restore }), {
    omit: Object.keys(schema.properties).filter((name) => !["name", "restore"].includes(name)),
    replace: { restore: choices },
    prefix: "copy",
    submit: "Restore",
    onSubmit: async (body) => {
      const path = `/v1/types/${encodeURIComponent(type.slug)}/instances`;
      const created = await api("POST", path, { ...sourceSettings(schema, instance), ...body });
      location.hash = `#/types/${type.slug}/instances/${created.id}`;
    },
  });
}

/** The operation `id` once it ended (as last seen, if the page was left first). */
async function ended(page, id) {
  let operation = null;
  await page.until(async () => {
    operation = await get(`/v1/operations/${encodeURIComponent(id)}`);
    return !OPEN.includes(operation.state);
  });
  return operation;
}

/** "Back up now": the backup is requested and followed until it ended, then the catalogue
 * is shown again; what went wrong is said below the button. */
function backUpNow(page, path, refresh) {
  const notice = h("div", { id: "backup-notice" });
  const button = h("button", {}, "Back up now");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const { backup_id: id } = await api("POST", path("/backups"), {});
      fill(notice, h("p", { class: "muted" }, "Backing up…"));
      const operation = await ended(page, id);
      await refresh();
      const failed = operation.state === "FAILED";
      fill(notice, failed ? errorLine(new Error(`The backup failed: ${operation.error}`)) : null);
    } catch (error) {
      fill(notice, errorLine(error));
    } finally {
      button.disabled = false;
    }
  });
  return [h("div", { class: "actions" }, button), notice];
}

/** The backups section of `instance`'s page, and `refresh` for its live updates. */
export async function backupsSection(page, type, instance) {
  const path = (rest) => instancePath(type.slug, instance.id, rest);
  const list = h("div", { id: "backup-list" });
  const line = h("div", { id: "recovery-window" });
  const choices = restoreChoices(instance);

  async function refresh() {
    if (page.gone) return;
    const [{ items }, recovery] = await Promise.all([
      get(path("/backups")),
      get(path("/recovery-window")),
    ]);
    fill(list, catalogue(items));
    fill(line, timeLine(recovery, items));
    choices.update(recovery, items);
  }

  const element = h(
    "section",
    { id: "backups" },
    h("h2", {}, "Backups"),
    backUpNow(page, path, refresh),
    list,
    h("h3", {}, "Recovery window"),
    line,
    h("h3", {}, "Policy"),
    await policyPart(path("/backup-policy")),
    h("h3", {}, "Restore into a new instance"),
    restoreForm(type, instance, choices),
  );
  return { element, refresh };
}
