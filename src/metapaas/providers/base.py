"""The provider contract: what the orchestrator asks of any compute back end.

A provider creates, finds and deletes nodes by deterministic name and never
touches instance status; the orchestrator alone decides what a node's state
means. Every method is idempotent, so a crash at any point followed by a retry
converges without duplicate or orphaned nodes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from metapaas.sdk import PermanentError

MANAGED = "metapaas.io/managed"
PROJECT = "metapaas.io/project"
INSTANCE = "metapaas.io/instance"
TYPE = "metapaas.io/type"
ROLE = "metapaas.io/role"

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass(frozen=True)
class NodeSpec:
    """What to create: ``name`` is ``<instance-id8>-<role>-<ordinal>``; ``ports`` are the
    node's port names with their standard numbers (the type's ``sdk.Port``s).

    ``software`` is the address of the wheelhouse whose plugin version the node's
    agent runs ("" for a plugin bundled with the runtime): the node runs that
    version's data-plane code, whatever the control plane has loaded since.
    ``memory_mb`` is what the type says the node uses at most (0: not said).
    ``host_labels``: a provider with hosts places the node on one having all of them
    (an admin's pin of the project or type to a pool). ``control_plane_ca`` is the CA
    certificate (PEM) the agent verifies an ``https`` control plane with, which the
    provider leaves beside the bootstrap token (``""``: the system's trust store).
    """

    name: str
    labels: Mapping[str, str]
    ports: Mapping[str, int]
    bootstrap_token: str
    control_plane_url: str
    software: str = ""
    memory_mb: int = 0
    host_labels: Mapping[str, str] = field(default_factory=dict)
    control_plane_ca: str = ""


@dataclass(frozen=True)
class NodeInfo:
    """What exists: where peers reach the node and whether its agent tree is alive.

    ``location`` names where the node and its volume live ("" on a provider with one
    place, such as ``local``; the host's name on ``ssh``). ``evicted``: the provider
    wants the node elsewhere (its host drains); the orchestrator replaces such nodes
    one at a time, while the others serve.
    """

    name: str
    labels: Mapping[str, str]
    address: str
    ports: Mapping[str, int]
    running: bool
    software: str = ""  # the wheelhouse its agent runs, as in the spec it was started with
    location: str = ""
    evicted: bool = False


@dataclass(frozen=True)
class VolumeInfo:
    """A node's volume: its durable data, named like its node and labelled like it.

    It outlives the node: deleting a node keeps it, and creating the node again
    where it lives re-attaches it. Only :meth:`Provider.delete_volume` removes it.
    """

    name: str
    labels: Mapping[str, str]
    location: str = ""


class Provider(Protocol):
    """A compute back end: ``local``, ``ssh``; libvirt, OpenStack, Kubernetes as others.

    A node's volume is mounted at ``<node dir>/data`` (``sdk.VOLUME_DIR``): what a type
    keeps there survives a restart and a replacement of the node where the volume lives.
    """

    def create_node(self, spec: NodeSpec) -> NodeInfo:
        """Create the node, or return the existing one of that name (restarted if it died)."""
        ...

    def restart_node(self, spec: NodeSpec) -> NodeInfo:
        """Restart the node with ``spec`` (another plugin version), keeping its data, address
        and ports; a node that does not exist is created."""
        ...

    def delete_node(self, name: str) -> None:
        """Stop and remove the node, keeping its volume; a node that does not exist is no
        error."""
        ...

    def delete_volume(self, name: str) -> None:
        """Remove the volume of node ``name`` and its data; absent is no error."""
        ...

    def list_volumes(self, labels: Mapping[str, str]) -> list[VolumeInfo]:
        """Volumes whose labels include every pair of ``labels``: finds those to remove."""
        ...

    def get_node(self, name: str) -> NodeInfo | None:
        """The node of that name, or ``None``."""
        ...

    def list_nodes(self, labels: Mapping[str, str]) -> list[NodeInfo]:
        """Nodes whose labels include every pair of ``labels``: finds orphans to remove."""
        ...


def matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    """Whether ``labels`` hold every key of ``selector`` with the same value (subset match)."""
    return all(labels.get(key) == value for key, value in selector.items())


def check_name(name: str) -> None:
    """Refuse a name that cannot be a directory, a hostname or a unit label.

    The name becomes a path component and a hostname, so anything outside
    ``[a-z0-9-]`` (``..``, ``/``, a newline) is refused before it is used.
    """
    if NAME_PATTERN.fullmatch(name) is None:
        raise PermanentError(
            f"node name {name!r} must be 1-63 of [a-z0-9-] and start with a letter or digit"
        )
