"""The ``ssh`` provider: nodes on a pool of hosts an admin registers, reached over SSH.

This module is the declaration alone, and light: the ``metapaas`` command and a
host's side (:mod:`.hostside`) import it, so each hook imports what it needs.

- :mod:`.tables`: the provider's tables (``ssh_hosts``, ``ssh_host_nodes``,
  ``ssh_host_volumes``, ``ssh_pins``), made by its own migration stream;
- :mod:`.remote`: SSH sessions with pinned host keys, shared by threads;
- :mod:`.software`: the runtime bundle and plugin versions, sent to hosts;
- :mod:`.placement`: which host takes a node (capacity, labels, volume, spread);
- :mod:`.provider`: the provider contract over the pool; :mod:`.hostside` its
  half on a host;
- :mod:`.monitor`: the host monitor, the one owner of a host's state, run while
  a host is registered;
- :mod:`.pins`: where a project's or a type's new nodes go;
- :mod:`.api`, :mod:`.client`, :mod:`.cli` and ``console/hosts.js``: the
  routes (``/v1/hosts``, ``/v1/placement/pins``), their client, the
  ``metapaas hosts`` and ``metapaas pins`` commands and the console's Hosts page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from metapaas.providers import ConsolePage, ProviderContext, ProviderPlugin, Route

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter

    from metapaas_ssh.monitor import HostMonitor
    from metapaas_ssh.provider import SshProvider

NAME = "ssh"
DISTRIBUTION = "metapaas-ssh"
"""Bundled for the hosts beside the runtime: they run :mod:`.hostside` from it."""
HERE = Path(__file__).parent


class SshSettings(BaseModel):
    """``METAPAAS_SSH_*``."""

    model_config = ConfigDict(extra="forbid")

    host_check_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How often each host is checked (METAPAAS_SSH_HOST_CHECK_SECONDS).",
    )


class Ssh(ProviderPlugin[SshSettings, "SshProvider"]):
    """Hosts an admin registers; see the module docstring."""

    name = NAME
    title = "A pool of hosts reached over SSH"
    settings = SshSettings
    migrations = HERE / "migrations" / "versions"
    console_files = HERE / "console"
    console_pages = (ConsolePage("hosts", "Hosts", "hosts.js", admin=True),)

    def routers(self) -> Sequence[APIRouter]:
        from metapaas_ssh.api import hosts, pins

        return (hosts.router, pins.router)

    def make(self, context: ProviderContext[SshSettings]) -> SshProvider:
        from metapaas_ssh.provider import SshProvider

        return SshProvider.of(context)

    def in_use(self, context: ProviderContext[SshSettings]) -> bool:
        from metapaas_ssh.tables import any_host

        return any_host(context.sessions)

    def background(
        self, context: ProviderContext[SshSettings], provider: SshProvider
    ) -> HostMonitor:
        from metapaas_ssh.monitor import HostMonitor

        return HostMonitor.of(context, provider)

    def route(
        self, context: ProviderContext[SshSettings], labels: Mapping[str, str]
    ) -> Route | None:
        from metapaas_ssh.pins import route

        return route(context.sessions, labels)

    def commands(self) -> Mapping[str, typer.Typer]:
        from metapaas_ssh.cli import hosts, pins

        return {"hosts": hosts.app, "pins": pins.app}
