// Forms generated from a type's JSON Schema (GET /v1/types/{slug}/ gives them). Values go in
// as the inputs' defaults, so a create form resets to them after a success. The browser
// does not validate (novalidate): the server's rules are the only ones, and its problem
// answer's errors[{field, rule, message}] are shown next to the fields they name.

import { h } from "./dom.js";

/** The schema of one property with `$ref` resolved and a nullable `anyOf` unwrapped. */
export function resolve(root, prop) {
  let schema = prop;
  if (schema.$ref) schema = { ...root.$defs[schema.$ref.split("/").pop()], ...schema };
  const options = schema.anyOf || [];
  const concrete = options.filter((o) => o.type !== "null");
  if (options.length && concrete.length === 1) {
    schema = { ...resolve(root, concrete[0]), ...schema, nullable: true };
    delete schema.anyOf;
  }
  return schema;
}

/** The input for one property; `kind` tells `parse` how to turn its text into a value. */
export function control(name, id, schema, value) {
  const attrs = { name, id };
  const choices = schema.enum || (schema.const !== undefined ? [schema.const] : null);
  if (choices) {
    return [
      "choice",
      h(
        "select",
        attrs,
        choices.map((c) => h("option", { value: c, selected: c === value }, c)),
      ),
    ];
  }
  if (schema.type === "boolean") {
    return ["boolean", h("input", { ...attrs, type: "checkbox", checked: value === true })];
  }
  if (schema.type === "integer" || schema.type === "number") {
    const step = schema.type === "integer" ? 1 : "any";
    const input = h("input", {
      ...attrs,
      type: "number",
      step,
      min: schema.minimum,
      max: schema.maximum,
    });
    input.defaultValue = value ?? "";
    return ["number", input];
  }
  if (schema.type === "array" && schema.items?.type === "string") {
    const area = h("textarea", { ...attrs, rows: 3, placeholder: "one per line" });
    area.defaultValue = (value || []).join("\n");
    return ["lines", area];
  }
  if (schema.type !== "string") {
    const area = h("textarea", { ...attrs, rows: 4, placeholder: "JSON" });
    area.defaultValue = value === undefined || value === null ? "" : JSON.stringify(value, null, 2);
    return ["json", area];
  }
  if ((schema.maxLength || 0) > 1000) {
    const area = h("textarea", { ...attrs, rows: 6 });
    area.defaultValue = value ?? "";
    return ["text", area];
  }
  const type = schema["x-secret"] ? "password" : "text";
  const input = h("input", { ...attrs, type, autocomplete: "off", maxlength: schema.maxLength });
  input.defaultValue = value ?? "";
  return ["text", input];
}

/** A field's value as the request sends it; undefined leaves it out. */
const valueOf = (field) => (field.read ? field.read() : parse(field.kind, field.input));

/** The value of a `control`'s input of `kind`; undefined when it is empty. */
export function parse(kind, el) {
  switch (kind) {
    case "boolean":
      return el.checked;
    case "number":
      return el.value === "" ? undefined : Number(el.value);
    case "lines":
      return el.value
        .split("\n")
        .map((s) => s.trim())
        .filter(Boolean);
    case "json":
      if (el.value.trim() === "") return undefined;
      try {
        return JSON.parse(el.value);
      } catch {
        return el.value; // the server names the field and says what it wants
      }
    default:
      return el.value === "" ? undefined : el.value;
  }
}

/**
 * The box of the field `name` (a dotted name for a part of a caller's control, such as
 * `restore.point_in_time`): its label (none when `label` is null), input, help and the line
 * its error is shown on.
 */
export function fieldBox(name, input, label, help) {
  const error = h("p", { class: "field-error", "data-error-for": name });
  const field = h(
    "div",
    { class: "field", "data-field": name },
    label !== null && h("label", { for: input.id }, label),
    input,
    help && h("span", { class: "help" }, help),
    error,
  );
  return { field, error };
}

/** Whether an error naming `field` (`restore.point_in_time`) is one of the field `name`. */
const names = (name, field) => field === name || field.startsWith(`${name}.`);

