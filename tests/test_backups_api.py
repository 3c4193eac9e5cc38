"""Backups through the API on simulated nodes: repositories, policies, backups taken and
catalogued, the recovery window, restores into new instances, and who may do what.

The node steps are played by the simulated agents (``answers``) for the sample
``widgets`` type: what a real step does is each type's business (``plugins/*/tests``);
here the control plane's side is under test, on each database backend.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from metapaas.db import models
from metapaas.testing import InProcessControlPlane

PG = "/v1/types/widgets/instances"
DAILY = "0 3 * * *"
POLICY = {"repository": "local", "schedule": DAILY, "retention": {"count": 2}, "continuous": True}


@pytest.fixture
def repository(api: InProcessControlPlane, tmp_path: Path) -> dict[str, Any]:
    made = api.post(
        "/v1/backup-repositories",
        json={"name": "local", "kind": "filesystem", "path": str(tmp_path / "repo")},
    )
    assert made.status_code == 201, made.text
    return dict(made.json())


def backed_up(node: str, command: dict[str, Any]) -> dict[str, Any]:
    """A backup step that made a full backup, as pgBackRest's would report."""
    now = models.utcnow()
    report = {
        "label": f"{command['args']['backup'][:8]}F",
        "kind": command["args"]["kind"],
        "started_at": (now - timedelta(seconds=2)).isoformat(),
        "finished_at": now.isoformat(),
        "size_bytes": 4096,
        "objects": OBJECTS,
        "position": {"start_lsn": "0/2000028", "stop_lsn": "0/2000100", "timeline": 1},
    }
    return {"state": "succeeded", "exit_code": 0, "output": "", "result": report}


OBJECTS = {"backup/main/x/backup.manifest": "ab" * 32}


def verified(node: str, command: dict[str, Any]) -> dict[str, Any]:
    """A drill's check that passed, finding the objects as ``backed_up`` stored them."""
    report = {"objects": OBJECTS, "check": "the check passed"}
    return {"state": "succeeded", "exit_code": 0, "output": "", "result": report}


def answer_backups(api: InProcessControlPlane) -> None:
    """The simulated nodes make backups, and their drills find them whole."""
    api.simulation.agents.answers["backup"] = backed_up
    api.simulation.agents.answers["verify"] = verified


def recording(into: list[dict[str, Any]]) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """A step that succeeds, keeping the args it was given in ``into``."""

    def answer(node: str, command: dict[str, Any]) -> dict[str, Any]:
        into.append(command["args"])
        return {"state": "succeeded", "exit_code": 0, "output": ""}

    return answer


def with_policy(api: InProcessControlPlane, policy: dict[str, Any] = POLICY) -> None:
    """``shop-db`` serving with ``policy``, its nodes making backups whose drills pass."""
    active_widgets(api)
    assert api.put(f"{PG}/shop-db/backup-policy", json=policy).status_code == 200
    answer_backups(api)


def refused(node: str, command: dict[str, Any]) -> dict[str, Any]:
    return {"state": "failed", "exit_code": 28, "output": "ERROR: [028]: repository is gone"}


def active_widgets(api: InProcessControlPlane, name: str = "shop-db") -> dict[str, Any]:
    made = api.create_instance(name, slug="widgets")
    assert api.post(f"{PG}/{name}/parts", json={"name": "shop"}).status_code == 201
    return api.converge("widgets", made["id"])


def take_backup(api: InProcessControlPlane, name: str = "shop-db") -> dict[str, Any]:
    started = api.post(f"{PG}/{name}/backups", json={})
    assert started.status_code == 202, started.text
    backup_id = started.json()["backup_id"]

    def ended() -> bool:
        state = api.get(f"/v1/operations/{backup_id}").json()["state"]
        return state in ("SUCCEEDED", "FAILED")

    api.simulation.settle(ended, f"backup {backup_id} ended")
    return dict(api.get(f"{PG}/{name}/backups/{backup_id}").json())


def backed_up_instance(api: InProcessControlPlane) -> dict[str, Any]:
    """``shop-db`` serving, with a policy and one completed backup, which is returned."""
    active_widgets(api)
    assert api.put(f"{PG}/shop-db/backup-policy", json=POLICY).status_code == 200
    answer_backups(api)
    backup = take_backup(api)
    assert backup["state"] == "COMPLETED", backup
    return backup


