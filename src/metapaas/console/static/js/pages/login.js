// Log in with an API token: it is checked against GET /v1/users/me and kept in this tab only.

import { token } from "../api.js";
import { fill, h } from "../dom.js";
import { signedIn } from "../session.js";

export async function loginPage(view) {
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "off",
    required: true,
  });
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h(
    "form",
    { class: "card", novalidate: true },
    h(
      "div",
      { class: "field" },
      h("label", { for: "token" }, "API token"),
      input,
      h(
        "span",
        { class: "help" },
        "`make run` writes the admin's to .metapaas/admin.token. It is kept in this browser tab only.",
      ),
    ),
    error,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Log in")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    token.set(input.value.trim());
    try {
      await signedIn();
    } catch (failure) {
      token.clear();
      error.textContent = failure.status === 401 ? "This token is not valid." : failure.message;
    }
  });
  fill(view, h("h1", {}, "Log in"), form);
  input.focus();
}
