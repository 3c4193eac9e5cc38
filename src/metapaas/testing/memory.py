"""An in-memory provider: nodes are records, no process runs.

For tests of the orchestrator and of a type's node plan, where starting real
agents would only cost time. It keeps the provider contract (idempotent by
name, ports kept across a restart, label selectors) and lets a test play the
machine: :meth:`MemoryProvider.stop` is a node whose processes died. Pair it
with :class:`~metapaas.testing.agents.SimulatedAgents` to have its nodes
register and report.
"""

from __future__ import annotations

import copy
import itertools
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from metapaas.providers import NodeInfo, NodeSpec, VolumeInfo, matches
from metapaas.providers.base import check_name

ADDRESS = "127.0.0.1"
FIRST_PORT = 40000


@dataclass
class MemoryNode:
    """One node as the provider keeps it. ``incarnation`` changes when it is created anew
    (not when it restarts), as a fresh node directory would."""

    spec: NodeSpec
    ports: dict[str, int]
    running: bool = True
    incarnation: str = field(default_factory=lambda: uuid.uuid4().hex)
    location: str = ""

    def info(self) -> NodeInfo:
        spec = self.spec
        return NodeInfo(
            spec.name,
            dict(spec.labels),
            ADDRESS,
            self.ports,
            self.running,
            spec.software,
            self.location,
        )


class MemoryProvider:
    """The provider contract over a dict; safe to share between threads."""

    def __init__(self) -> None:
        self.nodes: dict[str, MemoryNode] = {}
        #: Each node's volume (its labels), kept when the node is deleted.
        self.volumes: dict[str, dict[str, str]] = {}
        #: Raised by every create, restart and delete while set: a provider that refuses or
        #: is away.
        self.failure: Exception | None = None
        #: Where nodes created from now on live (their ``location``).
        self.place = ""
        self._ports = itertools.count(FIRST_PORT)
        self._lock = threading.Lock()

    def create_node(self, spec: NodeSpec) -> NodeInfo:
        """A running node is returned as it is; a stopped one restarts with ``spec``'s token."""
        check_name(spec.name)
        self._maybe_fail()
        with self._lock:
            node = self.nodes.get(spec.name)
            if node is not None and node.running:
                return node.info()
            if node is None:
                ports = {name: next(self._ports) for name in spec.ports}
                node = MemoryNode(spec, ports, location=self.place)
            else:
                node.spec, node.running = spec, True
            self.nodes[spec.name] = node
            self.volumes.setdefault(spec.name, dict(spec.labels))
            return node.info()

    def restart_node(self, spec: NodeSpec) -> NodeInfo:
        """The node runs ``spec`` from now on, with its ports and its incarnation (its data)."""
        check_name(spec.name)
        self._maybe_fail()
        with self._lock:
            node = self.nodes.get(spec.name)
            if node is None:
                ports = {name: next(self._ports) for name in spec.ports}
                node = MemoryNode(spec, ports, location=self.place)
            node.spec, node.running = spec, True
            self.nodes[spec.name] = node
            self.volumes.setdefault(spec.name, dict(spec.labels))
            return node.info()

    def delete_node(self, name: str) -> None:
        check_name(name)
        self._maybe_fail()
        with self._lock:
            self.nodes.pop(name, None)

    def delete_volume(self, name: str) -> None:
        self.delete_node(name)
        with self._lock:
            self.volumes.pop(name, None)

    def list_volumes(self, labels: Mapping[str, str]) -> list[VolumeInfo]:
        with self._lock:
            return [VolumeInfo(n, dict(v)) for n, v in self.volumes.items() if matches(v, labels)]

    def get_node(self, name: str) -> NodeInfo | None:
        check_name(name)
        with self._lock:
            node = self.nodes.get(name)
            return None if node is None else node.info()

    def list_nodes(self, labels: Mapping[str, str]) -> list[NodeInfo]:
        with self._lock:
            return [n.info() for n in self.nodes.values() if matches(n.spec.labels, labels)]

    def copy(self) -> MemoryProvider:
        """Another provider whose machines are as these are now: nodes, volumes and the
        ports it would give next (a test runs again from one moment)."""
        copied = MemoryProvider()
        with self._lock:
            copied.nodes = copy.deepcopy(self.nodes)
            copied.volumes = copy.deepcopy(self.volumes)
            copied._ports = copy.copy(self._ports)
        return copied

    def stop(self, name: str) -> None:
        """The node's processes are gone, as after a crash of its machine's agent."""
        with self._lock:
            self.nodes[name].running = False

    def lose(self, name: str) -> None:
        """The node's machine is gone, and its volume with it: a node created again is
        created anew, where :attr:`place` says."""
        with self._lock:
            self.nodes.pop(name, None)
            self.volumes.pop(name, None)

    def running(self) -> list[MemoryNode]:
        with self._lock:
            return [n for n in self.nodes.values() if n.running]

    def _maybe_fail(self) -> None:
        if self.failure is not None:
            raise self.failure
