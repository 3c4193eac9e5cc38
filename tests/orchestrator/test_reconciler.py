"""The reconciler on a fake clock, the in-memory provider and simulated agents.

Errors from any phase, retries and their delays, healing, and the requests
the API records (retry, delete) that only the orchestrator carries out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, event
from sqlalchemy.orm import Session

from metapaas import providers, sdk
from metapaas.db import models
from metapaas.orchestrator import node_name, queue, status
from metapaas.testing.simulation import RESYNC_SECONDS
from tests.orchestrator.rig import Rig, orchestrator_caller
from tests.sample_plugins.clusters import Clusters

CLUSTERS = "/v1/types/clusters/instances"


def _break_provider(error: Exception) -> Callable[[Rig], dict[str, object]]:
    def arrange(rig: Rig) -> dict[str, object]:
        rig.provider.failure = error
        return {}

    return arrange


@dataclass(frozen=True)
class Failing:
    arrange: Callable[[Rig], dict[str, object]]  # returns extra create fields
    reason: str


PERMANENT = {
    "a PermanentError from node_plan (plan) turns the instance ERROR naming it": Failing(
        lambda _rig: {"fail_plan": "permanent"}, "node_plan refused for good"
    ),
    "a PermanentError from node_metadata (observe) turns the instance ERROR naming it": Failing(
        lambda _rig: {"fail_metadata": "permanent"}, "node_metadata refused for good"
    ),
    "a PermanentError from the provider (act) turns the instance ERROR naming it": Failing(
        _break_provider(sdk.PermanentError("no room on any host")), "no room on any host"
    ),
}


@pytest.mark.parametrize("case", PERMANENT.values(), ids=PERMANENT.keys())
def test_permanent_errors_stop_retrying(rig: Rig, case: Failing) -> None:
    instance_id = rig.create("clusters", "c1", **case.arrange(rig))

    failed = rig.settle_status(instance_id, "ERROR")

    assert failed.status_reason == case.reason
    (op,) = rig.rows(models.Operation, instance_id=instance_id)
    assert (op.state, op.error) == ("FAILED", case.reason)
    rig.run_queue()  # what agents' reports queued is looked at; nothing asks for more
    assert rig.rows(models.WorkItem, instance_id=instance_id) == []
    rig.worker.resync()  # a timer does not retry what cannot succeed
    assert rig.rows(models.WorkItem, instance_id=instance_id) == []


RETRIED = {
    "a TemporaryError from node_plan is retried after its own delay": Failing(
        lambda _rig: {"fail_plan": "temporary"}, "temporary error: node_plan cannot answer yet"
    ),
    "a TemporaryError from node_metadata is retried after its own delay": Failing(
        lambda _rig: {"fail_metadata": "temporary"},
        "temporary error: node_metadata cannot answer yet",
    ),
}


@pytest.mark.parametrize("case", RETRIED.values(), ids=RETRIED.keys())
def test_a_temporary_error_is_retried_no_sooner_than_its_delay(rig: Rig, case: Failing) -> None:
    instance_id = rig.create("clusters", "c1", **case.arrange(rig))
    failed_at = rig.clock()

    assert rig.run_queue() == 1
    due = failed_at + timedelta(seconds=7)
    reason = rig.instance(instance_id).status_reason
    assert reason == f"{case.reason}; next attempt at {due:%Y-%m-%dT%H:%M:%SZ}"
    rig.clock.advance(6.9)
    assert rig.run_queue() == 0
    rig.clock.advance(0.2)
    assert rig.run_queue() == 1
    assert rig.event_kinds(instance_id).count("retrying") == 1  # one per streak, not per try


def test_an_unexpected_error_backs_off_names_itself_and_clears_once_it_passes(rig: Rig) -> None:
    rig.provider.failure = OSError("disk on fire")
    instance_id = rig.create("clusters", "c1")

    delays = []
    for _ in range(3):
        assert rig.run_queue() == 1
        (item,) = rig.rows(models.WorkItem, instance_id=instance_id)
        delays.append((item.due_at - rig.clock()).total_seconds())
        rig.clock.now = item.due_at
    assert delays == [1.0, 2.0, 4.0]
    assert rig.instance(instance_id).status_reason.startswith(
        "internal error (logged): OSError: disk on fire; next attempt at "
    )

    rig.provider.failure = None
    active = rig.settle_status(instance_id, "ACTIVE")
    assert active.status_reason == ""


def test_a_node_whose_processes_died_is_restarted_on_its_ports(rig: Rig) -> None:
    instance_id = rig.create("clusters", "c1", replicas=0)
    rig.settle_status(instance_id, "ACTIVE")
    primary = node_name(instance_id, "primary", 0)
    ports = rig.provider.nodes[primary].ports

    rig.provider.stop(primary)
    rig.clock.advance(RESYNC_SECONDS)  # the resync finds it
    rig.run_queue()

    degraded = rig.instance(instance_id)
    assert (degraded.status, degraded.status_reason) == (
        "DEGRADED",
        f"not serving: {primary} starting (its agent has not reported yet)",
    )
    rig.settle_status(instance_id, "ACTIVE")
    assert rig.provider.nodes[primary].ports == ports
    assert "node_down" in rig.event_kinds(instance_id)


@pytest.mark.parametrize(
    "harm",
    [
        pytest.param(lambda rig, name: rig.agents.silence(name), id="a silent node"),
        pytest.param(lambda rig, name: rig.agents.unhealthy.add(name), id="an unhealthy node"),
    ],
)
def test_a_node_past_its_limit_is_replaced_with_a_new_credential(
    rig: Rig, harm: Callable[[Rig, str], None]
) -> None:
    instance_id = rig.create("clusters", "c1", replicas=1)
    rig.settle_status(instance_id, "ACTIVE")
    replica = node_name(instance_id, "replica", 0)
    (before,) = rig.rows(models.Node, name=replica)
    first = rig.provider.nodes[replica].incarnation

    harm(rig, replica)
    rig.settle(lambda: rig.provider.nodes[replica].incarnation != first, "replaced")
    rig.agents.unhealthy.discard(replica)
    rig.settle_status(instance_id, "ACTIVE")

    (after,) = rig.rows(models.Node, name=replica)
    assert before.report is not None
    assert after.report is not None
    assert after.report.credential_hash not in ("", before.report.credential_hash)
    assert "node_replaced" in rig.event_kinds(instance_id)


def test_an_instance_is_not_active_while_a_node_of_it_is_being_replaced(rig: Rig) -> None:
    """The decision to replace is committed before the provider is asked, and with it the
    status: a client reading while the provider works must not see ACTIVE and old ports."""
    instance_id = rig.create("clusters", "c1", replicas=1)
    rig.settle_status(instance_id, "ACTIVE")
    replica = node_name(instance_id, "replica", 0)
    seen: list[tuple[str, str]] = []
    create_node = rig.provider.create_node

    def watched(spec: providers.NodeSpec) -> providers.NodeInfo:
        row = rig.instance(instance_id)
        seen.append((row.status, row.status_reason))
        return create_node(spec)

    rig.provider.create_node = watched  # type: ignore[method-assign]
    rig.agents.silence(replica)
    rig.settle(lambda: bool(seen), "the replacement")

    assert seen[0] == ("DEGRADED", f"not serving: {replica} being replaced (unreachable)")


def test_a_delete_sent_while_a_pass_runs_is_carried_out_by_the_next(
    rig: Rig, engine_for: Callable[[str], Engine]
) -> None:
    """A pass running when the DELETE comes (here, right after its plan committed) judges
    the instance ACTIVE; it must leave the delete to the next pass (it once marked it
    SUCCEEDED, and the instance stayed for good)."""
    instance_id = rig.create("clusters", "c1", replicas=1)
    rig.settle_status(instance_id, "ACTIVE")
    path = f"{CLUSTERS}/{instance_id}"
    # On an engine of its own, the pass's plan has let go of SQLite's write lock when it
    # commits, and the DELETE can be written while the pass goes on.
    url = rig.state.engine.url.render_as_string(hide_password=False)
    sessions = rig.own_sessions(engine_for(url))
    sent: list[int] = []

    def delete_after_the_plan(_session: Session) -> None:
        if not sent and orchestrator_caller() == "_pass":
            sent.append(rig.api.delete(path).status_code)

    event.listen(sessions, "after_commit", delete_after_the_plan)
    with rig.api.session() as session, session.begin():  # any news wakes a pass
        queue.enqueue(session, instance_id, rig.clock())
    rig.settle_status(instance_id, "DELETED")

    assert sent == [202]
    ops = {op.kind: op.state for op in rig.rows(models.Operation, instance_id=instance_id)}
    assert ops["delete"] == "SUCCEEDED"


class Recording:
    """The provider, with each call it gets written down."""

    def __init__(self, inner: providers.Provider, log: list[str]) -> None:
        self._inner = inner
        self._log = log

    def __getattr__(self, method: str) -> Callable[..., Any]:
        call = getattr(self._inner, method)

        def recorded(*args: Any) -> Any:
            name = args[0].name if isinstance(args[0], providers.NodeSpec) else args[0]
            self._log.append(f"{method}({str(name).split('-', 1)[1]})")
            return call(*args)

        return recorded


def test_a_pass_decides_before_the_provider_acts_and_acts_outside_any_transaction(
    rig: Rig,
) -> None:
    """A restart is decided (new incarnation, token, state, event) in the plan's
    transaction, so the act phase only calls the provider: it once opened a transaction
    per restarted node, between its provider calls, and decided there the node was down."""
    instance_id = rig.create("clusters", "c1", replicas=1)
    rig.settle_status(instance_id, "ACTIVE")
    rig.provider.stop(node_name(instance_id, "primary", 0))
    log: list[str] = []
    sessions = rig.own_sessions()
    event.listen(sessions, "after_begin", lambda *_: log.append("begin"))
    event.listen(sessions, "after_commit", lambda _session: log.append("commit"))
    rig.worker = rig.new_worker(provider=Recording(rig.provider, log))

    rig.worker.reconciler.reconcile(instance_id)

    assert log == [
        "get_node(primary-0)",  # look
        "get_node(replica-0)",
        "begin",  # plan
        "commit",
        "create_node(primary-0)",  # act
        "begin",  # observe
        "commit",
    ]
    assert "node_down" in rig.event_kinds(instance_id)


def test_a_retry_request_is_carried_out_by_the_orchestrator(rig: Rig) -> None:
    rig.provider.failure = sdk.PermanentError("no room")
    instance_id = rig.create("clusters", "c1")
    rig.settle_status(instance_id, "ERROR")
    rig.provider.failure = None

    answer = rig.api.post(f"{CLUSTERS}/{instance_id}/actions/retry")

    assert answer.status_code == 202
    assert rig.instance(instance_id).status == "ERROR"  # recorded, not yet acted on
    op_id = answer.json()["operation_id"]
    assert rig.api.get(f"/v1/operations/{op_id}").json()["state"] == "PENDING"
    again = rig.api.post(f"{CLUSTERS}/{instance_id}/actions/retry")
    assert again.json()["operation_id"] == op_id  # one request under way at a time
    rig.settle_status(instance_id, "ACTIVE")
    assert rig.api.get(f"/v1/operations/{op_id}").json()["state"] == "SUCCEEDED"


def test_a_delete_request_is_carried_out_by_the_orchestrator(rig: Rig) -> None:
    instance_id = rig.create("clusters", "c1", replicas=1)
    rig.settle_status(instance_id, "ACTIVE")
    rig.provider.failure = sdk.TemporaryError("provider away", delay=5)

    answer = rig.api.delete(f"{CLUSTERS}/{instance_id}")
    assert rig.instance(instance_id).status == "ACTIVE"
    rig.run_queue()

    deleting = rig.instance(instance_id)
    assert deleting.status == "DELETING"
    assert deleting.status_reason.startswith("temporary error: provider away; next attempt at")
    assert rig.api.patch(f"{CLUSTERS}/{instance_id}", json={"replicas": 2}).status_code == 409
    rig.provider.failure = None
    rig.settle_status(instance_id, "DELETED")
    assert rig.provider.nodes == {}
    op = rig.api.get(f"/v1/operations/{answer.json()['operation_id']}").json()
    assert (op["state"], op["progress"]) == ("SUCCEEDED", "deleted")


def test_a_delete_refused_for_good_turns_error_and_can_be_asked_again(rig: Rig) -> None:
    instance_id = rig.create("clusters", "c1")
    rig.settle_status(instance_id, "ACTIVE")
    rig.provider.failure = sdk.PermanentError("host is gone")
    first = rig.api.delete(f"{CLUSTERS}/{instance_id}").json()["operation_id"]
    rig.settle_status(instance_id, "ERROR")
    assert rig.api.get(f"/v1/operations/{first}").json()["state"] == "FAILED"

    rig.provider.failure = None
    second = rig.api.delete(f"{CLUSTERS}/{instance_id}").json()["operation_id"]

    assert second != first
    rig.settle_status(instance_id, "DELETED")


def test_resync_queues_a_live_instance_that_lost_its_work_item_and_only_that(rig: Rig) -> None:
    converging = rig.create("clusters", "c1")
    rig.run_queue()
    with rig.api.session() as session, session.begin():
        session.execute(delete(models.WorkItem).where(models.WorkItem.instance_id == converging))

    rig.worker.resync()

    assert rig.instance(converging).status == "IN_PROGRESS"
    assert len(rig.rows(models.WorkItem, instance_id=converging)) == 1


def kill(rig: Rig, name: str) -> None:
    rig.provider.stop(name)


def freeze(rig: Rig, name: str) -> None:
    rig.agents.silence(name)
    rig.clock.advance(Clusters.unreachable_after + 1)


def upgrade(rig: Rig, _name: str) -> None:
    rig.upgrade("clusters", "clusters-2.0")


@pytest.mark.parametrize(
    ("news", "looked_at"),
    [
        pytest.param(None, False, id="nothing happened: no pass"),
        pytest.param(kill, True, id="its node's processes died: a pass"),
        pytest.param(freeze, True, id="its node's agent fell silent: a pass"),
        pytest.param(upgrade, True, id="its type was upgraded: a pass to roll it"),
    ],
)
def test_an_active_instance_is_looked_at_only_when_one_of_its_nodes_needs_it(
    rig: Rig, news: Callable[[Rig, str], None] | None, looked_at: bool
) -> None:
    """No pass runs for an active instance nothing happened to: an idle control plane
    costs its nodes' heartbeats, not a pass per instance and interval."""
    instance_id = rig.create("clusters", "c1", replicas=0)
    rig.settle_status(instance_id, "ACTIVE")
    assert rig.rows(models.WorkItem, instance_id=instance_id) == []
    if news is not None:
        news(rig, node_name(instance_id, "primary", 0))

    rig.worker.resync()

    assert len(rig.rows(models.WorkItem, instance_id=instance_id)) == int(looked_at)


