"""Compute back ends that create, find and delete nodes.

Providers are plugins, like types: a distribution registers a factory
(``ProviderContext -> Provider``) in the ``metapaas.providers`` entry-point group,
and the orchestrator uses only the :class:`Provider` protocol, through
:class:`~metapaas.providers.routing.RoutingProvider` over every installed one
(admins' pins choose where new nodes go). The bundled ``local`` and ``ssh``
providers are registered the same way (``pyproject.toml``), so an OpenStack or
libvirt provider is one more distribution against the same contract.

This package's own face stays light: a host's side of a provider imports it
(no database, no web framework).
"""

from __future__ import annotations

from metapaas.providers.base import (
    INSTANCE,
    MANAGED,
    ROLE,
    TYPE,
    NodeInfo,
    NodeSpec,
    Provider,
    ProviderContext,
    VolumeInfo,
    matches,
)
from metapaas.providers.cloudinit import user_data
from metapaas.providers.local import LocalProvider

__all__ = [
    "INSTANCE",
    "MANAGED",
    "ROLE",
    "TYPE",
    "LocalProvider",
    "NodeInfo",
    "NodeSpec",
    "Provider",
    "ProviderContext",
    "VolumeInfo",
    "matches",
    "user_data",
]
