"""What a node may report: bounded values, refused with a 422 naming the field."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from metapaas.db import models
from metapaas.orchestrator import node_name, queue
from metapaas.orchestrator.reconciler import CONVERGING_POLL
from tests.helpers import field_rules, problem
from tests.orchestrator.rig import Rig

CLUSTERS = "/v1/types/clusters/instances"
READY: dict[str, Any] = {
    "applied_revision": 1,
    "applied_generation": 1,
    "state": "ready",
    "health": "healthy",
}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        pytest.param(
            "/v1/agent/report",
            {**READY, "applied_revision": 2**31},
            "applied_revision",
            id="a revision past what the database holds is 422 naming it",
        ),
        pytest.param(
            "/v1/agent/report",
            {**READY, "applied_generation": 2**63},
            "applied_generation",
            id="a generation past what the database holds is 422 naming it",
        ),
        pytest.param(
            "/v1/agent/commands/{command}",
            {"state": "failed", "exit_code": 2**40},
            "exit_code",
            id="an exit code no process has is 422 naming it",
        ),
    ],
)
def test_out_of_range_reports_are_refused(
    rig: Rig, path: str, body: dict[str, Any], field: str
) -> None:
    instance_id = rig.create("clusters", "c1", replicas=0)
    rig.settle_status(instance_id, "ACTIVE")
    primary = node_name(instance_id, "primary", 0)
    (command,) = [c.id for c in rig.rows(models.NodeCommand, instance_id=instance_id)]
    headers = {"Authorization": f"Bearer {rig.agents.credential(primary)}"}

    answer = rig.api.client.post(path.format(command=command), json=body, headers=headers)

    assert (field, "less_than_equal") in field_rules(problem(answer, 422))


OK = {"state": "ready", "health": "healthy"}
"""A node that applied the generation and serves it."""


@pytest.mark.parametrize(
    ("reports", "wakes"),
    [
        pytest.param([("replica-0", OK)], False, id="one of three converged: waits for the poll"),
        pytest.param([("replica-0", OK), ("replica-1", OK)], False, id="two of three: still waits"),
        pytest.param(
            [("replica-0", OK), ("replica-1", OK), ("primary-0", OK)],
            True,
            id="the last node converged: a pass now",
        ),
        pytest.param(
            [("replica-0", {**OK, "health": "unhealthy"})], True, id="a node unhealthy: a pass now"
        ),
        pytest.param([("replica-0", {**OK, "state": "failed"})], True, id="a failure: a pass now"),
    ],
)
def test_a_report_wakes_a_pass_when_it_can_change_the_verdict(
    rig: Rig, reports: list[tuple[str, dict[str, str]]], wakes: bool
) -> None:
    """While other nodes of a converging instance lag, one node's progress waits for the
    instance's periodic pass (a pass per report is a thousand passes for a thousand
    nodes); a setback or the last node's news wakes one at once."""
    instance_id = rig.create("clusters", "c1", replicas=2)
    rig.settle_status(instance_id, "ACTIVE")
    assert rig.api.patch(f"{CLUSTERS}/{instance_id}", json={"setting": "b"}).status_code == 202
    rig.run_queue()  # the change is published; the instance waits for its nodes
    updating = rig.instance(instance_id)
    assert updating.status == "UPDATING"
    (document,) = rig.rows(models.MetadataDocument, instance_id=instance_id)

    for role_ordinal, state in reports:
        role, ordinal = role_ordinal.split("-")
        name = node_name(instance_id, role, int(ordinal))
        body = {
            "applied_revision": document.revision,
            "applied_generation": updating.generation,
            **state,
        }
        headers = {"Authorization": f"Bearer {rig.agents.credential(name)}"}
        assert rig.api.client.post("/v1/agent/report", json=body, headers=headers).is_success

    (item,) = rig.rows(models.WorkItem, instance_id=instance_id)
    assert (item.due_at <= rig.clock()) is wakes
    rig.clock.advance(CONVERGING_POLL)
    assert rig.run_queue() == 1  # woken or not, the instance is looked at within the poll


