"""The provider's routes for Python programs and its commands: groups of the MetaPaaS client.

Bind a group to a client (sync or async) and call it::

    with Client(url, token) as api:
        Hosts(api).register("host1", address="10.0.0.11", ...)

It imports nothing of the server, as the client itself does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from metapaas.client.extend import Answer, Call, Group, Items, S, call, no_answer, route, segment


class HostAmounts(Answer):
    """Nodes and memory: what a host may run (``capacity``) or runs now (``used``)."""

    nodes: int
    memory_mb: int


class HostNode(Answer):
    """A node placed on a host."""

    name: str
    instance_id: str = ""
    type: str = ""
    ports: dict[str, int] = Field(default_factory=dict)
    memory_mb: int = 0


class Host(Answer):
    """A host of the ``ssh`` provider's pool (admins); its private key is never shown."""

    name: str
    address: str
    port: int
    user: str
    host_key: str
    capacity: HostAmounts
    used: HostAmounts
    labels: dict[str, str] = Field(default_factory=dict)
    install_packages: bool = Field(
        default=False, description="Whether the control plane may apt-install what types need."
    )
    state: str = Field(description="PENDING until checked, then READY, UNREACHABLE or UNSUITABLE.")
    state_reason: str = ""
    draining: bool
    facts: dict[str, Any] = Field(
        default_factory=dict, description="What the last check found (Python, machine, memory)."
    )
    nodes: list[HostNode] = Field(default_factory=list)
    checked_at: datetime | None = None
    created_at: datetime


class Pin(Answer):
    """Where a project's or a type's new nodes go: a provider, and a pool of its hosts."""

    scope: str = Field(description="project or type")
    target: str = Field(description="The project's id or the type's slug.")
    provider: str
    host_labels: dict[str, str] = Field(default_factory=dict)
    created_at: datetime


class Hosts(Group[S]):
    """Hosts of the ``ssh`` provider's pool (admins): registered, drained, resumed, removed."""

    @route
    def list(self) -> Call[Items[Host]]:
        return call("GET", "/v1/hosts", Items[Host])

    @route
    def get(self, name: str) -> Call[Host]:
        return call("GET", f"/v1/hosts/{segment(name)}", Host)

    @route
    def register(
        self,
        name: str,
        *,
        address: str,
        private_key: str,
        host_key: str,
        nodes: int,
        memory_mb: int,
        port: int | None = None,
        user: str | None = None,
        labels: dict[str, str] | None = None,
        install_packages: bool | None = None,
    ) -> Call[Host]:
        """The host, ``PENDING`` until the host monitor checked it; ``private_key`` (the
        login's, unencrypted) is sealed by the server and never shown again."""
        given = {
            "port": port,
            "user": user,
            "labels": labels,
            "install_packages": install_packages,
        }
        body = {
            "name": name,
            "address": address,
            "private_key": private_key,
            "host_key": host_key,
            "capacity": {"nodes": nodes, "memory_mb": memory_mb},
        } | {k: v for k, v in given.items() if v is not None}
        return call("POST", "/v1/hosts", Host, json=body)

    @route
    def drain(self, name: str) -> Call[Host]:
        """Its nodes move to other hosts, one at a time; it takes no new ones."""
        return call("POST", f"/v1/hosts/{segment(name)}/actions/drain", Host)

    @route
    def resume(self, name: str) -> Call[Host]:
        """End a drain: the host takes new nodes again."""
        return call("POST", f"/v1/hosts/{segment(name)}/actions/resume", Host)

    @route
    def remove(self, name: str) -> Call[None]:
        """Refused (409) while the host holds a node or a volume."""
        return no_answer("DELETE", f"/v1/hosts/{segment(name)}")


class Pins(Group[S]):
    """Placement pins (admins): where a project's or a type's new nodes go."""

    @route
    def list(self) -> Call[Items[Pin]]:
        return call("GET", "/v1/placement/pins", Items[Pin])

    @route
    def set(
        self, scope: str, target: str, *, provider: str, host_labels: dict[str, str] | None = None
    ) -> Call[Pin]:
        """Pin the project (``scope="project"``, its id) or the type (its slug)."""
        body = {"provider": provider, "host_labels": host_labels or {}}
        return call("PUT", f"/v1/placement/pins/{segment(scope)}/{segment(target)}", Pin, json=body)

    @route
    def remove(self, scope: str, target: str) -> Call[None]:
        return no_answer("DELETE", f"/v1/placement/pins/{segment(scope)}/{segment(target)}")
