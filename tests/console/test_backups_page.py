"""An instance's backups in the console, on a control plane whose nodes are simulated
(:mod:`tests.console.simulated`): the policy's form, the catalogue after "Back up now",
the recovery window's time line, a restore from the form that lands on the new instance,
a point outside the window refused on the time input, and no section for a type that
keeps no backups."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from metapaas.db import models
from metapaas.plugins import Registry
from metapaas.testing import InProcessControlPlane
from metapaas.testing.agents import Answer
from metapaas.testing.inprocess import in_process
from tests import sample_plugins
from tests.console.conftest import console_tab, log_in
from tests.console.simulated import keeping_time, served

Screenshot = Callable[[str], None]
WIDGETS = "/v1/types/widgets/instances"
WIDGET_NAMES = ("shop-db", "stock-db", "lost-db")
POLICY = {"repository": "local", "schedule": "0 3 * * *", "retention": {"count": 2}}


@dataclass(frozen=True)
class Plane:
    api: InProcessControlPlane
    url: str

    def page_of(self, slug: str, name: str) -> str:
        """The console's address of the instance ``name``'s page."""
        found = self.api.get(f"/v1/types/{slug}/instances/{name}")
        return f"{self.url}/ui/#/types/{slug}/instances/{found.json()['id']}"


def backup_step(clock: Callable[[], datetime], refused: str) -> Answer:
    """A backup step that made a full backup of 3 MiB, ending now on ``clock``; on the
    nodes of the instance whose id is ``refused``, the repository is gone."""

    def answer(node: str, command: dict[str, Any]) -> dict[str, Any]:
        if node.startswith(refused.replace("-", "")):  # the orchestrator's node names
            return {"state": "failed", "exit_code": 28, "output": "ERROR: repository is gone"}
        now = clock()
        report = {
            "label": f"{command['args']['backup'][:8]}F",
            "kind": command["args"]["kind"],
            "started_at": (now - timedelta(seconds=2)).isoformat(),
            "finished_at": now.isoformat(),
            "size_bytes": 3 * 1024 * 1024,
            "objects": {"data.tar": "ab" * 32},
            "position": {},
        }
        return {"state": "succeeded", "exit_code": 0, "output": "", "result": report}

    return answer


def verified(node: str, command: dict[str, Any]) -> dict[str, Any]:
    """A drill's check that found the backup's objects as ``backup_step`` stored them."""
    report = {"objects": {"data.tar": "ab" * 32}, "check": "restored whole"}
    return {"state": "succeeded", "exit_code": 0, "output": "", "result": report}


@pytest.fixture(scope="module")
def plane(
    tmp_path_factory: pytest.TempPathFactory, e2e_module_database_url: str
) -> Iterator[Plane]:
    """The widgets instances ``shop-db`` (no backup policy yet), ``stock-db`` (a policy
    archiving the log, no backup yet) and ``lost-db`` (a policy, its backups refused)
    serving, and the demo instance ``web``."""
    home = tmp_path_factory.mktemp("backups-page")
    registry = Registry.discover(found=[sample_plugins.demo_entry_point(), sample_plugins.WIDGETS])
    with in_process(e2e_module_database_url, home / "home", registry) as api:
        local = {"name": "local", "kind": "filesystem", "path": str(home / "repository")}
        assert api.post("/v1/backup-repositories", json=local).status_code == 201
        ids = {name: api.create_instance(name, slug="widgets")["id"] for name in WIDGET_NAMES}
        for instance_id in ids.values():
            api.converge("widgets", instance_id)
        clock = api.simulation.clock
        api.simulation.agents.answers["backup"] = backup_step(clock, refused=ids["lost-db"])
        api.simulation.agents.answers["verify"] = verified
        archived = {**POLICY, "continuous": True}
        assert api.put(f"{WIDGETS}/stock-db/backup-policy", json=archived).status_code == 200
        assert api.put(f"{WIDGETS}/lost-db/backup-policy", json=POLICY).status_code == 200
        api.create_instance("web")
        with served(api.client.app) as url, keeping_time(api.simulation):
            yield Plane(api, url)


@pytest.fixture
def console(browser: Browser, plane: Plane) -> Iterator[Page]:
    """A tab on the plane's console, signed in as its admin."""
    with console_tab(browser, plane.url) as page:
        log_in(page, plane.api.admin_token)
        yield page


def restored_from(api: InProcessControlPlane, name: str) -> str:
    """The id of the backup the widgets instance ``name`` was restored from."""
    instance_id = api.get(f"{WIDGETS}/{name}").json()["id"]
    with api.session() as session:
        restore = session.scalars(
            select(models.Restore).where(models.Restore.instance_id == instance_id)
        ).one()
        return restore.backup_id