def test_an_active_instance_wakes_for_a_node_s_progress(rig: Rig) -> None:
    """Only a converging instance has a periodic pass to wait for: for an active one (here,
    its node recovering health), every change of a node wakes a pass."""
    instance_id = rig.create("clusters", "c1", replicas=0)
    active = rig.settle_status(instance_id, "ACTIVE")
    name = node_name(instance_id, "primary", 0)
    (document,) = rig.rows(models.MetadataDocument, instance_id=instance_id)
    headers = {"Authorization": f"Bearer {rig.agents.credential(name)}"}
    body = {"applied_revision": document.revision, "applied_generation": active.generation}

    for health in ("unknown", "healthy"):
        report = {**body, "state": "ready", "health": health}
        assert rig.api.client.post("/v1/agent/report", json=report, headers=headers).is_success
        (item,) = rig.rows(models.WorkItem, instance_id=instance_id)
        assert item.due_at <= rig.clock()
        rig.run_queue()


def test_a_node_reads_each_revision_as_stored_even_when_a_revision_number_comes_again(
    rig: Rig,
) -> None:
    """The encoded document is kept per revision, for every node of the instance to share;
    a revision number written anew (a restored database counting again) is read anew."""
    instance_id = rig.create("clusters", "c1", replicas=1)
    rig.settle_status(instance_id, "ACTIVE")
    primary, replica = (node_name(instance_id, role, 0) for role in ("primary", "replica"))

    def read(name: str, after: int = 0) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {rig.agents.credential(name)}"}
        answer = rig.api.client.get(f"/v1/agent/metadata?after={after}&wait=0", headers=headers)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    first = read(primary)
    assert read(replica)["node"]["name"] == replica  # one document, each node's own part
    assert (first["node"]["name"], first["extra"], first["reset"]) == (
        primary,
        {"setting": "a"},
        False,
    )
    assert rig.api.patch(f"{CLUSTERS}/{instance_id}", json={"setting": "b"}).status_code == 202
    rig.run_queue()
    assert read(primary, after=first["revision"])["extra"] == {"setting": "b"}

    with rig.api.session() as session:  # the store goes back to the first revision's number
        row = session.get(models.MetadataDocument, instance_id)
        assert row is not None
        row.revision = first["revision"]
        row.document = {**row.document, "extra": {"setting": "restored"}}
        session.commit()
    again = read(primary, after=first["revision"] + 1)
    assert (again["revision"], again["extra"], again["reset"]) == (
        first["revision"],
        {"setting": "restored"},
        True,
    )


def _queue_command(rig: Rig, instance_id: str, node: str, deadline_in: float) -> str:
    """A lifecycle command for ``node`` as the orchestrator queues one; returns its id."""
    with rig.api.session() as session, session.begin():
        command = models.NodeCommand(
            instance_id=instance_id,
            node_name=node,
            name="reindex",
            timeout=1.0,
            deadline_at=rig.clock() + timedelta(seconds=deadline_in),
        )
        session.add(command)
        session.flush()
        queue.enqueue(session, instance_id, rig.clock())
        return command.id


def _reporting(rig: Rig) -> tuple[str, str, dict[str, str]]:
    """An active instance with a command queued for its node: the instance's id, the
    command's, and the node credential's headers to report its result with."""
    instance_id = rig.create("clusters", "c1", replicas=0)
    rig.settle_status(instance_id, "ACTIVE")
    primary = node_name(instance_id, "primary", 0)
    command_id = _queue_command(rig, instance_id, primary, deadline_in=60)
    return instance_id, command_id, {"Authorization": f"Bearer {rig.agents.credential(primary)}"}


