"""What the control plane of ``fanout.py`` loads: a type whose node count is a spec field, and
a provider whose nodes are records (no process runs), each node's one-time bootstrap token
left in a file for the benchmark's simulated agents to register with.

``simkit.register_kit`` registers both under the name ``fanout`` through a hand-made
``.dist-info`` on the server's ``PYTHONPATH`` (the way another distribution would register
them), so the server is the real ``metapaas server`` and plans the nodes with its real
orchestrator. ``fanout-shared`` is the same provider for several worker processes.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from metapaas import sdk
from metapaas.providers import NodeInfo, NodeSpec, ProviderContext, VolumeInfo
from metapaas.testing.memory import MemoryProvider

TOKENS = "fanout-tokens"
"""Under the control plane's home: one file per node, named as the node, holding its token."""
SHARED = "fanout-nodes"
"""Under the control plane's home: the nodes of the ``fanout-shared`` provider."""


class FanoutSpec(BaseModel):
    nodes: int = Field(default=1, ge=1, le=5000, description="Nodes watching the metadata.")


class EntrySpec(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    value: str = Field(default="", max_length=1000)


class Fanout(sdk.PaasType[FanoutSpec]):
    slug = "fanout"
    title = "Fan-out benchmark"
    description = "Nodes that only watch their metadata; a change is a new entry."
    versions = (sdk.Version("1.0", default=True),)
    spec = FanoutSpec
    resources = (sdk.ChildResource("entries", EntrySpec, title="Entries every node reads"),)
    # The simulated agents report every revision they get but send no heartbeat (1,000
    # of them every 4 s would be a load of their own, and not the one measured): a node
    # is not unreachable within a run.
    unreachable_after = 3600.0

    def node_plan(self, instance: sdk.InstanceView[FanoutSpec]) -> Sequence[sdk.NodeGroup]:
        return (sdk.NodeGroup("watcher", count=instance.spec.nodes),)


class TokenFileProvider(MemoryProvider):
    """The in-memory provider, leaving each node's newest bootstrap token in ``tokens``."""

    def __init__(self, tokens: Path) -> None:
        super().__init__()
        self.tokens = tokens
        tokens.mkdir(parents=True, exist_ok=True)

    def create_node(self, spec: NodeSpec) -> NodeInfo:
        info = super().create_node(spec)
        self._leave_token(spec)
        return info

    def restart_node(self, spec: NodeSpec) -> NodeInfo:
        info = super().restart_node(spec)
        self._leave_token(spec)
        return info

    def _leave_token(self, spec: NodeSpec) -> None:
        # Written whole and renamed: the benchmark reads the directory meanwhile.
        scratch = self.tokens / f".{spec.name}"
        scratch.write_text(spec.bootstrap_token)
        os.replace(scratch, self.tokens / spec.name)


def from_context(context: ProviderContext) -> TokenFileProvider:
    """The ``fanout`` provider of the ``metapaas.providers`` entry points."""
    return TokenFileProvider(context.home / TOKENS)


class SharedTokenFileProvider(TokenFileProvider):
    """The token-file provider for several worker processes on one machine: its nodes
    live in one file (read and written under an exclusive lock around every call), so
    that a node one worker created is the same node to another, as a cloud's machines
    are to every control-plane replica."""

    def __init__(self, tokens: Path, shared: Path) -> None:
        super().__init__(tokens)
        self.shared = shared
        shared.parent.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def _machine(self) -> Iterator[None]:
        with sdk.exclusive(self.shared.with_suffix(".lock")):
            if self.shared.exists():
                state = self.shared.read_bytes()
                self.nodes, self.volumes, self._ports = pickle.loads(state)  # noqa: S301 (ours)
            yield
            sdk.write_private(self.shared, pickle.dumps((self.nodes, self.volumes, self._ports)))

    def create_node(self, spec: NodeSpec) -> NodeInfo:
        with self._machine():
            return super().create_node(spec)

    def restart_node(self, spec: NodeSpec) -> NodeInfo:
        with self._machine():
            return super().restart_node(spec)

    def delete_node(self, name: str) -> None:
        with self._machine():
            super().delete_node(name)

    def delete_volume(self, name: str) -> None:
        with self._machine():
            super().delete_volume(name)

    def list_volumes(self, labels: Mapping[str, str]) -> list[VolumeInfo]:
        with self._machine():
            return super().list_volumes(labels)

    def get_node(self, name: str) -> NodeInfo | None:
        with self._machine():
            return super().get_node(name)

    def list_nodes(self, labels: Mapping[str, str]) -> list[NodeInfo]:
        with self._machine():
            return super().list_nodes(labels)


def shared_from_context(context: ProviderContext) -> SharedTokenFileProvider:
    """The ``fanout-shared`` provider of the ``metapaas.providers`` entry points."""
    return SharedTokenFileProvider(context.home / TOKENS, context.home / SHARED / "nodes")
