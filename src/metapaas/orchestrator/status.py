"""From what nodes and commands report to an instance status: pure functions.

The agents' reports are facts (``models.NodeReport``, ``models.CommandResult``);
what they mean is judged here alone: whether a node is unreachable or unhealthy for
too long, what keeps it from serving, and the instance's status. Every status but
``ACTIVE`` comes with a reason a person can act on: what the instance waits for
(which node, doing what) or what broke.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from metapaas.db import models

Status = models.InstanceStatus
NodeState = models.NodeState

#: A node whose agent never reports within this long of its start is treated as unreachable.
REGISTRATION_DEADLINE = timedelta(seconds=90)


@dataclass(frozen=True)
class Verdict:
    status: models.InstanceStatus
    reason: str
    ready: int
    total: int

    @property
    def serving(self) -> bool:
        """Every planned node serves: ``ACTIVE``, or ``DEGRADED`` for a cause that is not
        a node's (its data at risk)."""
        return self.status != Status.ERROR and self.ready == self.total

    @property
    def progress(self) -> str:
        return f"{self.ready}/{self.total} nodes ready"


def unreachable(node: models.Node, now: datetime, after: float) -> bool:
    """The control plane's view: heartbeats stopped, or the agent of the node's current
    incarnation never came within the registration deadline of its start."""
    report = node.report
    if report is None:
        started = node.started_at or node.created_at
        return now - started > REGISTRATION_DEADLINE
    return now - report.last_seen_at > timedelta(seconds=after)


def unhealthy_too_long(node: models.Node, now: datetime, after: float) -> bool:
    report = node.report
    return (
        report is not None
        and report.health == models.Health.UNHEALTHY
        and now - report.health_since > timedelta(seconds=after)
    )


def judged(node: models.Node) -> models.NodeReport | None:
    """The report what the node does is judged by: its current incarnation's, unless a
    retry asked the node to apply a newer revision than the report is about."""
    report = node.report
    if report is None or report.applied_revision < node.reports_from_revision:
        return None
    return report


def waiting_on(node: models.Node, generation: int, init_state: str | None) -> str:
    """What keeps ``node`` from serving ``generation``, or '' when it serves.

    ``init_state`` is the state of the node's ``init`` command (``not queued``
    before it is), or None when its role declares none.
    """
    if node.state == NodeState.PLANNED:
        return "being created"
    if node.state == NodeState.REPLACING:
        return "being replaced"
    if node.state == NodeState.STARTING:
        return "starting (its agent has not reported yet)"
    report = judged(node)
    if (
        report is None
        or report.state != models.AgentState.READY
        or report.applied_generation < generation
    ):
        applied = node.report.applied_generation if node.report is not None else 0
        return f"applying generation {generation} (has {applied})"
    if report.health != models.Health.HEALTHY:
        return f"health is {report.health}" + (f": {report.message}" if report.message else "")
    if init_state is not None and init_state != models.CommandState.SUCCEEDED:
        return f"init is {init_state}"
    return ""


def outdated(node: models.Node, wheelhouse: str) -> str:
    """Why ``node`` waits in a rollout to ``wheelhouse``, or '' when it runs it."""
    if (node.wheelhouse or "") == wheelhouse:  # None until the row is first written
        return ""
    return f"runs {node.software or 'another plugin version'}; rolls to the new one in turn"


def failure(nodes: Sequence[models.Node], commands: Sequence[models.NodeCommand]) -> str:
    """The first provisioning failure a user must act on, or ''."""
    for node in nodes:
        report = judged(node)
        if report is not None and report.state == models.AgentState.FAILED:
            return f"node {node.name}: {report.message or 'the agent reported a failure'}"
    for command in commands:
        result = command.result
        if command.state == models.CommandState.FAILED and result is not None:
            tail = result.output.strip().splitlines()[-1:] or [""]
            return (
                f"node {command.node_name}: command {command.name!r} failed "
                f"(exit {result.exit_code}): {tail[0]}"
            ).rstrip(": ")
        if command.state == models.CommandState.TIMED_OUT:
            return (
                f"node {command.node_name}: command {command.name!r} timed out "
                f"after {command.timeout:g}s"
            )
    return ""


def judge(
    instance: models.Instance,
    nodes: Sequence[models.Node],
    commands: Sequence[models.NodeCommand],
    planned: int,
    needs_init: set[str],
    poll_seconds: float,
    wheelhouse: str = "",
) -> Verdict:
    """The instance's status from its planned nodes' reports.

    ``needs_init`` names the nodes whose role declares an ``init`` command;
    ``poll_seconds`` is how often a converging instance is looked at again;
    ``wheelhouse`` is the plugin version nodes should run: one still running
    another waits for its turn in the rollout. A rollout under way
    (``instance.rolling_to``) is a change, as a new generation is: ``UPDATING``.
    """
    reason = failure(nodes, commands)
    inits = {c.node_name: c.state for c in commands if c.name == "init"}
    waits = {
        n.name: why
        for n in nodes
        if (
            why := waiting_on(
                n,
                instance.generation,
                inits.get(n.name, "not queued") if n.name in needs_init else None,
            )
            or outdated(n, wheelhouse)
        )
    }
    ready = len(nodes) - len(waits)
    if reason:
        return Verdict(Status.ERROR, reason, ready, planned)
    if ready == planned == len(nodes):
        return Verdict(Status.ACTIVE, "", ready, planned)
    missing = planned - len(nodes)
    listed = [f"{name} {why}" for name, why in sorted(waits.items())]
    listed += [f"{missing} more node(s) not planned yet"] if missing > 0 else []
    served = instance.observed_generation
    if served > 0 and served == instance.generation and not instance.rolling_to:
        # Nothing new was asked for, yet not every node serves: it broke and is healing.
        return Verdict(Status.DEGRADED, "not serving: " + "; ".join(listed), ready, planned)
    status = Status.UPDATING if served > 0 else Status.IN_PROGRESS
    waiting = (
        f"waiting for {planned - ready} of {planned} node(s): "
        + "; ".join(listed)
        + f" (checked on every agent report and every {poll_seconds:g}s)"
    )
    return Verdict(status, waiting, ready, planned)
