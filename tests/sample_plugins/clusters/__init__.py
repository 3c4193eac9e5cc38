"""A type made for the orchestrator's tests: nodes of two roles, an ``init`` command on
one, metadata derived from the spec, and hooks a spec field makes fail on purpose.

Its nodes are meant for the in-memory provider and simulated agents
(``metapaas.testing``); it has no tables and runs nothing on a real node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from metapaas import sdk

Failure = Literal["", "permanent", "temporary"]


class ClusterSpec(BaseModel):
    replicas: int = Field(default=1, ge=0, le=3, description="Nodes of role replica.")
    setting: str = Field(default="a", max_length=20, description="Published to the nodes.")
    fail_plan: Failure = Field(default="", description="node_plan raises this kind of error.")
    fail_metadata: Failure = Field(default="", description="node_metadata raises it.")


class Clusters(sdk.PaasType):
    slug = "clusters"
    title = "Clusters (orchestrator tests)"
    versions = (sdk.Version("1.0", default=True),)
    spec = ClusterSpec
    # Short, so healing is seen in a few simulated seconds (agents heartbeat every 4).
    unreachable_after = 6.0
    replace_unhealthy_after = 6.0

    def node_plan(self, instance: sdk.InstanceView) -> Sequence[sdk.NodeGroup]:
        spec = _spec(instance)
        _fail(spec.fail_plan, "node_plan")
        return (
            sdk.NodeGroup("primary", ports=(sdk.Port("db", 5432),)),
            sdk.NodeGroup("replica", count=spec.replicas, ports=(sdk.Port("db", 5432),)),
        )

    def node_metadata(self, instance: sdk.InstanceView) -> Mapping[str, Any]:
        spec = _spec(instance)
        _fail(spec.fail_metadata, "node_metadata")
        return {"setting": spec.setting}

    def data_plane(self, role: str, version: sdk.Version) -> sdk.DataPlane:
        init = sdk.Command("init", ("true",), timeout=30.0)
        return sdk.DataPlane(commands=(init,) if role == "primary" else ())


def _spec(instance: sdk.InstanceView) -> ClusterSpec:
    assert isinstance(instance.spec, ClusterSpec)
    return instance.spec


def _fail(kind: Failure, hook: str) -> None:
    if kind == "permanent":
        raise sdk.PermanentError(f"{hook} refused for good")
    if kind == "temporary":
        raise sdk.TemporaryError(f"{hook} cannot answer yet", delay=7.0)