def test_a_result_sent_again_or_after_its_command_ended_changes_nothing(rig: Rig) -> None:
    """An agent that restarts re-sends the results it journalled, and a slow one may send
    ``running`` after its result: the first final result stays."""
    instance_id, command_id, headers = _reporting(rig)
    path = f"/v1/agent/commands/{command_id}"
    failed = {"state": "failed", "exit_code": 3, "output": "no disk"}

    for body in (failed, {"state": "succeeded", "exit_code": 0}, {"state": "running"}):
        assert rig.api.client.post(path, json=body, headers=headers).status_code == 204

    (result,) = rig.rows(models.CommandResult, command_id=command_id)
    assert (result.state, result.exit_code, result.output) == ("failed", 3, "no disk")
    assert rig.event_kinds(instance_id).count("command_failed") == 1


def test_a_running_command_s_progress_is_stored_wakes_nothing_and_its_result_keeps_it(
    rig: Rig,
) -> None:
    """A step tells its progress every few seconds: each is stored, none is an event or a
    pass of its own (a pass with a backup step under way looks every second anyway), and
    its final result, which says none, keeps the last."""
    instance_id, command_id, headers = _reporting(rig)
    path = f"/v1/agent/commands/{command_id}"
    before = Counter(rig.event_kinds(instance_id))
    assert rig.api.client.post(path, json={"state": "running"}, headers=headers).is_success
    rig.run_queue()

    for done in (1024, 3072):
        body = {"state": "running", "progress": {"done_bytes": done, "total_bytes": 4096}}
        assert rig.api.client.post(path, json=body, headers=headers).status_code == 204
        (result,) = rig.rows(models.CommandResult, command_id=command_id)
        assert result.progress == {"done_bytes": done, "total_bytes": 4096}
        items = rig.rows(models.WorkItem, instance_id=instance_id)
        assert all(item.due_at > rig.clock() for item in items), "no pass woken"
    ended = {"state": "succeeded", "exit_code": 0}
    assert rig.api.client.post(path, json=ended, headers=headers).status_code == 204

    (result,) = rig.rows(models.CommandResult, command_id=command_id)
    assert (result.state, result.progress) == (
        "succeeded",
        {"done_bytes": 3072, "total_bytes": 4096},
    )
    told = Counter(rig.event_kinds(instance_id)) - before
    assert told == Counter({"command_running": 1, "command_succeeded": 1})


def test_a_negative_byte_count_of_progress_is_422_naming_its_field(rig: Rig) -> None:
    _, command_id, headers = _reporting(rig)
    body = {"state": "running", "progress": {"done_bytes": -1}}
    answer = rig.api.client.post(f"/v1/agent/commands/{command_id}", json=body, headers=headers)
    assert ("progress.done_bytes", "greater_than_equal") in field_rules(problem(answer, 422))


def test_a_timed_out_command_fails_its_instance_naming_it_and_takes_no_late_result(
    rig: Rig,
) -> None:
    """The orchestrator marks a command its agent did not finish by its deadline; the
    mark stays, so a result sent after it is not taken (the command's state has one
    reading, the orchestrator's mark and the agent's result never both count)."""
    instance_id = rig.create("clusters", "c1", replicas=0)
    rig.settle_status(instance_id, "ACTIVE")
    primary = node_name(instance_id, "primary", 0)
    command_id = _queue_command(rig, instance_id, primary, deadline_in=-1)
    rig.run_queue()
    failed = rig.instance(instance_id)
    assert (failed.status, failed.status_reason) == (
        "ERROR",
        f"node {primary}: command 'reindex' timed out after 1s",
    )
    headers = {"Authorization": f"Bearer {rig.agents.credential(primary)}"}
    late = {"state": "succeeded", "exit_code": 0}

    answer = rig.api.client.post(f"/v1/agent/commands/{command_id}", json=late, headers=headers)

    assert answer.status_code == 204
    assert rig.rows(models.CommandResult, command_id=command_id) == []
    (command,) = rig.rows(models.NodeCommand, id=command_id)
    assert command.state == models.CommandState.TIMED_OUT
