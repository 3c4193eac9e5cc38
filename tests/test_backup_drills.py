"""Drills on simulated nodes: a backup is verified by restoring it onto a scratch
instance no user sees, running the type's check there, and deleting it; what the drill
finds is the backup's state."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from metapaas.db import models
from metapaas.providers import INSTANCE
from metapaas.testing import InProcessControlPlane
from tests.test_backups_api import (
    OBJECTS,
    PG,
    POLICY,
    recording,
    refused,
    repository,
    take_backup,
    with_policy,
)

__all__ = ["repository"]  # the fixture, shared with the API's backup tests


def drilled(api: InProcessControlPlane, backup_id: str) -> dict[str, Any]:
    """The backup once its drill left no scratch instance behind."""
    api.simulation.settle(lambda: not _scratches(api, live=True), "the drill's scratch gone")
    return dict(api.get(f"{PG}/shop-db/backups/{backup_id}").json())


def _scratches(api: InProcessControlPlane, *, live: bool) -> list[models.Instance]:
    with api.state.readers() as session:
        found = select(models.Instance).where(models.Instance.drill_of.is_not(None))
        if live:
            found = found.where(models.Instance.status != models.InstanceStatus.DELETED)
        return list(session.scalars(found))


def drill_events(api: InProcessControlPlane, *kinds: str) -> list[tuple[str, str]]:
    found = api.get(f"{PG}/shop-db/events", params={"limit": 200}).json()["items"]
    kinds = kinds or ("drill", "backup_")
    return [(e["kind"], e["message"]) for e in found if e["kind"].startswith(kinds)]


def test_a_full_backup_is_drilled_on_a_scratch_instance_no_user_sees_and_verified(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    with_policy(api)
    restores: list[dict[str, Any]] = []
    checked: list[dict[str, Any]] = []

    def verify(node: str, command: dict[str, Any]) -> dict[str, Any]:
        checked.append(command["args"])
        names = [i["name"] for i in api.get(PG).json()["items"]]
        assert names == ["shop-db"], names  # the scratch instance serves, unseen
        report = {"objects": OBJECTS, "check": "12 rows in 1 table"}
        return {"state": "succeeded", "exit_code": 0, "output": "", "result": report}

    api.simulation.agents.answers["restore"] = recording(restores)
    api.simulation.agents.answers["verify"] = verify
    backup = take_backup(api)
    assert backup["state"] == "COMPLETED"  # the drill comes after
    (scratch,) = _scratches(api, live=True)
    assert api.get(f"{PG}/{scratch.name}").status_code == 404
    assert api.get(f"{PG}/{scratch.id}").status_code == 404
    done = drilled(api, backup["id"])
    assert restores == [{"label": backup["label"], "point_in_time": ""}]
    # The check is given what the backup step saw (redis compares its key count).
    assert checked == [{**backup["position"], "backup": backup["id"], "label": backup["label"]}]
    assert done["state"] == "VERIFIED", done
    assert done["verified_at"] is not None
    assert done["restore_seconds"] is not None
    assert done["restore_seconds"] > 0
    assert api.get(f"/v1/operations/{scratch.id}").json()["state"] == "SUCCEEDED"
    (gone,) = _scratches(api, live=False)
    assert gone.status == models.InstanceStatus.DELETED
    ours = {n.spec.labels.get("metapaas.io/instance") for n in api.simulation.provider.running()}
    assert scratch.id not in ours
    kinds = [kind for kind, _ in drill_events(api)]
    assert "drill_started" in kinds
    assert "backup_verified" in kinds


def test_a_drill_finding_an_object_changed_marks_the_backup_unrestorable_naming_it(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    with_policy(api)
    (key,) = OBJECTS

    def flipped(node: str, command: dict[str, Any]) -> dict[str, Any]:
        report = {"objects": {key: "ff" * 32}, "check": "restored"}
        return {"state": "succeeded", "exit_code": 0, "output": "", "result": report}

    api.simulation.agents.answers["verify"] = flipped
    backup = drilled(api, take_backup(api)["id"])
    assert backup["state"] == "UNRESTORABLE"
    assert f"object {key} changed since it was stored" in backup["reason"]
    assert any(kind == "backup_unrestorable" for kind, _ in drill_events(api))
    assert api.get(f"{PG}/shop-db").json()["status"] == "ACTIVE"


def test_a_drill_whose_restore_fails_marks_the_backup_unrestorable_with_the_failure(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    with_policy(api)
    api.simulation.agents.answers["restore"] = refused
    backup = drilled(api, take_backup(api)["id"])
    assert backup["state"] == "UNRESTORABLE"
    assert "its restore failed" in backup["reason"]
    assert "repository is gone" in backup["reason"]


def test_with_a_verify_schedule_drills_run_on_it_and_not_after_each_backup(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    with_policy(api, {**POLICY, "schedule": "0 3 1 1 *", "verify": "30 4 * * *"})  # yearly
    older, newer = take_backup(api), take_backup(api)
    api.simulation.round()
    assert _scratches(api, live=False) == []
    due = api.get(f"{PG}/shop-db/backup-policy").json()["next_verify_at"]
    api.simulation.clock.now = datetime.fromisoformat(due) + timedelta(seconds=5)
    assert drilled(api, newer["id"])["state"] == "VERIFIED"
    assert api.get(f"{PG}/shop-db/backups/{older['id']}").json()["state"] == "COMPLETED"
    next_due = api.get(f"{PG}/shop-db/backup-policy").json()["next_verify_at"]
    assert datetime.fromisoformat(next_due) == datetime.fromisoformat(due) + timedelta(days=1)


def test_a_node_whose_volume_was_lost_is_restored_from_the_latest_backup_before_it_serves(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    api.simulation.provider.place = "host-a"
    with_policy(api)
    backup = drilled(api, take_backup(api)["id"])
    restores: list[dict[str, Any]] = []
    api.simulation.agents.answers["restore"] = recording(restores)
    shop_db = api.get(f"{PG}/shop-db").json()["id"]
    (node,) = [n for n in api.simulation.provider.running() if n.spec.labels[INSTANCE] == shop_db]
    api.simulation.provider.place = "host-b"
    api.simulation.provider.lose(node.spec.name)
    api.simulation.settle(
        lambda: bool(restores) and api.get(f"{PG}/shop-db").json()["status"] == "ACTIVE",
        "restored and serving",
    )
    # Continuous archiving: the latest point, from the newest backup and the log after it.
    assert restores == [
        {"label": "", "point_in_time": "", "if_empty": "true", "backup": backup["id"]}
    ]
    moved = [message for _, message in drill_events(api, "node_moved")]
    assert len(moved) == 1
    restoring = "its new volume is restored before it serves, from backup"
    assert f"from host-a to host-b: {restoring} {backup['id']}" in moved[0]


def test_a_check_whose_report_is_no_verify_report_says_which_field_is_wrong(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    with_policy(api)
    del api.simulation.agents.answers["verify"]  # a check that reports nothing
    backup = drilled(api, take_backup(api)["id"])
    assert backup["state"] == "UNRESTORABLE"
    assert backup["reason"] == (
        "its check's report is not a verify report: objects: Field required"
    )
