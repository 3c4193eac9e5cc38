"""From what nodes and commands report to an instance status: pure functions.

Every status but ``ACTIVE`` comes with a reason a person can act on: what
the instance waits for (which node, doing what) or what broke.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from metapaas.db import models

S = models.InstanceStatus
C = models.CommandState
N = models.NodeState

#: A node whose agent never reports within this long of its start is treated as unreachable.
REGISTRATION_DEADLINE = timedelta(seconds=90)


@dataclass(frozen=True)
class Verdict:
    status: models.InstanceStatus
    reason: str
    ready: int
    total: int

    @property
    def progress(self) -> str:
        return f"{self.ready}/{self.total} nodes ready"


def unreachable(node: models.Node, now: datetime, after: float) -> bool:
    """The control plane's view: heartbeats stopped, or the agent never came after a start."""
    if node.last_seen_at is None:
        started = node.started_at or node.created_at
        return now - started > REGISTRATION_DEADLINE
    return now - node.last_seen_at > timedelta(seconds=after)


def unhealthy_too_long(node: models.Node, now: datetime, after: float) -> bool:
    return node.unhealthy_since is not None and now - node.unhealthy_since > timedelta(
        seconds=after
    )


def waiting_on(node: models.Node, generation: int, init_state: str | None) -> str:
    """What keeps ``node`` from serving ``generation``, or '' when it serves.

    ``init_state`` is the state of the node's ``init`` command (``not queued``
    before it is), or None when its role declares none.
    """
    if node.state == N.PLANNED:
        return "being created"
    if node.state == N.REPLACING:
        return "being replaced"
    if node.state == N.STARTING:
        return "starting (its agent has not reported yet)"
    if node.agent_state != "ready" or node.applied_generation < generation:
        return f"applying generation {generation} (has {node.applied_generation})"
    if node.health != "healthy":
        return f"health is {node.health}" + (f": {node.message}" if node.message else "")
    if init_state is not None and init_state != C.SUCCEEDED:
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
        if node.agent_state == "failed":
            return f"node {node.name}: {node.message or 'the agent reported a failure'}"
    for command in commands:
        if command.state == C.FAILED:
            tail = command.output.strip().splitlines()[-1:] or [""]
            return (
                f"node {command.node_name}: command {command.name!r} failed "
                f"(exit {command.exit_code}): {tail[0]}"
            ).rstrip(": ")
        if command.state == C.TIMED_OUT:
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
    another waits for its turn in the rollout.
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
        return Verdict(S.ERROR, reason, ready, planned)
    if ready == planned == len(nodes):
        return Verdict(S.ACTIVE, "", ready, planned)
    missing = planned - len(nodes)
    listed = [f"{name} {why}" for name, why in sorted(waits.items())]
    listed += [f"{missing} more node(s) not planned yet"] if missing > 0 else []
    if instance.observed_generation > 0 and instance.observed_generation == instance.generation:
        # Nothing new was asked for, yet not every node serves: it broke and is healing.
        return Verdict(S.DEGRADED, "not serving: " + "; ".join(listed), ready, planned)
    status = S.UPDATING if instance.observed_generation > 0 else S.IN_PROGRESS
    waiting = (
        f"waiting for {planned - ready} of {planned} node(s): "
        + "; ".join(listed)
        + f" (checked on every agent report and every {poll_seconds:g}s)"
    )
    return Verdict(status, waiting, ready, planned)
