"""The console's Hosts page in a real browser: an admin registers hosts, watches them
checked, drains, resumes and removes them, and follows a node to its instance.

The page is the ssh distribution's (served under ``/ui/ext/ssh/``, listed by
``/ui/extensions.json``). The module's tests share one lab of one host and one control plane
in its namespace, on one backend (the testing kit's ``e2e_module_database_url``), and run in
order: the first leaves no host behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hostlab import Served, key_pair, served, unavailable_reason
from playwright.sync_api import Browser, Page, expect

from metapaas.testing import ControlPlane, free_port
from tests.console.conftest import ARTIFACTS, console_tab, log_in

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason())),
]

Screenshot = Callable[[str], None]
READY_MS = 60_000
"""The first check of a real host: a session, its facts, a sweep with the runtime shipped."""
ACTIVE_MS = 180_000
"""A node is placed on a host over SSH, gets the runtime and starts: the pool's pace."""


def fill_register_form(page: Page, name: str, address: str, port: int, host_key: str) -> None:
    """The fields of a registration but the private key and the capacity."""
    page.fill("#field-name", name)
    page.fill("#field-address", address)
    page.fill("#field-port", str(port))
    page.fill("#field-host_key", host_key)


def confirm(page: Page, name: str, verb: str) -> None:
    expect(page.locator("#confirm-text")).to_contain_text(f"{verb} the host {name}?")
    ok = page.locator("#confirm-ok")
    expect(ok).to_have_text(verb)
    expect(ok).to_be_disabled()
    page.fill("#confirm-input", name)
    ok.click()


@pytest.fixture(scope="module")
def lab_and_plane(
    e2e_module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("ssh-console") / "home"
    with served(1, "mpuih", e2e_module_database_url, home) as shared:
        yield shared


@pytest.fixture
def control_plane(lab_and_plane: Served) -> ControlPlane:
    return lab_and_plane.plane


@pytest.fixture
def console(browser: Browser, control_plane: ControlPlane) -> Iterator[Page]:
    with console_tab(browser, control_plane.url) as page:
        yield page


@pytest.fixture
def screenshot(request: pytest.FixtureRequest, console: Page) -> Screenshot:
    """``screenshot("step")`` saves the tab under test-artifacts/console/<test>-<step>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = request.node.name.replace("[", "-").rstrip("]")
    return lambda step: console.screenshot(path=ARTIFACTS / f"{name}-{step}.png", full_page=True)


def test_an_admin_registers_drains_resumes_and_removes_a_host(
    console: Page, control_plane: ControlPlane, tmp_path: Path, screenshot: Screenshot
) -> None:
    login, host = key_pair(tmp_path, "login"), key_pair(tmp_path, "host")
    port = free_port()  # nothing listens there: the host is checked and found UNREACHABLE
    log_in(console, control_plane.token)
    console.click("nav >> text=Hosts")
    expect(console.locator("main")).to_contain_text("No host is registered.")
    console.evaluate("window.stillTheSamePage = true")  # a reload would forget it

    fill_register_form(console, "host1", "127.0.0.1", port, host.public)
    console.fill("#field-private_key", "not a key")
    console.get_by_role("button", name="Register").click()
    form = console.locator("#register")
    expect(form.locator("[data-error-for=private_key]")).to_contain_text("not a usable private key")
    expect(form.locator("[data-error-for=capacity]")).to_have_text("Field required")

    console.set_input_files("#field-private_key-file", login.private_file)
    expect(console.locator("#field-private_key")).to_have_value(login.private)
    console.fill("#field-capacity-nodes", "2")
    console.fill("#field-capacity-memory_mb", "1024")
    console.fill("#field-labels", "zone=a\nrack = r7")
    console.get_by_role("button", name="Register").click()
    row = console.locator("[data-host=host1]")
    expect(row.locator("[data-status=UNREACHABLE]")).to_be_visible()
    expect(row).to_contain_text("Connect call failed")
    expect(row).to_contain_text(f"root@127.0.0.1:{port}")
    expect(row).to_contain_text("rack=r7, zone=a")
    expect(row).not_to_contain_text("false")  # a value left out is not written out
    expect(row.locator("[data-gauge=nodes]")).to_have_text("0 of 2 nodes")
    expect(row.locator("[data-gauge=memory]")).to_have_text("0 of 1024 MB memory")
    expect(console.locator("#field-private_key")).to_have_value("")  # the form starts over
    screenshot("registered")

    fill_register_form(console, "host1", "127.0.0.1", port, host.public)
    console.fill("#field-private_key", login.private)
    console.fill("#field-capacity-nodes", "1")
    console.fill("#field-capacity-memory_mb", "512")
    console.get_by_role("button", name="Register").click()
    expect(form.locator(".form-error")).to_have_text("host host1 is registered already")

    row.get_by_role("button", name="Drain").click()
    confirm(console, "host1", "Drain")
    expect(row.locator("[data-status=DRAINING]")).to_be_visible()
    row.get_by_role("button", name="Resume").click()
    expect(row.get_by_role("button", name="Drain")).to_be_visible()
    expect(row.locator("[data-status=DRAINING]")).to_have_count(0)
    with control_plane.client() as api:
        assert api.get("/v1/hosts/host1").json()["draining"] is False

    row.get_by_role("button", name="Remove").click()
    confirm(console, "host1", "Remove")
    expect(row).to_have_count(0)
    expect(console.locator("main")).to_contain_text("No host is registered.")
    with control_plane.client() as api:
        assert api.get("/v1/hosts/host1").status_code == 404
    assert console.evaluate("window.stillTheSamePage") is True


def test_a_hosts_nodes_link_to_their_instance_and_keep_it_from_being_removed(
    browser: Browser, lab_and_plane: Served
) -> None:
    """A real host (a network namespace with its own sshd) runs a demo node."""
    lab, plane = lab_and_plane.lab, lab_and_plane.plane
    with console_tab(browser, plane.url) as page:
        [host] = lab.hosts
        log_in(page, plane.token)
        page.click("nav >> text=Hosts")
        fill_register_form(page, host.name, host.address, host.port, host.host_key)
        page.fill("#field-private_key", host.private_key)  # pasted this time
        page.fill("#field-capacity-nodes", "2")
        page.fill("#field-capacity-memory_mb", "2048")
        page.get_by_role("button", name="Register").click()
        row = page.locator(f"[data-host={host.name}]")
        expect(row.locator("[data-status=READY]")).to_be_visible(timeout=READY_MS)

        with plane.client() as api:
            plane.create_instance(api, "demo", {"name": "web"}, timeout=ACTIVE_MS / 1000)
        expect(row.locator("[data-gauge=nodes]")).to_have_text("1 of 2 nodes")
        expect(row.locator("[data-node]")).to_contain_text("demo")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / "hosts-page-with-a-node.png", full_page=True)

        row.locator("[data-node] a").click()
        expect(page.locator("h1")).to_contain_text("web")
        expect(page.locator("#instance-status [data-status=ACTIVE]")).to_be_visible()
        expect(page.locator("[data-role=web] .host")).to_contain_text(host.address)

        page.click("nav >> text=Hosts")
        row.get_by_role("button", name="Remove").click()
        confirm(page, host.name, "Remove")
        expect(row.locator(".notice")).to_contain_text(f"host {host.name} holds 1 node(s)")
        expect(row).to_have_count(1)