def serving_on(rig: Rig, instance_id: str, wheelhouse: str) -> tuple[int, int]:
    """How many nodes run ``wheelhouse`` and, of those, how many do not serve yet."""
    nodes = [
        n for n in rig.rows(models.Node, instance_id=instance_id) if n.wheelhouse == wheelhouse
    ]
    return len(nodes), sum(1 for n in nodes if status.waiting_on(n, 0, None))


def test_an_upgraded_type_rolls_its_nodes_one_at_a_time_keeping_their_data(rig: Rig) -> None:
    instance_id = rig.create("clusters", "c1", replicas=2)
    rig.settle_status(instance_id, "ACTIVE")
    before = {name: (n.incarnation, n.ports) for name, n in rig.provider.nodes.items()}
    generation = rig.instance(instance_id).generation

    rig.upgrade("clusters", "w2")
    restarting: list[int] = []

    def rolled() -> bool:
        moved, starting = serving_on(rig, instance_id, "w2")
        restarting.append(starting)
        return moved == 3 and rig.instance(instance_id).status == "ACTIVE"

    rig.settle(rolled, "every node rolled", rounds=80)

    assert max(restarting) == 1  # one node at a time, the next once it serves
    assert {n.spec.software for n in rig.provider.nodes.values()} == {"w2"}
    after = {name: (n.incarnation, n.ports) for name, n in rig.provider.nodes.items()}
    assert after == before  # restarted in place: same data, same ports
    rolled = rig.instance(instance_id)
    # A rollout is the orchestrator's change, not the user's: their generation stays, and
    # the rollout's marker is gone once it ended.
    assert (rolled.generation, rolled.observed_generation) == (generation, generation)
    assert rolled.rolling_to == ""
    kinds = rig.event_kinds(instance_id)
    assert kinds.count("rollout") == 1
    assert kinds.count("node_rolling") == 3
    rolling = [reason for state, reason in rig.seen if state == "UPDATING"]
    assert any("rolls to the new one in turn" in reason for reason in rolling), rig.seen