def test_a_policy_saved_and_a_backup_taken_now_are_shown_and_it_restores_into_a_copy(
    console: Page, plane: Plane, screenshot: Screenshot
) -> None:
    console.goto(plane.page_of("widgets", "shop-db"))
    policy = console.locator("#backup-policy")
    expect(policy).to_contain_text("No policy yet")
    expect(console.locator("#settings-restore")).to_have_count(0)  # restoring is a create
    console.get_by_role("button", name="Back up now").click()
    expect(console.locator("#backup-notice")).to_contain_text("no backup policy")

    console.select_option("#policy-repository", "local")
    console.fill("#policy-schedule", "0 3 * * *")
    console.fill("#policy-retention-count", "0")
    console.get_by_role("button", name="Save policy").click()
    count_error = console.locator('[data-error-for="retention.count"]')  # a part of a field
    expect(count_error).to_contain_text("greater than or equal to 1")
    console.fill("#policy-retention-count", "2")
    console.fill("#policy-schedule", "every night")
    console.get_by_role("button", name="Save policy").click()
    expect(console.locator("[data-error-for=schedule]")).to_contain_text("not a cron schedule")
    expect(count_error).to_be_empty()
    console.fill("#policy-schedule", "0 3 * * *")
    console.check("#policy-continuous")
    console.get_by_role("button", name="Save policy").click()
    expect(policy.locator("dl")).to_contain_text("2 full backups")

    console.get_by_role("button", name="Back up now").click()
    newest = console.locator("#backup-list tbody tr").first
    expect(newest).to_contain_text(re.compile("COMPLETED|VERIFIED"))  # its drill follows
    expect(newest).to_contain_text("3.0 MiB")
    expect(console.locator("#backup-notice")).to_be_empty()
    [backup] = plane.api.get(f"{WIDGETS}/shop-db/backups").json()["items"]
    line = console.locator("#recovery-window")
    expect(line.locator(f".tick[data-backup='{backup['id']}']")).to_have_count(1)
    expect(line.locator(".window")).to_have_count(1)  # the log is archived: a point in time
    expect(line.locator(".lag")).to_contain_text("behind now")
    screenshot("backed-up")

    console.fill("#copy-name", "shop-copy")
    console.check("#copy-choice-backup")
    console.select_option("#copy-backup", backup["id"])
    console.get_by_role("button", name="Restore", exact=True).click()
    expect(console.locator("h1")).to_contain_text("shop-copy")
    copy = plane.api.get(f"{WIDGETS}/shop-copy").json()
    expect(console).to_have_url(re.compile(f"#/types/widgets/instances/{copy['id']}$"))
    assert restored_from(plane.api, "shop-copy") == backup["id"]


def test_a_failed_backup_says_why_in_the_table_and_below_the_button(
    console: Page, plane: Plane
) -> None:
    console.goto(plane.page_of("widgets", "lost-db"))
    console.get_by_role("button", name="Back up now").click()
    expect(console.locator("#backup-notice")).to_contain_text("The backup failed")
    failed = console.locator("#backup-list tbody tr").first
    expect(failed.locator("[data-status=FAILED]")).to_be_visible()
    expect(failed).to_contain_text("repository is gone")
    expect(console.locator("#recovery-window")).to_have_text("Nothing to restore yet.")


def test_a_point_outside_the_recovery_window_is_refused_on_the_time_input(
    console: Page, plane: Plane, screenshot: Screenshot
) -> None:
    console.goto(plane.page_of("widgets", "stock-db"))
    console.fill("#copy-name", "too-early")
    console.check("#copy-choice-point")
    console.fill("#copy-point_in_time", "2001-01-01T00:00:00")
    console.get_by_role("button", name="Restore", exact=True).click()
    time_part = console.locator('[data-field="restore.point_in_time"]')
    expect(time_part.locator(".field-error")).to_contain_text("outside the recovery window")
    expect(time_part).to_have_class(re.compile(r"\binvalid\b"))
    screenshot("outside-the-window")
    assert plane.api.get(f"{WIDGETS}/too-early").status_code == 404


def test_a_type_that_keeps_no_backups_has_no_backups_section(console: Page, plane: Plane) -> None:
    console.goto(plane.page_of("demo", "web"))
    expect(console.locator("h2", has_text="Settings")).to_be_visible()
    expect(console.locator("#instance-status .badge")).to_be_visible()  # the page is drawn
    expect(console.locator("#backups")).to_have_count(0)
