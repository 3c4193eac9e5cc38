"""Crash at every step of the backup operations: a backup with its drill and the expiry
it lets go, a scheduled backup, a user's deletion, a restore into a new instance. Each
runs once to find its crash points (the orchestrator's commits, its provider calls),
then once per point, the orchestrator stopped dead there and started again; the end
state is checked as for the orchestrator's other operations (``test_crash_points``),
and each scenario's outcome happened exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from metapaas.db import models
from tests.orchestrator.rig import Rig
from tests.orchestrator.test_crash_points import (
    Prepared,
    crash_at_every_point,
    dead_worker_id,
    prepare,
    restore,
    run,
)

__all__ = ["dead_worker_id", "prepare", "restore"]  # the harness's fixtures

WIDGETS = "/v1/types/widgets/instances"
KEEP_ONE = {"repository": "local", "schedule": "0 3 * * *", "retention": {"count": 1}}
KEEP_FIVE = {**KEEP_ONE, "retention": {"count": 5}}
DRILLS_YEARLY = {**KEEP_FIVE, "verify": "0 4 1 1 *"}  # no drill after each backup


def _answers(rig: Rig) -> None:
    """The widgets nodes make, check, expire and restore backups, at the rig's time."""

    def backed_up(node: str, command: dict[str, Any]) -> dict[str, Any]:
        backup, now = command["args"]["backup"], rig.clock()
        report = {
            "label": backup,
            "kind": command["args"]["kind"],
            "started_at": (now - timedelta(seconds=1)).isoformat(),
            "finished_at": now.isoformat(),
            "size_bytes": 10,
            "objects": {f"{backup}/dump": "ab" * 32},
        }
        return {"state": "succeeded", "exit_code": 0, "output": "", "result": report}

    def verified(node: str, command: dict[str, Any]) -> dict[str, Any]:
        report = {"objects": {f"{command['args']['backup']}/dump": "ab" * 32}}
        return {"state": "succeeded", "exit_code": 0, "output": "", "result": report}

    rig.agents.answers |= {"backup": backed_up, "verify": verified}


def _with_backups(policy: dict[str, Any], count: int) -> Callable[[Rig], str]:
    def prepare_(rig: Rig) -> str:
        rig.api.post(
            "/v1/backup-repositories",
            json={
                "name": "local",
                "kind": "filesystem",
                "path": str(rig.state.settings.home / "backups"),
            },
        )
        instance_id = rig.create("widgets", "w1")
        rig.settle_status(instance_id, "ACTIVE")
        assert rig.api.put(f"{WIDGETS}/w1/backup-policy", json=policy).status_code == 200
        _answers(rig)
        for _ in range(count):
            _take(rig, instance_id)
        return instance_id

    return prepare_


def _take(rig: Rig, instance_id: str) -> str:
    started = rig.api.post(f"{WIDGETS}/{instance_id}/backups", json={})
    assert started.status_code == 202, started.text
    rig.settle(lambda: _settled(rig), "the backup and its drill ended")
    return str(started.json()["backup_id"])


def _settled(rig: Rig) -> bool:
    """No operation open and no drill's scratch instance left."""
    open_ops = [op for op in rig.rows(models.Operation) if op.state in models.OPEN_OPERATIONS]
    scratch = [i for i in rig.rows(models.Instance) if i.drill_of and i.status != "DELETED"]
    return not open_ops and not scratch


def _backups(rig: Rig, instance_id: str) -> list[models.Backup]:
    return sorted(rig.rows(models.Backup, instance_id=instance_id), key=lambda b: b.started_at)


# -- scenarios ----------------------------------------------------------------------


def _back_up(rig: Rig, instance_id: str) -> str:
    assert rig.api.post(f"{WIDGETS}/{instance_id}/backups", json={}).status_code == 202
    return instance_id


def _after_backup(rig: Rig, instance_id: str) -> None:
    """One new backup, drilled; the one before it expired (retention keeps one)."""
    (kept,) = _backups(rig, instance_id)
    assert kept.state == models.BackupState.VERIFIED, (kept.state, kept.reason)
    assert rig.instance(instance_id).status == "ACTIVE"


