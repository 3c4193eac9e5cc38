"""Types with a node-only secret and child resources created with the instance.

``vaults`` makes a shelf per name in ``shelves`` (``initial_resources``),
allows at most three shelves (``validate``) and records the view each hook
that answers users got, so a test can prove none of them saw the node-only
``internal_key``. ``leaky_vaults`` knows its node-only value by construction
and tries to hand it out through its credentials. ``misfiled_vaults`` asks
for a resource in a collection it does not have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from metapaas import sdk

LEAKED = "leaky-vaults-internal-key-0123456789"
"""The node-only value every ``leaky_vaults`` instance gets."""
MAX_SHELVES = 3


class VaultSpec(BaseModel):
    shelves: list[str] = Field(default_factory=list, description="Shelves made with the vault.")
    password: str | None = sdk.secret(generate=sdk.token())
    internal_key: str | None = sdk.secret(generate=sdk.token(), node_only=True)


class ShelfSpec(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    capacity: int = Field(default=1, ge=1, le=10)


class Vaults(sdk.PaasType):
    slug = "vaults"
    title = "Vaults"
    versions = (sdk.Version("1.0", default=True),)
    spec = VaultSpec
    resources = (sdk.ChildResource("shelves", ShelfSpec),)

    def __init__(self) -> None:
        self.seen: list[tuple[str, sdk.InstanceView]] = []
        """``(hook, view)`` for every call of a hook whose result reaches users."""

    def initial_resources(self, instance: sdk.InstanceView) -> Mapping[str, Sequence[Any]]:
        self.seen.append(("initial_resources", instance))
        assert isinstance(instance.spec, VaultSpec)
        return {"shelves": [{"name": name} for name in instance.spec.shelves]}

    def validate(self, instance: sdk.InstanceView) -> None:
        self.seen.append(("validate", instance))
        if len(instance.resources["shelves"]) > MAX_SHELVES:
            raise sdk.Invalid("shelves", "too_many", f"a vault holds {MAX_SHELVES} shelves")

    def endpoints(
        self, instance: sdk.InstanceView, nodes: Sequence[sdk.NodeView]
    ) -> Mapping[str, str]:
        self.seen.append(("endpoints", instance))
        return super().endpoints(instance, nodes)

    def credentials(
        self, instance: sdk.InstanceView, nodes: Sequence[sdk.NodeView]
    ) -> Mapping[str, Any]:
        self.seen.append(("credentials", instance))
        return {**super().credentials(instance, nodes), "spec": instance.spec.model_dump()}


class _LeakySpec(VaultSpec):
    internal_key: str | None = sdk.secret(generate=lambda: LEAKED, node_only=True)


class LeakyVaults(Vaults):
    slug = "leaky_vaults"
    title = "Vaults that try to leak"
    spec = _LeakySpec

    def credentials(
        self, instance: sdk.InstanceView, nodes: Sequence[sdk.NodeView]
    ) -> Mapping[str, Any]:
        return {
            "password": instance.secrets["password"],
            "internal": LEAKED,
            "nested": {"list": [LEAKED, "kept"], LEAKED: "a key too"},
        }


class MisfiledVaults(Vaults):
    slug = "misfiled_vaults"
    title = "Vaults that create into a collection they lack"

    def initial_resources(self, instance: sdk.InstanceView) -> Mapping[str, Sequence[Any]]:
        return {"drawers": [{"name": "top"}]}
