// The console's shell: navigation, the hash router and the page lifecycle. A page is a
// function (view, params, page) that fills `view`; `page.every` runs its live updates and
// `page.until` waits for something to happen (an operation to end), both stopping when the
// user leaves the page. Distributions add pages of their own (/ui/extensions.json lists
// them), loaded when first shown.

import { token } from "./api.js";
import { errorLine, fill, h } from "./dom.js";
import { currentUser, forgetUser, loadUser, logout } from "./session.js";
import { loginPage } from "./pages/login.js";
import { typePage, typesPage } from "./pages/types.js";
import { instancesPage, newInstancePage } from "./pages/instances.js";
import { instancePage } from "./pages/instance.js";
import { membersPage, projectsPage, tokensPage, usersPage } from "./pages/admin.js";
import { pluginsPage } from "./pages/plugins.js";

/** The navigation bar, in order; a new page adds a line here and a route below. */
const NAV = [
  { href: "#/types", label: "Types" },
  { href: "#/instances", label: "Instances" },
  { href: "#/projects", label: "Projects", admin: true },
  { href: "#/users", label: "Users", admin: true },
  { href: "#/plugins", label: "Plugins", admin: true },
  { href: "#/tokens/me", label: "My tokens" },
];

const ROUTES = [
  [/^#\/login$/, loginPage],
  [/^#\/types$/, typesPage],
  [/^#\/types\/([^/]+)$/, typePage],
  [/^#\/types\/([^/]+)\/new$/, newInstancePage],
  [/^#\/types\/([^/]+)\/instances\/([^/]+)$/, instancePage],
  [/^#\/instances(?:\/([^/]+))?$/, instancesPage],
  [/^#\/projects$/, projectsPage],
  [/^#\/projects\/([^/]+)\/members$/, membersPage],
  [/^#\/users$/, usersPage],
  [/^#\/tokens\/([^/]+)$/, tokensPage],
  [/^#\/plugins$/, pluginsPage],
];

/** The distributions' pages: each a nav entry before "My tokens" and a route of its own,
 * whose module is imported the first time the page is shown. */
const extended = fetch("extensions.json")
  .then((answer) => answer.json())
  .then(({ pages }) => {
    for (const page of pages) {
      const item = { href: `#/${page.route}`, label: page.label, admin: page.admin };
      NAV.splice(NAV.length - 1, 0, item);
      const render = async (...args) => (await import(page.module)).default(...args);
      ROUTES.push([new RegExp(`^#\\/${page.route}(?:\\/(.+))?$`), render]);
    }
  })
  .catch((error) => console.warn("the distributions' pages are not available:", error));

const POLL_SECONDS = 2;
let current = null; // the page shown: its timers stop when another is shown

/** A page's handle on its own lifetime. */
class Page {
  constructor() {
    this.timers = new Set();
    this.gone = false;
  }

  /** Run `update` now and every POLL_SECONDS after it finished, while the page is shown. */
  every(update) {
    const tick = async () => {
      if (this.gone) return;
      try {
        await update();
      } catch (error) {
        console.warn("live update failed:", error);
      }
      if (!this.gone) this.timers.add(setTimeout(tick, POLL_SECONDS * 1000));
    };
    return tick();
  }

  /** Ask `check` now and every POLL_SECONDS after it answered, while the page is shown,
   * until it answers true (an operation ended, say); resolves whether it did. */
  async until(check) {
    while (!this.gone) {
      if (await check()) return true;
      // Not among `timers`: a page left ends the wait within one poll, with false.
      await new Promise((resolve) => setTimeout(resolve, POLL_SECONDS * 1000));
    }
    return false;
  }

  leave() {
    this.gone = true;
    this.timers.forEach(clearTimeout);
  }
}

function renderNav() {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  const me = currentUser();
  if (!me) {
    fill(nav);
    fill(who);
    return;
  }
  const links = NAV.filter((item) => !item.admin || me.is_admin).map((item) =>
    h(
      "a",
      { href: item.href, class: location.hash.startsWith(item.href) ? "active" : null },
      item.label,
    ),
  );
  fill(nav, links);
  fill(
    who,
    `signed in as ${me.name}`,
    h("button", { class: "secondary", onclick: logout }, "Log out"),
  );
}

async function route() {
  current?.leave();
  current = new Page();
  await extended;
  const view = document.getElementById("view");
  if (!token.get() && location.hash !== "#/login") {
    location.hash = "#/login";
    return;
  }
  if (token.get() && !currentUser()) {
    try {
      await loadUser();
    } catch (error) {
      if (error.status !== 401) fill(view, errorLine(error)); // a 401 goes to the login page
      return;
    }
  }
  renderNav();
  const hash = location.hash || "#/types";
  for (const [pattern, render] of ROUTES) {
    const match = hash.match(pattern);
    if (!match) continue;
    // Each page renders into a box of its own: a page left while it still loads (its
    // requests answer after the next page is shown) fills a box no longer on screen.
    const box = h("div", {}, h("p", { class: "muted" }, "Loading…"));
    fill(view, box);
    const params = match.slice(1).map((p) => p && decodeURIComponent(p)); // unmatched: undefined
    try {
      await render(box, params, current);
    } catch (error) {
      fill(box, errorLine(error));
    }
    return;
  }
  fill(
    view,
    h("h1", {}, "Not found"),
    h("p", {}, h("a", { href: "#/types" }, "Back to the types")),
  );
}

window.addEventListener("metapaas:unauthorized", () => {
  forgetUser();
  if (location.hash !== "#/login") location.hash = "#/login";
});
window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);
