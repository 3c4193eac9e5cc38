"""What the control plane of ``fanout.py`` loads: a type whose node count is a spec field, and
a provider whose nodes are records (no process runs), each node's one-time bootstrap token
left in a file for the benchmark's simulated agents to register with.

``fanout.py`` registers both under the name ``fanout`` through a hand-made ``.dist-info``
on the server's ``PYTHONPATH`` (the way another distribution would register them), so the
server is the real ``metapaas server`` and plans the nodes with its real orchestrator.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from metapaas import sdk
from metapaas.providers import NodeInfo, NodeSpec, ProviderContext
from metapaas.testing.memory import MemoryProvider

TOKENS = "fanout-tokens"
"""Under the control plane's home: one file per node, named as the node, holding its token."""


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
