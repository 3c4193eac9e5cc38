"""Backups the control plane runs by itself, on simulated nodes and a fake clock: the
schedule starts them when due, a run missed is said, retention expires what the policy
lets go (and never the last restorable chain), users delete what no later point needs,
and an instance whose backups cannot keep their promise is ``DEGRADED`` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from metapaas import providers
from metapaas.db import models
from metapaas.orchestrator import backups
from metapaas.testing import InProcessControlPlane
from tests.test_backups_api import PG, active_widgets, refused, repository, take_backup

__all__ = ["repository"]  # the fixture, shared with the API's backup tests

HOURLY = {"repository": "local", "schedule": "0 * * * *", "retention": {"count": 2}}
Answer = Callable[[str, dict[str, Any]], dict[str, Any]]


def made_on(api: InProcessControlPlane) -> Answer:
    """A backup step that made a full backup, at the simulation's time."""

    def backed_up(node: str, command: dict[str, Any]) -> dict[str, Any]:
        now = api.simulation.clock()
        report = {
            "label": command["args"]["backup"],
            "kind": command["args"]["kind"],
            "started_at": (now - timedelta(seconds=2)).isoformat(),
            "finished_at": now.isoformat(),
            "size_bytes": 1024,
            "objects": objects_of(command["args"]["backup"]),
        }
        return {"state": "succeeded", "exit_code": 0, "output": "", "result": report}

    return backed_up


def objects_of(backup_id: str) -> dict[str, str]:
    return {f"{backup_id}/dump.rdb": "cd" * 32}


def verified(node: str, command: dict[str, Any]) -> dict[str, Any]:
    """A drill's check that passed, finding the objects as ``made_on`` stored them."""
    report = {"objects": objects_of(command["args"]["backup"]), "check": "12 keys, as dumped"}
    return {"state": "succeeded", "exit_code": 0, "output": "", "result": report}


def expiring(into: list[str]) -> Answer:
    def expire(node: str, command: dict[str, Any]) -> dict[str, Any]:
        into.append(command["args"]["label"])
        return {"state": "succeeded", "exit_code": 0, "output": ""}

    return expire


def scheduled(api: InProcessControlPlane, policy: dict[str, Any] = HOURLY) -> datetime:
    """``shop-db`` serving with ``policy``; returns its first scheduled run."""
    active_widgets(api)
    assert api.put(f"{PG}/shop-db/backup-policy", json=policy).status_code == 200
    api.simulation.agents.answers["backup"] = made_on(api)
    api.simulation.agents.answers["verify"] = verified
    return datetime.fromisoformat(api.get(f"{PG}/shop-db/backup-policy").json()["next_backup_at"])


def run_until(api: InProcessControlPlane, moment: datetime) -> None:
    """Move the clock to ``moment`` and let everything due there run to its end."""
    api.simulation.clock.now = moment
    api.simulation.settle(lambda: not _under_way(api), "backups and expiries ended")


def _under_way(api: InProcessControlPlane) -> bool:
    """Whether a backup operation is open or a pass is queued (one follows every step
    under way)."""
    with api.state.readers() as session:
        ops = select(models.Operation.id).where(
            models.Operation.kind.in_(backups.KINDS),
            models.Operation.state.in_(models.OPEN_OPERATIONS),
        )
        return bool(
            session.scalar(ops.limit(1))
            or session.scalar(select(models.WorkItem.instance_id).limit(1))
        )


def listed(api: InProcessControlPlane) -> list[dict[str, Any]]:
    return list(api.get(f"{PG}/shop-db/backups").json()["items"])


def events(api: InProcessControlPlane, kind: str) -> list[str]:
    found = api.get(f"{PG}/shop-db/events", params={"limit": 200}).json()["items"]
    return [e["message"] for e in found if e["kind"] == kind]


def status(api: InProcessControlPlane) -> tuple[str, str]:
    shown = api.get(f"{PG}/shop-db").json()
    return shown["status"], shown["status_reason"]


