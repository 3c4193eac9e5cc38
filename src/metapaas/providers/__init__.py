"""Compute back ends that create, find and delete nodes: the provider contract.

Providers come in as types do: a distribution subclasses
:class:`ProviderPlugin` (its settings, tables, routes, commands, console pages,
background work and routing of new nodes) and registers it in the
:data:`ENTRY_POINT_GROUP` entry-point group. The orchestrator uses only the
:class:`Provider` protocol, through
:class:`~metapaas.providers.routing.RoutingProvider` over every installed
one. The bundled ``local`` provider (:class:`~.local.Local`) is registered
the same way (``pyproject.toml``), and so is ``ssh``, a distribution of its
own (``plugins/ssh``).

This face is what a provider distribution imports, and it stays light: the
``metapaas`` command and a host's side of a provider import it (no database,
no web framework).
"""

from __future__ import annotations

from metapaas.providers.base import (
    INSTANCE,
    MANAGED,
    PROJECT,
    ROLE,
    TYPE,
    NodeInfo,
    NodeSpec,
    Provider,
    VolumeInfo,
    check_name,
    matches,
)
from metapaas.providers.cloudinit import user_data
from metapaas.providers.contract import (
    ENTRY_POINT_GROUP,
    Background,
    ConsolePage,
    NoSettings,
    ProviderContext,
    ProviderPlugin,
    Route,
    Sealing,
)
from metapaas.providers.local import LocalProvider

__all__ = [
    "ENTRY_POINT_GROUP",
    "INSTANCE",
    "MANAGED",
    "PROJECT",
    "ROLE",
    "TYPE",
    "Background",
    "ConsolePage",
    "LocalProvider",
    "NoSettings",
    "NodeInfo",
    "NodeSpec",
    "Provider",
    "ProviderContext",
    "ProviderPlugin",
    "Route",
    "Sealing",
    "VolumeInfo",
    "check_name",
    "matches",
    "user_data",
]
