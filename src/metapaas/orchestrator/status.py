"""From what nodes and commands report to an instance status: pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from metapaas.db import models

S = models.InstanceStatus
C = models.CommandState

#: A node whose agent never registers within this long is treated as unreachable.
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
    """The control plane's view: heartbeats stopped, or the agent never came."""
    if node.last_seen_at is None:
        return now - node.created_at > REGISTRATION_DEADLINE
    return now - node.last_seen_at > timedelta(seconds=after)


def unhealthy_too_long(node: models.Node, now: datetime, after: float) -> bool:
    return node.unhealthy_since is not None and now - node.unhealthy_since > timedelta(
        seconds=after
    )


def node_ready(node: models.Node, generation: int, init_done: bool) -> bool:
    return (
        node.registered_at is not None
        and node.agent_state == "ready"
        and node.applied_generation >= generation
        and node.health == "healthy"
        and init_done
    )


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
) -> Verdict:
    init_done = {c.node_name for c in commands if c.name == "init" and c.state == C.SUCCEEDED}
    ready = sum(
        node_ready(n, instance.generation, n.name not in needs_init or n.name in init_done)
        for n in nodes
    )
    reason = failure(nodes, commands)
    if reason:
        return Verdict(S.ERROR, reason, ready, planned)
    if ready == planned == len(nodes):
        return Verdict(S.ACTIVE, "", ready, planned)
    if instance.observed_generation > 0 and instance.observed_generation == instance.generation:
        # Nothing new was asked for, yet not every node serves: it broke.
        names = ", ".join(
            n.name for n in nodes if n.health != "healthy" or n.agent_state != "ready"
        )
        return Verdict(S.DEGRADED, f"nodes not serving: {names or 'missing'}", ready, planned)
    if instance.observed_generation > 0:
        return Verdict(S.UPDATING, "", ready, planned)
    return Verdict(S.IN_PROGRESS, "", ready, planned)