def test_a_scheduled_backup_runs_when_due_and_retention_keeps_exactly_the_newest_two(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    first = scheduled(api)
    expired: list[str] = []
    api.simulation.agents.answers["expire"] = expiring(expired)
    run_until(api, first - timedelta(minutes=1))
    assert listed(api) == []  # not due yet
    made: list[str] = []
    for hour in range(4):
        run_until(api, first + timedelta(hours=hour, seconds=30))
        made += [b["id"] for b in listed(api) if b["id"] not in made]
        assert len(listed(api)) == min(hour + 1, 2)
    assert [b["id"] for b in listed(api)] == made[:1:-1]  # the newest two, newest first
    assert expired == made[:2]
    next_run = api.get(f"{PG}/shop-db/backup-policy").json()["next_backup_at"]
    assert datetime.fromisoformat(next_run) == first + timedelta(hours=4)
    assert events(api, "backup_missed") == []
    assert status(api) == ("ACTIVE", "")


def test_runs_missed_while_the_control_plane_was_down_are_said_and_one_backup_runs(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    first = scheduled(api)
    run_until(api, first + timedelta(hours=4, minutes=10))  # nothing ran in between
    assert len(listed(api)) == 1
    (missed,) = events(api, "backup_missed")
    assert f"{first:%Y-%m-%dT%H:%M:%SZ} and 4 later run(s) did not run at its time" in missed


def test_a_user_deletes_a_backup_no_later_point_needs_and_not_the_newest(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    scheduled(api, {**HOURLY, "retention": {"count": 5}})
    older, newest = take_backup(api), take_backup(api)
    refused_ = api.delete(f"{PG}/shop-db/backups/{newest['id']}")
    assert refused_.status_code == 409
    assert "newest full backup" in refused_.json()["detail"]
    expired: list[str] = []
    api.simulation.agents.answers["expire"] = expiring(expired)
    accepted = api.delete(f"{PG}/shop-db/backups/{older['id']}")
    assert accepted.status_code == 202, accepted.text
    op_id = accepted.json()["operation"]["id"]
    api.simulation.settle(
        lambda: api.get(f"/v1/operations/{op_id}").json()["state"] == "SUCCEEDED", "deleted"
    )
    assert expired == [older["label"]]
    assert [b["id"] for b in listed(api)] == [newest["id"]]
    assert api.get(f"{PG}/shop-db/backups/{older['id']}").status_code == 404
    assert api.delete(f"{PG}/shop-db/backups/{older['id']}").status_code == 404


def test_a_deletion_whose_expiry_fails_fails_and_keeps_the_backup_listed(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    scheduled(api, {**HOURLY, "retention": {"count": 5}})
    older, _newest = take_backup(api), take_backup(api)
    api.simulation.agents.answers["expire"] = refused
    op_id = api.delete(f"{PG}/shop-db/backups/{older['id']}").json()["operation"]["id"]
    api.simulation.settle(
        lambda: api.get(f"/v1/operations/{op_id}").json()["state"] == "FAILED", "failed"
    )
    assert "repository is gone" in api.get(f"/v1/operations/{op_id}").json()["error"]
    kept = api.get(f"{PG}/shop-db/backups/{older['id']}").json()
    assert kept["state"] == "VERIFIED"  # its drill after it was taken
    assert kept["reason"].startswith("expiry failed")


def test_backups_that_stop_completing_turn_the_instance_degraded_until_one_does(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    first = scheduled(api)
    api.simulation.agents.answers["backup"] = refused
    run_until(api, first + timedelta(seconds=30))
    assert status(api) == ("ACTIVE", "")  # one failure is an event, not yet a risk
    run_until(api, first + timedelta(hours=2, seconds=30))
    state, reason = status(api)
    assert state == "DEGRADED"
    assert "no backup has completed since the policy was set" in reason
    assert "twice the schedule's interval (1:00:00)" in reason
    api.simulation.agents.answers["backup"] = made_on(api)
    run_until(api, first + timedelta(hours=3, seconds=30))
    assert status(api) == ("ACTIVE", "")


def test_a_repository_that_stops_answering_turns_the_instance_degraded_until_it_returns(
    api: InProcessControlPlane, repository: dict[str, Any], tmp_path: Path
) -> None:
    scheduled(api)
    (tmp_path / "repo").rename(tmp_path / "away")
    api.simulation.worker.check_repositories()
    api.simulation.run_queue()
    state, reason = status(api)
    assert (state, reason.split(":")[0]) == ("DEGRADED", "backup repository local fails its check")
    shown = api.get("/v1/backup-repositories/local").json()
    assert shown["state"] == "FAILING"
    (tmp_path / "away").rename(tmp_path / "repo")
    api.simulation.worker.check_repositories()
    api.simulation.run_queue()
    assert status(api) == ("ACTIVE", "")


def test_continuous_archiving_that_fails_turns_the_instance_degraded_until_it_archives(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    scheduled(api, {**HOURLY, "continuous": True})
    take_backup(api)
    shop_db = api.get(f"{PG}/shop-db").json()["id"]
    running = api.simulation.provider.running()
    (node,) = (n for n in running if n.spec.labels[providers.INSTANCE] == shop_db)
    now = api.simulation.clock()
    archives = api.simulation.agents.archives
    archives[node.spec.name] = {
        "archived_at": (now - timedelta(minutes=3)).isoformat(),
        "segment": "000000010000000000000003",
        "failed_at": now.isoformat(),
        "error": "archive-push: repository is gone",
    }
    api.simulation.settle(lambda: status(api)[0] == "DEGRADED", "degraded")
    assert "continuous archiving fails" in status(api)[1]
    assert "repository is gone" in status(api)[1]
    archives[node.spec.name] = {**archives[node.spec.name], "archived_at": now.isoformat()}
    api.simulation.clock.advance(1)
    archives[node.spec.name]["archived_at"] = api.simulation.clock().isoformat()
    api.simulation.settle(lambda: status(api)[0] == "ACTIVE", "active again")


def test_a_deleted_instances_backups_are_kept_for_its_retention_then_removed_whole(
    api: InProcessControlPlane, repository: dict[str, Any], tmp_path: Path
) -> None:
    scheduled(api, {**HOURLY, "retention": {"count": 2, "days": 3}})
    backup = take_backup(api)
    shop_db = api.get(f"{PG}/shop-db").json()["id"]
    stored = tmp_path / "repo" / shop_db / backup["id"]  # as the node's step would keep it
    stored.mkdir(parents=True)
    (stored / "dump.rdb").write_bytes(b"a snapshot")
    assert api.delete(f"{PG}/shop-db").status_code == 202
    api.simulation.settle(lambda: api.get(f"{PG}/shop-db").status_code == 404, "deleted")
    left = f"/v1/types/widgets/deleted-instances/{shop_db}/backups"
    assert [b["id"] for b in api.get(left).json()["items"]] == [backup["id"]]
    api.simulation.clock.advance(timedelta(days=3).total_seconds() - 60)
    api.simulation.worker.remove_deleted_backups()
    assert [b["id"] for b in api.get(left).json()["items"]] == [backup["id"]]  # still kept
    api.simulation.clock.advance(120)
    api.simulation.worker.remove_deleted_backups()
    assert api.get(left).json()["items"] == []
    assert not (tmp_path / "repo" / shop_db).exists()
    assert (tmp_path / "repo").is_dir()  # the repository stays, and others' backups in it
    with api.state.readers() as session:
        assert session.get(models.BackupPlace, shop_db) is None
