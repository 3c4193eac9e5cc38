"""The web console in a real browser against a real control plane, as a person uses it."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect

from metapaas.testing import ControlPlane
from tests.console.conftest import log_in

pytestmark = pytest.mark.e2e

Screenshot = Callable[[str], None]
ACTIVE_MS = 120_000
"""Nodes start, register and report healthy: the orchestrator's pace, not the page's."""


def served(control_plane: ControlPlane, page: str) -> str:
    """What the demo instance's node answers at ``/<page>`` (its first endpoint)."""
    with control_plane.client() as client:
        [instance] = client.get("/v1/types/demo/instances").json()["items"]
    endpoint = next(iter(instance["endpoints"].values()))
    return httpx.get(f"http://{endpoint}/{page}", timeout=5).text


def test_a_wrong_token_is_refused_and_the_right_one_is_kept_in_the_tab_only(
    console: Page, control_plane: ControlPlane
) -> None:
    console.fill("#token", "not-a-token")
    console.get_by_role("button", name="Log in").click()
    expect(console.locator(".form-error")).to_have_text("This token is not valid.")
    log_in(console, control_plane.token)
    expect(console.locator("main")).to_contain_text("demo")
    assert console.evaluate("sessionStorage.getItem('metapaas.token')") == control_plane.token
    assert console.evaluate("localStorage.length") == 0, "the token outlives the tab"
    assert console.context.cookies() == []


def test_create_watch_add_a_page_and_delete_a_demo_instance(
    console: Page, control_plane: ControlPlane, screenshot: Screenshot
) -> None:
    log_in(console, control_plane.token)
    console.click("a[href='#/types/demo']")
    expect(console.locator("h1")).to_contain_text("Demo web service")
    console.click("text=Create instance")

    console.fill("#field-name", "hello")
    console.fill("#field-replicas", "9")
    console.get_by_role("button", name="Create", exact=True).click()
    expect(console.locator("[data-error-for=replicas]")).to_contain_text("less than or equal to 3")
    screenshot("field-error")

    console.fill("#field-replicas", "1")
    console.get_by_role("button", name="Create", exact=True).click()
    expect(console.locator("h1")).to_contain_text("hello")
    console.evaluate("window.stillTheSamePage = true")  # a reload would forget it
    expect(console.locator("#instance-status [data-status=ACTIVE]")).to_be_visible(
        timeout=ACTIVE_MS
    )
    assert console.evaluate("window.stillTheSamePage") is True
    expect(console.locator("[data-role=web] .node [data-status=healthy]")).to_have_count(1)
    expect(console.locator("#events li[data-kind=status_changed]").first).to_be_visible()

    console.fill("#add-pages-name", "about")
    console.fill("#add-pages-content", "a page about nothing")
    console.get_by_role("button", name="Add to pages").click()
    pages = console.locator("[data-collection=pages]")
    expect(pages).to_contain_text("a page about nothing")
    pages.get_by_role("button", name="Edit").click()
    console.fill("#edit-pages-content", "a page about something")
    console.get_by_role("button", name="Save").click()
    expect(pages).to_contain_text("a page about something")
    console.fill("#settings-message", "second words")
    console.get_by_role("button", name="Update").click()
    expect(console.locator("main section.card").first).to_contain_text(
        "4 applied of 4", timeout=ACTIVE_MS
    )  # created, a page added, the page changed, the message changed: each a generation
    assert served(control_plane, "about") == "a page about something"
    console.get_by_role("button", name="Show credentials").click()
    expect(console.locator("#credentials pre")).to_be_visible()
    screenshot("active")

    pages.get_by_role("button", name="Delete", exact=True).click()
    console.fill("#confirm-input", "about")
    console.locator("#confirm-ok").click()
    expect(pages).to_have_text("No pages yet.")

    console.get_by_role("button", name="Delete instance").click()
    confirm = console.locator("#confirm-ok")
    expect(confirm).to_be_disabled()
    console.fill("#confirm-input", "hell")
    console.press("#confirm-input", "Enter")
    expect(confirm).to_be_disabled()
    expect(console.locator("#confirm")).to_be_visible()
    console.fill("#confirm-input", "hello")
    console.press("#confirm-input", "Enter")
    expect(console.locator("#gone")).to_be_visible(timeout=ACTIVE_MS)
    with control_plane.client() as client:
        assert client.get("/v1/types/demo/instances").json()["items"] == []


def test_an_admin_makes_a_project_a_member_and_a_token_shown_once(
    console: Page, control_plane: ControlPlane, screenshot: Screenshot
) -> None:
    log_in(console, control_plane.token)
    console.click("nav >> text=Projects")
    console.fill("#field-name", "Team A")
    console.get_by_role("button", name="Create project").click()
    expect(console.locator("[data-error-for=name]")).to_contain_text("should match pattern")
    console.fill("#field-name", "team-a")
    console.get_by_role("button", name="Create project").click()
    expect(console.locator("main table")).to_contain_text("team-a")
    console.get_by_role("link", name="team-a").click()
    expect(console.locator("h1")).to_have_text("Instances")
    expect(console.locator("#field-project_id option:checked")).to_have_text("team-a")
    expect(console.locator("#instances")).to_have_text("No instance yet.")

    console.click("nav >> text=Users")
    console.fill("#field-name", "alice")
    console.select_option("#field-default_project_id", label="team-a")
    console.get_by_role("button", name="Create user").click()
    expect(console.locator("main table")).to_contain_text("team-a")
    console.click("nav >> text=Projects")
    console.locator("tr", has_text="team-a").get_by_role("link", name="Members").click()
    console.select_option("#field-user_id", label="alice")
    console.select_option("#field-role", "member")
    console.get_by_role("button", name="Give a role").click()
    expect(console.locator("main table tr", has_text="alice")).to_contain_text("member")

    console.click("nav >> text=Users")
    console.locator("tr", has_text="alice").get_by_role("link", name="Tokens").click()
    expect(console.locator("h1")).to_have_text("API tokens of alice")
    console.fill("#field-name", "laptop")
    console.get_by_role("button", name="Issue token").click()
    token = console.locator("#new-token code").inner_text()
    expect(console.locator("main table")).to_contain_text("laptop")
    screenshot("token-shown-once")
    console.reload()
    expect(console.locator("main table")).to_contain_text("laptop")
    expect(console.locator("main")).not_to_contain_text(token)

    console.get_by_role("button", name="Log out").click()
    log_in(console, token)
    expect(console.locator("#who")).to_contain_text("alice")
    expect(console.locator("nav")).not_to_contain_text("Users")


def test_every_types_create_form_has_a_control_per_field_and_shows_a_missing_name(
    console: Page, control_plane: ControlPlane
) -> None:
    log_in(console, control_plane.token)
    with control_plane.client() as client:
        listed = client.get("/v1/types/").json()["items"]
        types = [client.get(f"/v1/types/{t['slug']}/").json() for t in listed]
    assert {"demo", "redis", "postgres", "s3"} <= {t["slug"] for t in types}

    for type_ in types:
        console.goto(f"{control_plane.url}/ui/#/types/{type_['slug']}/new")
        expect(console.locator("h1")).to_have_text(f"New {type_['title']}")
        for field in type_["instance_schema"]["properties"]:
            expect(console.locator(f"#field-{field}")).to_be_visible()
        console.get_by_role("button", name="Create", exact=True).click()
        expect(console.locator("[data-error-for=name]")).to_have_text("Field required")