def test_a_rolled_node_that_does_not_serve_stops_the_rollout_and_says_why(rig: Rig) -> None:
    instance_id = rig.create("clusters", "c1", replicas=2)
    rig.settle_status(instance_id, "ACTIVE")
    rig.upgrade("clusters", "w2")
    rig.settle(lambda: serving_on(rig, instance_id, "w2")[0] == 1, "the first node rolled")
    (first,) = [n.name for n in rig.rows(models.Node, instance_id=instance_id, wheelhouse="w2")]
    rig.agents.unhealthy.add(first)

    for _ in range(5):  # less than the type's replace_unhealthy_after
        rig.round()
        assert serving_on(rig, instance_id, "w2")[0] == 1  # the rollout waits for it

    held = rig.instance(instance_id)
    assert held.status == "UPDATING"
    assert f"{first} health is unhealthy" in held.status_reason
    rig.agents.unhealthy.discard(first)
    rig.settle(lambda: serving_on(rig, instance_id, "w2") == (3, 0), "the rollout to go on")
    rig.settle_status(instance_id, "ACTIVE")


def test_the_agent_of_a_node_being_rolled_is_not_heard_once_its_restart_is_decided(
    rig: Rig,
) -> None:
    """The decision to restart a node is a new incarnation of it, committed before the
    provider is asked: from then on its old agent's reports are refused. (Its credential
    once stayed valid, and a report sent between the decision and the restart counted the
    node as serving before it ran the new version.)"""
    instance_id = rig.create("clusters", "c1", replicas=0)
    active = rig.settle_status(instance_id, "ACTIVE")
    primary = node_name(instance_id, "primary", 0)
    headers = {"Authorization": f"Bearer {rig.agents.credential(primary)}"}
    (document,) = rig.rows(models.MetadataDocument, instance_id=instance_id)
    serving = {
        "applied_revision": document.revision,
        "applied_generation": active.generation,
        "state": "ready",
        "health": "healthy",
    }
    restart_node = rig.provider.restart_node
    answers: list[int] = []

    def reported_first(spec: providers.NodeSpec) -> providers.NodeInfo:
        sent = rig.api.client.post("/v1/agent/report", json=serving, headers=headers)
        answers.append(sent.status_code)
        return restart_node(spec)

    rig.provider.restart_node = reported_first  # type: ignore[method-assign]
    rig.upgrade("clusters", "w2")
    rig.settle(lambda: bool(answers), "the node's restart")

    assert answers == [401]
    rig.settle_status(instance_id, "ACTIVE")


