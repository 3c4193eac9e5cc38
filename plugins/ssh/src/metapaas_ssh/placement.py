"""Which host a node goes to: capacity, labels, its volume, and anti-affinity.

A pure function of what the hosts hold, so it is tested as a table. Of the
hosts that can take the node (``READY``, not draining, labels matching, room
for one more node and its memory):

1. the host holding the node's volume, so a replaced node finds its data;
2. else the host with the fewest nodes of the same instance (spread an
   instance's nodes over hosts when it can), then the least loaded, then by
   name so the choice is the same on every replica.

When no host can take it, :class:`NoPlacement` says why for each host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from metapaas.sdk import TemporaryError
from metapaas_ssh.tables import HostState


@dataclass(frozen=True)
class HostLoad:
    """A host as placement sees it: its state, its capacity and what it holds."""

    name: str
    state: HostState
    draining: bool
    capacity_nodes: int
    capacity_memory_mb: int
    labels: Mapping[str, str] = field(default_factory=dict)
    nodes: int = 0
    memory_mb: int = 0
    instance_nodes: Mapping[str, int] = field(default_factory=dict)  # instance id -> its nodes
    unsuitable_types: Mapping[str, str] = field(default_factory=dict)  # type -> why not


@dataclass(frozen=True)
class Wanted:
    """A node to place: its instance, the memory it needs, a label selector, and the host
    holding its volume (if any)."""

    instance_id: str
    type_slug: str = ""
    memory_mb: int = 0
    selector: Mapping[str, str] = field(default_factory=dict)
    volume_host: str = ""


class NoPlacement(TemporaryError):
    """No host can take the node now; the message names each host and why (it passes when
    a host returns or has room again)."""


def choose(hosts: Sequence[HostLoad], wanted: Wanted) -> str:
    """The name of the host the node goes to, or :class:`NoPlacement`."""
    fit = [h for h in hosts if refusal(h, wanted) is None]
    if not fit:
        reasons = "; ".join(f"{h.name}: {refusal(h, wanted)}" for h in hosts) or "none registered"
        raise NoPlacement(f"no host can take the node (hosts: {reasons})")
    holding = [h for h in fit if h.name == wanted.volume_host]
    if holding:
        return holding[0].name
    best = min(
        fit,
        key=lambda h: (
            h.instance_nodes.get(wanted.instance_id, 0),
            h.nodes / h.capacity_nodes,
            h.name,
        ),
    )
    return best.name


def refusal(host: HostLoad, wanted: Wanted) -> str | None:
    """Why ``host`` cannot take the node, or ``None`` when it can."""
    if host.state != HostState.READY:
        return host.state
    if host.draining:
        return "draining"
    if wanted.type_slug in host.unsuitable_types:
        return f"cannot run {wanted.type_slug}: {host.unsuitable_types[wanted.type_slug]}"
    unmatched = {k: v for k, v in wanted.selector.items() if host.labels.get(k) != v}
    if unmatched:
        return "labels do not match " + ",".join(f"{k}={v}" for k, v in sorted(unmatched.items()))
    if host.nodes >= host.capacity_nodes:
        return f"full ({host.nodes}/{host.capacity_nodes} nodes)"
    left = host.capacity_memory_mb - host.memory_mb
    if wanted.memory_mb > left:
        return f"{left} MB of memory left, the node needs {wanted.memory_mb} MB"
    return None