def _when_due(rig: Rig, instance_id: str) -> str:
    with rig.api.session() as session:
        policy = session.get_one(models.BackupPolicy, instance_id)
        due: datetime = policy.next_backup_at or rig.clock()
    rig.clock.now = due + timedelta(seconds=1)
    return instance_id


def _after_scheduled(rig: Rig, instance_id: str) -> None:
    """Exactly one scheduled backup ran, and the next one is a day later."""
    completed = models.BackupState.COMPLETED
    ops = [op for op in rig.rows(models.Operation, instance_id=instance_id) if op.kind == "backup"]
    ops.sort(key=lambda op: op.created_at)
    assert [op.params.get("scheduled") for op in ops] == [None, True]
    assert [b.state for b in _backups(rig, instance_id)] == [completed] * 2
    with rig.api.session() as session:
        policy = session.get_one(models.BackupPolicy, instance_id)
        assert policy.next_backup_at is not None
        assert policy.next_backup_at > rig.clock() + timedelta(hours=22)


def _delete_older(rig: Rig, instance_id: str) -> str:
    older = _backups(rig, instance_id)[0]
    assert rig.api.delete(f"{WIDGETS}/{instance_id}/backups/{older.id}").status_code == 202
    return instance_id


def _after_deletion(rig: Rig, instance_id: str) -> None:
    assert len(_backups(rig, instance_id)) == 1


def _restore_copy(rig: Rig, instance_id: str) -> str:
    project = rig.instance(instance_id).project_id
    made = rig.api.create_instance("w2", slug="widgets", restore={"from": f"{project}/w1"})
    return str(made["id"])


def _after_restore(rig: Rig, instance_id: str) -> None:
    """The copy serves, restored once, from the source's backup."""
    restores = rig.rows(models.NodeCommand, instance_id=instance_id, name="restore")
    assert len(restores) == 1
    assert restores[0].state == models.CommandState.SUCCEEDED
    assert rig.instance(instance_id).status == "ACTIVE"


def _converged_when_settled(rig: Rig, _instance_id: str) -> bool:
    return _settled(rig)


def _copy_serves(rig: Rig, instance_id: str) -> bool:
    return rig.instance(instance_id).status == "ACTIVE" and _settled(rig)


@dataclass(frozen=True)
class BackupScenario:
    prepare: Callable[[Rig], str]
    act: Callable[[Rig, str], str]
    converged: Callable[[Rig, str], bool]
    check: Callable[[Rig, str], None]


SCENARIOS = {
    "a backup, its drill and the expiry it lets go": BackupScenario(
        _with_backups(KEEP_ONE, 1), _back_up, _converged_when_settled, _after_backup
    ),
    "a scheduled backup": BackupScenario(
        _with_backups(DRILLS_YEARLY, 1), _when_due, _converged_when_settled, _after_scheduled
    ),
    "a user's deletion of a backup": BackupScenario(
        _with_backups(KEEP_FIVE, 2), _delete_older, _converged_when_settled, _after_deletion
    ),
    "a restore into a new instance": BackupScenario(
        _with_backups(KEEP_FIVE, 1), _restore_copy, _copy_serves, _after_restore
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_a_crash_at_any_step_of_a_backup_operation_converges(
    prepare: Callable[[BackupScenario], Prepared],
    restore: Callable[[Prepared], Rig],
    dead_worker_id: str,
    scenario: BackupScenario,
) -> None:
    prepared = prepare(scenario)

    def run_once(crash_at: int | None) -> list[str]:
        rig = restore(prepared)
        points = run(
            rig,
            lambda: scenario.act(rig, prepared.instance_id),
            lambda found: scenario.converged(rig, found),
            lambda found: scenario.check(rig, found),
            crash_at,
            dead_worker_id,
        )
        return points.labels

    crash_at_every_point(run_once)