def test_a_retry_has_a_failed_node_apply_again_and_leaves_its_report_to_its_agent(
    rig: Rig,
) -> None:
    """A retry marks on the node which revision its agent must report about to be judged
    again; the agent's report stays as the agent wrote it (a retry once cleared it)."""
    instance_id = rig.create("clusters", "c1", replicas=0)
    primary = node_name(instance_id, "primary", 0)
    rig.agents.failing.add(primary)
    failed = rig.settle_status(instance_id, "ERROR")
    assert failed.status_reason == f"node {primary}: cannot apply: the test made it fail"
    rig.agents.failing.discard(primary)  # fixed; the agent fails until it applies again
    (reported,) = rig.rows(models.NodeReport, node_name=primary)

    assert rig.api.post(f"{CLUSTERS}/{instance_id}/actions/retry").status_code == 202
    rig.run_queue()

    (node,) = rig.rows(models.Node, name=primary)
    (report,) = rig.rows(models.NodeReport, node_name=primary)
    assert (report.state, report.message, report.applied_revision) == (
        reported.state,
        reported.message,
        reported.applied_revision,
    )
    assert node.reports_from_revision > report.applied_revision
    retried = rig.instance(instance_id)
    assert retried.status == "IN_PROGRESS", retried.status_reason
    rig.settle_status(instance_id, "ACTIVE")