def test_a_repository_is_checked_when_registered_and_refused_when_unusable(
    api: InProcessControlPlane, repository: dict[str, Any], tmp_path: Path
) -> None:
    assert repository["state"] == "OK"
    assert repository["checked_at"] is not None
    (tmp_path / "a-file").write_text("not a directory")
    bad = api.post(
        "/v1/backup-repositories",
        json={"name": "bad", "kind": "filesystem", "path": str(tmp_path / "a-file" / "repo")},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "path"
    again = api.post(
        "/v1/backup-repositories",
        json={"name": "local", "kind": "filesystem", "path": str(tmp_path / "other")},
    )
    assert again.status_code == 409
    listed = api.get("/v1/backup-repositories").json()["items"]
    assert [r["name"] for r in listed] == ["local"]


def test_only_an_admin_manages_repositories(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    project = api.make_project("team")
    member = api.make_user("dev", project, role="owner")
    assert api.get("/v1/backup-repositories", token=member.token).status_code == 403
    made = api.post(
        "/v1/backup-repositories",
        json={"name": "mine", "kind": "filesystem", "path": "/tmp/x"},
        token=member.token,
    )
    assert made.status_code == 403


def test_a_policy_names_a_cron_schedule_and_a_repository(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    active_widgets(api)
    wrong = api.put(f"{PG}/shop-db/backup-policy", json={**POLICY, "schedule": "every day at 3"})
    assert wrong.status_code == 422
    assert (wrong.json()["errors"][0]["field"], wrong.json()["errors"][0]["rule"]) == (
        "schedule",
        "cron",
    )
    unknown = api.put(f"{PG}/shop-db/backup-policy", json={**POLICY, "repository": "nowhere"})
    assert unknown.json()["errors"][0]["field"] == "repository"
    assert api.get(f"{PG}/shop-db/backup-policy").status_code == 404
    put = api.put(f"{PG}/shop-db/backup-policy", json=POLICY)
    assert put.status_code == 200, put.text
    shown = api.get(f"{PG}/shop-db/backup-policy").json()
    assert shown["repository"] == "local"
    assert shown["next_backup_at"].endswith("T03:00:00Z")


def test_a_type_without_backups_answers_409_naming_it(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    api.create_instance("web")
    refused_ = api.put("/v1/types/demo/instances/web/backup-policy", json=POLICY)
    assert refused_.status_code == 409
    assert "demo type keeps no backups" in refused_.json()["detail"]
    assert api.post("/v1/types/demo/instances/web/backups", json={}).status_code == 409


def test_a_backup_runs_on_the_node_and_is_catalogued_with_what_it_reported(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    active_widgets(api)
    assert api.post(f"{PG}/shop-db/backups", json={}).status_code == 409  # no policy yet
    api.put(f"{PG}/shop-db/backup-policy", json=POLICY)
    answer_backups(api)
    backup = take_backup(api)
    assert backup["state"] == "COMPLETED"
    assert backup["kind"] == "full"
    assert backup["position"]["stop_lsn"] == "0/2000100"
    assert backup["objects"] == {"backup/main/x/backup.manifest": "ab" * 32}
    listed = api.get(f"{PG}/shop-db/backups").json()["items"]
    assert [b["id"] for b in listed] == [backup["id"]]
    window = api.get(f"{PG}/shop-db/recovery-window").json()
    assert window["earliest"] == window["latest"] == backup["finished_at"]
    assert api.get(f"{PG}/shop-db").json()["status"] == "ACTIVE"


def test_a_failed_backup_says_why_and_leaves_the_instance_serving(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    active_widgets(api)
    api.put(f"{PG}/shop-db/backup-policy", json=POLICY)
    api.simulation.agents.answers["backup"] = refused
    backup = take_backup(api)
    assert backup["state"] == "FAILED"
    assert "repository is gone" in backup["reason"]
    assert api.get(f"/v1/operations/{backup['id']}").json()["error"] == backup["reason"]
    assert api.get(f"{PG}/shop-db").json()["status"] == "ACTIVE"


def test_a_running_backup_s_operation_shows_the_bytes_its_step_told(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    """The node's step tells its progress twice, then ends: the pass that looks every
    second while a step is under way shows each in human units (no report wakes one)."""
    active_widgets(api)
    api.put(f"{PG}/shop-db/backup-policy", json=POLICY)
    told = [(1288490189, 3650722202), (1288490189 * 2, 0)]  # 1.2 GiB of 3.4 GiB; 2.4 GiB

    def under_way(node: str, command: dict[str, Any]) -> dict[str, Any]:
        if not told:
            return backed_up(node, command)
        done, total = told.pop(0)
        return {"state": "running", "progress": {"done_bytes": done, "total_bytes": total}}

    api.simulation.agents.answers["backup"] = under_way
    backup_id = api.post(f"{PG}/shop-db/backups", json={}).json()["backup_id"]
    shown: list[str] = []

    def ended() -> bool:
        operation = api.get(f"/v1/operations/{backup_id}").json()
        shown.append(operation["progress"])
        return bool(operation["state"] == "SUCCEEDED")

    api.simulation.settle(ended, f"backup {backup_id} ended")
    with api.session() as session:
        backup = session.get(models.Backup, backup_id)
        assert backup is not None
        node = backup.node_name
    assert list(dict.fromkeys(shown)) == [
        f"backing up on {node}",
        f"backing up on {node}: 1.2 GiB of 3.4 GiB",
        f"backing up on {node}: 2.4 GiB so far",
        "completed: 4096 bytes in 1 objects",
    ]


def test_a_restore_makes_a_new_instance_whose_node_restores_before_it_serves(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    backup = backed_up_instance(api)
    restores: list[dict[str, Any]] = []
    api.simulation.agents.answers["restore"] = recording(restores)
    project = api.get(f"{PG}/shop-db").json()["project_id"]
    source = f"{project}/shop-db"
    made = api.create_instance(
        "shop-copy", slug="widgets", restore={"from": source, "backup": backup["id"]}
    )
    copy = api.converge("widgets", made["id"])
    assert restores == [{"label": backup["label"], "point_in_time": ""}]
    parts = api.get(f"{PG}/shop-copy/parts").json()["items"]
    assert [p["name"] for p in parts] == ["shop"]  # its data holds them
    assert copy["status"] == "ACTIVE"


def test_a_restore_to_a_point_takes_the_child_resources_created_by_then(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    backup = backed_up_instance(api)
    assert api.post(f"{PG}/shop-db/parts", json={"name": "later"}).status_code == 201
    project = api.get(f"{PG}/shop-db").json()["project_id"]
    restore = {"from": f"{project}/shop-db", "point_in_time": backup["finished_at"]}
    made = api.create_instance("shop-then", slug="widgets", restore=restore)
    assert api.converge("widgets", made["id"])["status"] == "ACTIVE"
    parts = api.get(f"{PG}/shop-then/parts").json()["items"]
    assert [p["name"] for p in parts] == ["shop"]  # "later" is in no data as at the point


def test_a_point_outside_the_window_is_refused_naming_the_window(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    backup = backed_up_instance(api)
    project = api.get(f"{PG}/shop-db").json()["project_id"]
    early = "2001-01-01T00:00:00Z"
    refused_ = api.post(
        PG,
        json={
            "name": "too-early",
            "restore": {"from": f"{project}/shop-db", "point_in_time": early},
        },
    )
    assert refused_.status_code == 422
    error = refused_.json()["errors"][0]
    assert (error["field"], error["rule"]) == ("restore.point_in_time", "outside_window")
    assert backup["finished_at"] in error["message"]
    assert api.get(f"{PG}/too-early").status_code == 404  # nothing half-written


def test_another_project_sees_no_backup_and_cannot_restore_from_it(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    backed_up_instance(api)
    owner_project = api.get(f"{PG}/shop-db").json()["project_id"]
    other = api.make_project("other")
    stranger = api.make_user("stranger", other, role="owner")
    assert api.get(f"{PG}/shop-db/backups", token=stranger.token).status_code == 404
    theft = api.post(
        PG,
        json={"name": "stolen", "restore": {"from": f"{owner_project}/shop-db"}},
        token=stranger.token,
    )
    assert theft.status_code == 422
    assert theft.json()["errors"][0]["field"] == "restore.from"
    assert api.get("/v1/backup-repositories", token=stranger.token).status_code == 403
    viewer = api.make_user("watcher", owner_project, role="viewer")
    assert api.get(f"{PG}/shop-db/backups", token=viewer.token).status_code == 200
    restore = {"from": f"{owner_project}/shop-db"}
    as_viewer = api.post(PG, json={"name": "peek", "restore": restore}, token=viewer.token)
    assert as_viewer.status_code == 403


def test_a_repository_holding_backups_cannot_be_removed(
    api: InProcessControlPlane, repository: dict[str, Any]
) -> None:
    active_widgets(api)
    api.put(f"{PG}/shop-db/backup-policy", json=POLICY)
    refused_ = api.delete("/v1/backup-repositories/local")
    assert refused_.status_code == 409
    assert "1 instance(s)" in refused_.json()["detail"]


def test_an_s3_repository_names_an_endpoint_and_keys_or_an_instance_that_serves_s3(
    api: InProcessControlPlane,
) -> None:
    bucket = {"name": "vault", "kind": "s3", "bucket": "backups"}
    keys = {"endpoint": "127.0.0.1:9", "access_key_id": "k", "secret_access_key": "s"}
    web = api.create_instance("web")
    api.converge("demo", web["id"])
    named = f"{web['project_id']}/web"
    cases = [
        ({**bucket, "access_key_id": "k"}, "endpoint", "required"),
        ({**bucket, **keys, "instance": named}, "endpoint", "exclusive"),
        ({**bucket, "instance": f"{web['project_id']}/nowhere"}, "instance", "not_found"),
        ({**bucket, "instance": named}, "instance", "unusable"),  # demo serves no S3
    ]
    for body, field, rule in cases:
        refused_ = api.post("/v1/backup-repositories", json=body)
        assert refused_.status_code == 422, (body, refused_.text)
        error = refused_.json()["errors"][0]
        assert (error["field"], error["rule"]) == (field, rule), error
    assert (
        "serves no S3"
        in api.post("/v1/backup-repositories", json={**bucket, "instance": named}).json()["errors"][
            0
        ]["message"]
    )
    assert api.get("/v1/backup-repositories").json()["items"] == []
