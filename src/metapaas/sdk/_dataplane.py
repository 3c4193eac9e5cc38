"""What a node of a PaaS type runs: declared by the plugin, applied by the agent.

Every string of an argv list, an environment value and a template is a Jinja2
template rendered with ``StrictUndefined`` against the node's metadata, so a
plugin never formats paths or ports by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

from metapaas.sdk._errors import PermanentError

MAX_PORT = 65_535


@dataclass(frozen=True)
class Port:
    """A port a node of a role listens on: its name and the engine's standard number.

    The metadata gives the port a node got as ``node.ports.<name>``. Where a
    node has an address of its own it gets ``number``; where nodes share one
    address each gets a port of its own, never ``number`` itself (the
    machine's own service may hold it). A server that listens on more ports
    than it is told (a gRPC port beside each HTTP port, say) must be given
    each of them as a port of its own, or two nodes on one address collide.
    """

    name: str
    number: int
    tls: bool = False
    """Whether the port speaks TLS: a node of a role with such a port gets a server
    certificate from the control plane's CA (``sdk.TLS_CERTIFICATE``)."""

    def __post_init__(self) -> None:
        if not 1 <= self.number <= MAX_PORT:
            raise PermanentError(f"port {self.name!r}: {self.number} is not a port number")


@dataclass(frozen=True)
class NodeGroup:
    """One role of an instance's node plan: how many nodes, which ports each needs.

    ``ports`` are the ports every node of the role gets (e.g.
    ``(sdk.Port("redis", 6379),)``): names and numbers distinct within the role.
    ``memory_mb`` is what a node of the role uses at most: a provider placing
    nodes on hosts reserves it there (0: not declared, nothing reserved).
    """

    role: str
    count: int = 1
    ports: tuple[Port, ...] = ()
    memory_mb: int = 0

    def __post_init__(self) -> None:
        for what, values in (
            ("name", [port.name for port in self.ports]),
            ("number", [port.number for port in self.ports]),
        ):
            if len(set(values)) != len(values):
                raise PermanentError(f"role {self.role!r} declares a port {what} twice")


@dataclass(frozen=True)
class Template:
    """A config file rendered from metadata.

    ``dest`` is relative to the node's directory. ``check`` runs on the staged
    file (``{{ staged }}`` names it) before it replaces the old one; ``reload``
    runs only when the content changed and the service is already running.
    """

    source: str
    dest: str
    mode: int = 0o600
    check: tuple[str, ...] = ()
    reload: tuple[str, ...] = ()

    @classmethod
    def from_package(
        cls,
        package: str,
        name: str,
        dest: str,
        *,
        mode: int = 0o600,
        check: tuple[str, ...] = (),
        reload: tuple[str, ...] = (),
    ) -> Template:
        """Load the template text shipped as package data."""
        text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
        return cls(source=text, dest=dest, mode=mode, check=check, reload=reload)


@dataclass(frozen=True)
class Service:
    """A long-running process the agent starts, supervises and stops."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    stop_timeout: float = 10.0


@dataclass(frozen=True)
class HealthCheck:
    """How the agent decides the service on its node serves.

    ``kind`` ``tcp`` connects to ``target`` (``host:port``), ``http`` expects a
    2xx from the URL ``target``, ``command`` expects exit code 0 from ``argv``.
    """

    kind: Literal["tcp", "http", "command"]
    target: str = ""
    argv: tuple[str, ...] = ()
    authority: str = ""
    """For an ``http`` check of an ``https`` URL: the CA certificate file the server's
    certificate must verify against, e.g. ``{{ node.tls.authority }}`` for the node's own
    TLS port (its certificate is signed by the control plane's CA, which no system trusts);
    empty: the system's CAs."""
    interval: float = 2.0
    timeout: float = 2.0
    failure_threshold: int = 3


@dataclass(frozen=True)
class Command:
    """A lifecycle command run on a node, once per command id.

    ``name`` is a lifecycle step (``init`` runs once after the node's first
    config is applied and its services started) or a custom action.
    """

    name: str
    argv: tuple[str, ...]
    timeout: float = 60.0
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DataPlane:
    """Everything the agent applies on a node of one role.

    ``required_binaries`` are names looked up on the agent's ``PATH``, or
    absolute paths; a missing one fails the node naming it.

    ``tls_reload`` tells the running service to take a renewed certificate
    (``{{ node.tls.certificate }}`` and the rest): the agent runs it after it
    replaced the node's certificate files under running services, as a
    template's ``reload``. A role with a TLS port declares it, or its engine
    serves the old certificate until its next start.
    """

    templates: tuple[Template, ...] = ()
    services: tuple[Service, ...] = ()
    health: tuple[HealthCheck, ...] = ()
    commands: tuple[Command, ...] = ()
    required_binaries: tuple[str, ...] = ()
    tls_reload: tuple[str, ...] = ()