/** A caller's control: an element whose value is read as text, or `{ element, read }`. */
const replacement = (given) => (given instanceof Element ? { element: given, read: null } : given);

/**
 * A form for `schema`. Options: `values` (current values: the form then sends only what
 * changed, for a PATCH), `omit` (properties not shown), `replace` (name → a control of the
 * caller's, e.g. a project picker, with the id `${prefix}-${name}`; or `{ element, read }`
 * for a control made of several inputs, `read()` giving the property's value or undefined;
 * an error naming a part of it is shown by the part's `fieldBox`, when it has one),
 * `prefix` (of the inputs' ids, unique on the page), `submit` (button label),
 * `onSubmit(body)` (may throw an ApiError, whose field errors are placed next to their
 * fields).
 */
export function schemaForm(
  schema,
  { values = null, omit = [], replace = {}, prefix = "field", submit = "Save", onSubmit },
) {
  const updating = values !== null;
  const required = new Set(schema.required || []);
  const fields = [];
  const formError = h("p", { class: "form-error", role: "alert" });
  const rows = [];
  for (const [name, raw] of Object.entries(schema.properties || {})) {
    if (omit.includes(name)) continue;
    const prop = resolve(schema, raw);
    const initial = updating ? values[name] : prop.default;
    const custom = replace[name] && replacement(replace[name]);
    const [kind, input] = custom
      ? ["text", custom.element]
      : control(name, `${prefix}-${name}`, prop, initial);
    if (updating && prop["x-immutable"]) input.disabled = true;
    if (updating && prop["x-secret"]) input.placeholder = "unchanged";
    const label = [prop.title || name, required.has(name) && !updating ? " *" : ""];
    const { field, error } = fieldBox(name, input, label, prop.description);
    const f = { name, kind, input, read: custom?.read, error, field };
    f.before = updating ? valueOf(f) : undefined;
    fields.push(f);
    rows.push(field);
  }
  const button = h("button", { type: "submit" }, submit);
  const form = h(
    "form",
    { class: "card", novalidate: true },
    rows,
    formError,
    h("div", { class: "actions" }, button),
  );

  function read() {
    const body = {};
    for (const f of fields) {
      if (f.input.disabled) continue;
      let value = valueOf(f);
      if (updating && JSON.stringify(value) === JSON.stringify(f.before)) continue;
      if (value === undefined && updating) value = f.kind === "text" ? "" : null; // emptied
      if (value === undefined) continue;
      body[f.name] = value;
    }
    return body;
  }

  /** Where an error naming `field` of `f` is shown: the part of a caller's control that
   * names it, else the whole field. */
  function placeOf(f, field) {
    const parts = [...f.field.querySelectorAll(".field[data-field]")];
    const part = parts.find((p) => names(p.dataset.field, field));
    return part
      ? { box: part, line: part.querySelector(".field-error") }
      : { box: f.field, line: f.error };
  }

  function showErrors(error) {
    form.querySelectorAll(".field-error").forEach((line) => (line.textContent = ""));
    form.querySelectorAll(".field.invalid").forEach((box) => box.classList.remove("invalid"));
    formError.textContent = "";
    if (!error) return;
    const unplaced = [];
    for (const e of error.problem?.errors || []) {
      const f = fields.find((x) => names(x.name, e.field));
      if (!f) {
        unplaced.push(`${e.field}: ${e.message}`);
        continue;
      }
      const { box, line } = placeOf(f, e.field);
      // A value of a union (a time or "latest") fails once per choice: the first says it.
      if (!line.textContent) line.textContent = e.message;
      box.classList.add("invalid");
    }
    if (unplaced.length || !error.problem?.errors?.length) {
      formError.textContent = unplaced.length ? unplaced.join("; ") : error.message;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      await onSubmit(read());
      showErrors(null);
      // An update's values are the new baseline: the next one sends only what changes then.
      if (updating) fields.forEach((f) => (f.before = valueOf(f)));
      else form.reset();
    } catch (error) {
      showErrors(error);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

/** The names of a schema's secret properties: shown once, in a create's answer. */
export const secretNames = (schema) =>
  Object.entries(schema.properties || {})
    .filter(([, p]) => p["x-secret"])
    .map(([name]) => name);
