"""The status judgement as a table: what nodes and commands report → status and reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from metapaas.db import models
from metapaas.orchestrator import status

NOW = models.utcnow()
N = models.NodeState


REPORTED = {
    "agent_state": "state",
    "health": "health",
    "applied_generation": "applied_generation",
    "last_seen_at": "last_seen_at",
    "message": "message",
}
"""The cases' names of what a node's agent reported, and the report's columns."""


def _node(**fields: object) -> models.Node:
    """A node and its agent's report of its incarnation, from the cases' fields; a
    ``last_seen_at`` of None is an agent that has not reported since the node's start."""
    node: dict[str, object] = {
        "name": "n0",
        "state": N.RUNNING,
        "incarnation": 1,
        "reports_from_revision": 0,
        "created_at": NOW,
        "started_at": NOW,
        "wheelhouse": "",
    }
    report: dict[str, object] = {
        "node_name": "n0",
        "incarnation": 1,
        "state": "ready",
        "health": "healthy",
        "health_since": NOW,
        "applied_revision": 1,
        "applied_generation": 2,
        "registered_at": NOW,
        "last_seen_at": NOW,
        "message": "",
    }
    for name, value in fields.items():
        if name in REPORTED:
            report[REPORTED[name]] = value
        else:
            node[name] = value
    reported = None if report["last_seen_at"] is None else models.NodeReport(**report)
    return models.Node(**node, reported=reported)


def _init(node: str = "n0", state: str = "succeeded", **result: object) -> models.NodeCommand:
    """An ``init`` command of ``node`` in ``state``, as its rows say it: the orchestrator's
    mark for ``timed_out``, else the agent's result (none while it is pending)."""
    command = models.NodeCommand(node_name=node, name="init", timeout=30.0)
    if state == "timed_out":
        command.timed_out_at = NOW
    elif state != "pending":
        command.result = models.CommandResult(state=state, **{"output": "", **result})
    return command


@dataclass
class Case:
    nodes: list[models.Node]
    status: str
    reason: str = ""  # a part the reason must contain
    commands: list[models.NodeCommand] = field(default_factory=list)
    planned: int = 1
    needs_init: set[str] = field(default_factory=set)
    observed_generation: int = 0
    rolling_to: str = ""  # the wheelhouse a rollout moves the nodes to


CASES = {
    "every planned node serving the generation is ACTIVE": Case([_node()], "ACTIVE"),
    "a node not yet created keeps a create IN_PROGRESS, naming it": Case(
        [_node(state=N.PLANNED)], "IN_PROGRESS", "n0 being created"
    ),
    "a started node whose agent never reported is waited for": Case(
        [_node(state=N.STARTING)], "IN_PROGRESS", "n0 starting (its agent has not reported yet)"
    ),
    "a node applying an older generation keeps an update UPDATING": Case(
        [_node(applied_generation=1)],
        "UPDATING",
        "n0 applying generation 2 (has 1)",
        observed_generation=1,
    ),
    "an unhealthy node of a served generation is DEGRADED": Case(
        [_node(health="unhealthy", message="port closed")],
        "DEGRADED",
        "n0 health is unhealthy: port closed",
        observed_generation=2,
    ),
    "a node being replaced is DEGRADED when nothing else was asked for": Case(
        [_node(state=N.REPLACING)], "DEGRADED", "n0 being replaced", observed_generation=2
    ),
    "a node whose init is still running is not ready": Case(
        [_node()],
        "IN_PROGRESS",
        "n0 init is running",
        commands=[_init(state="running")],
        needs_init={"n0"},
    ),
    "a node whose init was not queued yet says so": Case(
        [_node()], "IN_PROGRESS", "n0 init is not queued", needs_init={"n0"}
    ),
    "a node that succeeded its init is ready": Case(
        [_node()], "ACTIVE", commands=[_init()], needs_init={"n0"}
    ),
    "fewer node rows than planned is IN_PROGRESS counting the missing": Case(
        [_node()], "IN_PROGRESS", "1 more node(s) not planned yet", planned=2
    ),
    "an agent that failed to apply is ERROR with its message": Case(
        [_node(agent_state="failed", message="cannot render")], "ERROR", "n0: cannot render"
    ),
    "a failed init is ERROR naming the command, exit code and last output line": Case(
        [_node()],
        "ERROR",
        "command 'init' failed (exit 3): no disk",
        commands=[_init(state="failed", exit_code=3, output="starting\nno disk\n")],
        needs_init={"n0"},
    ),
    "a timed-out init is ERROR naming its timeout": Case(
        [_node()],
        "ERROR",
        "command 'init' timed out after 30s",
        commands=[_init(state="timed_out")],
        needs_init={"n0"},
    ),
    "a rollout under way is UPDATING, though the generation is served": Case(
        [_node(wheelhouse="w1")],
        "UPDATING",
        "n0 runs another plugin version; rolls to the new one in turn",
        observed_generation=2,
        rolling_to="w2",
    ),
    "a rolled node that does not serve yet holds the rollout UPDATING, naming it": Case(
        [_node(wheelhouse="w2", health="unhealthy")],
        "UPDATING",
        "n0 health is unhealthy",
        observed_generation=2,
        rolling_to="w2",
    ),
    "a failure reported before a retry's mark is not judged: the node applies again": Case(
        [_node(agent_state="failed", message="cannot render", reports_from_revision=2)],
        "IN_PROGRESS",
        "n0 applying generation 2 (has 2)",
    ),
    "a report of an earlier incarnation is void: the node is not heard from yet": Case(
        [_node(incarnation=2)], "IN_PROGRESS", "n0 applying generation 2 (has 0)"
    ),
    "a waiting reason says when the instance is looked at again": Case(
        [_node(state=N.STARTING)], "IN_PROGRESS", "checked on every agent report and every 1s"
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_judge(case: Case) -> None:
    instance = models.Instance(
        generation=2, observed_generation=case.observed_generation, rolling_to=case.rolling_to
    )

    verdict = status.judge(
        instance,
        case.nodes,
        case.commands,
        case.planned,
        case.needs_init,
        1.0,
        case.rolling_to,
    )

    assert verdict.status == case.status
    assert case.reason in verdict.reason
    assert (verdict.reason == "") == (case.status == "ACTIVE")


@pytest.mark.parametrize(
    ("fields", "seconds", "unreachable"),
    [
        pytest.param({}, 19, False, id="a node heard from within unreachable_after is reachable"),
        pytest.param({}, 21, True, id="a node silent past unreachable_after is unreachable"),
        pytest.param(
            {"last_seen_at": None}, 89, False, id="a node started 89s ago may still register"
        ),
        pytest.param(
            {"last_seen_at": None}, 91, True, id="a node not heard from 90s after its start is not"
        ),
        pytest.param(
            {"last_seen_at": None, "started_at": NOW + timedelta(seconds=60)},
            91,
            False,
            id="a restart gives the node a new registration deadline",
        ),
        pytest.param(
            {"incarnation": 2},
            21,
            False,
            id="a restarted node's old agent's silence does not count: it may still register",
        ),
    ],
)
def test_unreachable(fields: dict[str, object], seconds: float, unreachable: bool) -> None:
    node = _node(**fields)
    assert status.unreachable(node, NOW + timedelta(seconds=seconds), 20.0) is unreachable
