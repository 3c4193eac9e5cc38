"""A real browser for the console's tests: Debian's headless Chromium driven by Playwright.

``make test`` installs both (``scripts/ensure-system-deps.sh`` the ``chromium`` package,
the ``dev`` extra Playwright); Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from metapaas.testing import ControlPlane

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
WAIT_MS = 30_000
"""The bound of every wait in a page that is not on the orchestrator."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per module. Not per session: Playwright's sync API runs an event loop
    on the main thread while it is open, and a later test's ``asyncio.run`` would fail."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/ensure-system-deps.sh installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@contextlib.contextmanager
def console_tab(browser: Browser, url: str) -> Iterator[Page]:
    """A fresh browser tab (its own sessionStorage) on the console of the control plane at
    ``url``, not logged in. A script error on any page fails the test, and so does any
    error the browser logs (a refused Content-Security-Policy, say) but the failed requests
    the test makes on purpose."""
    # A browser trusts the CA its user installed; this one's store has none of ours, so
    # an https console (the ssh lab's, off loopback) is taken on trust here: the listener's
    # certificate is verified by the CLI's and the agents' tests.
    https = url.startswith("https://")
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, ignore_https_errors=https
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []

    def logged(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", logged)
    try:
        page.goto(f"{url}/ui/")
        yield page
    finally:
        context.close()
    assert errors == [], f"the console's scripts failed: {errors}"


@pytest.fixture
def console(browser: Browser, control_plane: ControlPlane) -> Iterator[Page]:
    """A :func:`console_tab` on the ``control_plane`` fixture's console."""
    with console_tab(browser, control_plane.url) as page:
        yield page


@pytest.fixture
def screenshot(request: pytest.FixtureRequest, console: Page) -> Callable[[str], None]:
    """``screenshot("step")`` saves the tab under test-artifacts/console/<test>-<step>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = request.node.name.replace("[", "-").rstrip("]")

    def take(step: str) -> None:
        console.screenshot(path=ARTIFACTS / f"{name}-{step}.png", full_page=True)

    return take


def log_in(page: Page, token: str) -> None:
    """Log in on the login page the console opens on, as a person does."""
    expect(page).to_have_url(re.compile(r"#/login$"))
    page.fill("#token", token)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("nav")).to_contain_text("Types")
