"""A pass's plan: which nodes the provider starts, and how, decided before it is asked.

Every (re)start of a node is decided in the plan's transaction as a new *incarnation*:
a fresh one-time bootstrap token, the node's state, the events that tell of it. From
that commit on, what the agent of an earlier incarnation reported, and its credential,
no longer count: voiding a report is raising the incarnation, nothing else. The act
phase then only calls the provider.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from metapaas import providers, sdk
from metapaas.db import models
from metapaas.iam import tokens
from metapaas.orchestrator import commands, events, status
from metapaas.plugins import LoadedType

BOOTSTRAP_TTL = timedelta(minutes=15)


class StartKind(enum.StrEnum):
    CREATE = "create"  # the provider creates the node, or starts it again where it was
    REPLACE = "replace"  # the provider deletes it, then creates it anew
    ROLL = "roll"  # the provider restarts it in place on another plugin version


@dataclass(frozen=True)
class Start:
    kind: StartKind
    bootstrap_token: str


@dataclass
class Plan:
    loaded: LoadedType
    project_id: str  # the instance's: a label of its nodes, which routing may read
    groups: dict[str, tuple[sdk.NodeGroup, int]]  # node name -> (its role's group, ordinal)
    looked: Mapping[str, providers.NodeInfo | None]  # the provider's answer before the plan
    starts: dict[str, Start] = field(default_factory=dict)
    retire: set[str] = field(default_factory=set)
    software: dict[str, str] = field(default_factory=dict)  # node name -> its wheelhouse

    def start(self, node: models.Node, kind: StartKind, now: datetime) -> None:
        """Start a new incarnation of ``node``: a fresh one-time bootstrap token, and the
        reports and credential of every earlier incarnation void."""
        token = tokens.new_token()
        node.incarnation += 1
        node.bootstrap_hash = tokens.digest(token)
        node.bootstrap_expires_at = now + BOOTSTRAP_TTL
        node.started_at = now
        self.starts[node.name] = Start(kind, token)


def restart(
    session: Session, plan: Plan, node: models.Node, now: datetime, *, roll: bool = False
) -> None:
    """``node`` starts again: its processes are gone (or never came), or it moves in place
    to another plugin version (``roll``). It does not serve until its agent of the new
    incarnation reports."""
    if node.state != models.NodeState.PLANNED:
        node.state = models.NodeState.STARTING
        if not roll:
            down = f"node {node.name} is down; restarting"
            events.record(session, node.instance_id, "node_down", down, node.name)
    plan.start(node, StartKind.ROLL if roll else StartKind.CREATE, now)


def heal(
    session: Session,
    plan: Plan,
    node: models.Node,
    info: providers.NodeInfo | None,
    now: datetime,
) -> None:
    """Start ``node`` again when the look found its processes gone (or never created), or
    running another plugin version than its row says (a rollout's step that a crash cut
    short)."""
    if info is None or not info.running:
        restart(session, plan, node, now)
    elif info.software != node.wheelhouse:
        restart(session, plan, node, now, roll=True)


def replace(
    session: Session,
    plan: Plan,
    instance: models.Instance,
    node: models.Node,
    now: datetime,
    why: str,
) -> None:
    """Forget the old node: its credential no longer counts, its commands run again.

    The instance stops being ``ACTIVE`` in the same commit: between this decision and
    the next observation, readers must not see it serving from the old node.
    """
    events.record(session, node.instance_id, "node_replaced", f"node {node.name} {why}", node.name)
    if instance.status == models.InstanceStatus.ACTIVE:
        instance.status = models.InstanceStatus.DEGRADED
        instance.status_reason = f"not serving: {node.name} being replaced ({why})"
    node.state = models.NodeState.REPLACING
    commands.forget(session, node.name)
    plan.start(node, StartKind.REPLACE, now)


def why_replace(node: models.Node, loaded: LoadedType, now: datetime) -> str:
    """Why ``node`` must be replaced by a new one, or '' when it need not be."""
    declaration = loaded.declaration
    if status.unhealthy_too_long(node, now, declaration.replace_unhealthy_after):
        return "unhealthy too long"
    if status.unreachable(node, now, declaration.unreachable_after):
        return "unreachable"
    return ""
