"""The rollout and eviction gates: changes that take a serving node down, one at a time,
and only while every other node serves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from metapaas.db import models
from metapaas.orchestrator import events, status
from metapaas.orchestrator.plan import Plan, replace, restart
from metapaas.plugins import LoadedType


def roll(
    session: Session,
    instance: models.Instance,
    loaded: LoadedType,
    nodes: Sequence[models.Node],
    plan: Plan,
    now: datetime,
) -> bool:
    """Move the nodes to the plugin version now loaded, one at a time, health-gated;
    returns whether a rollout is under way.

    The first outdated node is given the new version only when every node serves;
    the next one only once it serves too. The instance records the version it rolls to
    (``rolling_to``): a rollout is a change, so it is ``UPDATING`` until the last node
    serves, while its ``generation`` stays the user's.
    """
    outdated = sorted(n.name for n in nodes if n.wheelhouse != loaded.wheelhouse)
    if not outdated:
        return False
    if instance.rolling_to != loaded.wheelhouse:
        instance.rolling_to = loaded.wheelhouse
        rolling = f"rolling {len(outdated)} node(s) to {loaded.software}"
        events.record(session, instance.id, "rollout", rolling)
    if plan.starts or not all_serve(instance, nodes):
        return True
    node = next(n for n in nodes if n.name == outdated[0])
    node.wheelhouse, node.software = loaded.wheelhouse, loaded.software
    plan.software[node.name] = loaded.wheelhouse
    rolled = f"node {node.name} restarts on {loaded.software}"
    events.record(session, instance.id, "node_rolling", rolled, node.name)
    restart(session, plan, node, now, roll=True)
    return True


def evict(
    session: Session,
    instance: models.Instance,
    nodes: Sequence[models.Node],
    plan: Plan,
    now: datetime,
) -> None:
    """Replace a node its provider wants elsewhere (its host drains): one at a time, and
    only while every other node serves, so a drain never takes two down at once."""
    evicted = sorted(n.name for n in nodes if n.evicted)
    if not evicted or plan.starts or not all_serve(instance, nodes):
        return
    node = next(n for n in nodes if n.name == evicted[0])
    replace(session, plan, instance, node, now, "its host is draining")


def all_serve(instance: models.Instance, nodes: Sequence[models.Node]) -> bool:
    """Whether every node serves the instance's observed generation: the gate of a rollout's
    and a drain's next step, so neither takes a second node down."""
    return not any(status.waiting_on(n, instance.observed_generation, None) for n in nodes)
