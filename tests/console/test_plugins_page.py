"""The console's Plugins page in a real browser: an admin installs a plugin wheel,
upgrades it and removes it again while the control plane serves."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from metapaas.testing import ControlPlane
from tests.console.conftest import log_in
from tests.runtime_plugins import project

pytestmark = pytest.mark.e2e

Screenshot = Callable[[str], None]
INSTALLED_MS = 180_000
"""pip resolves and installs the wheel, a probe migrates it, the server hands over to a
generation that loads it: the installer's pace, not the page's."""


@pytest.fixture(scope="module")
def hello_wheels(tmp_path_factory: pytest.TempPathFactory) -> project.Wheels:
    """The test plugin ``metapaas-hello`` (type ``hello``); versions 1 and 2 are used."""
    return project.shared_wheels(tmp_path_factory)


def test_an_admin_installs_upgrades_and_removes_a_plugin_and_sees_its_type(
    console: Page,
    control_plane: ControlPlane,
    hello_wheels: project.Wheels,
    screenshot: Screenshot,
) -> None:
    log_in(console, control_plane.token)
    console.click("nav >> text=Plugins")
    expect(console.locator("[data-plugin=metapaas-redis]")).to_contain_text("bundled")
    console.evaluate("window.stillTheSamePage = true")  # a reload would forget it

    console.fill("#field-sha256", "not-a-hash")
    console.get_by_role("button", name="Install").click()
    expect(console.locator("#install [data-error-for=package]")).to_have_text("Field required")
    expect(console.locator("#install [data-error-for=sha256]")).to_contain_text(
        "should match pattern"
    )
    console.fill("#field-sha256", "")
    console.fill("#field-package", str(hello_wheels["1"]))
    console.get_by_role("button", name="Install").click()
    hello = console.locator("[data-plugin=metapaas-hello]")
    expect(hello.locator("[data-status=ACTIVE]")).to_be_visible(timeout=INSTALLED_MS)
    expect(hello).to_contain_text("1.0.0")
    expect(hello).to_contain_text("no nodes")
    console.fill("#upgrade-metapaas-hello-package", "metapaas-other==1.0")
    hello.get_by_role("button", name="Upgrade").click()
    expect(hello.locator("[data-error-for=package]")).to_have_text(
        "must be a version of metapaas-hello, not another one"
    )
    screenshot("installed")
    hello.get_by_role("link", name="hello").click()
    expect(console.locator("h1")).to_contain_text("Hello")
    console.click("nav >> text=Types")
    expect(console.locator("main a[href='#/types/hello']")).to_be_visible()
    assert console.evaluate("window.stillTheSamePage") is True

    with control_plane.client() as client:
        created = client.post("/v1/types/hello/instances", json={"name": "hi"})
        assert created.status_code == 202, created.text
    console.click("nav >> text=Plugins")
    hello.locator("input[type=checkbox]").check()
    hello.get_by_role("button", name="Remove").click()
    console.fill("#confirm-input", "metapaas-hello")
    console.locator("#confirm-ok").click()
    expect(hello.locator(".notice")).to_contain_text("1 instance of hello exists")

    console.fill("#upgrade-metapaas-hello-package", str(hello_wheels["2"]))
    hello.get_by_role("button", name="Upgrade").click()
    expect(hello).to_contain_text("2.0.0", timeout=INSTALLED_MS)  # promoted, still loading
    expect(hello.locator("[data-status=ACTIVE]")).to_be_visible(timeout=INSTALLED_MS)
    expect(hello).to_contain_text("1 of 1 nodes on this version", timeout=INSTALLED_MS)
    screenshot("upgraded")

    control_plane.delete_all_instances(INSTALLED_MS / 1000)
    hello.get_by_role("button", name="Remove").click()
    confirm = console.locator("#confirm-ok")
    console.fill("#confirm-input", "metapaas-hell")
    expect(confirm).to_be_disabled()
    console.fill("#confirm-input", "metapaas-hello")
    confirm.click()
    expect(hello).to_have_count(0, timeout=INSTALLED_MS)
    with control_plane.client() as client:
        assert "hello" not in {t["slug"] for t in client.get("/v1/types/").json()["items"]}
        assert client.get("/v1/plugins/metapaas-hello").status_code == 404
    assert console.evaluate("window.stillTheSamePage") is True
