"""Compute back ends that create, find and delete nodes.

Providers are plugins, like types: a distribution registers a factory
(``ProviderContext -> Provider``) in the ``metapaas.providers`` entry-point group,
and the orchestrator asks :func:`make_provider` for one by name and uses only
the :class:`Provider` protocol. The bundled ``local`` provider is registered
the same way (``pyproject.toml``), so an OpenStack or libvirt provider is one
more distribution against the same contract.
"""

from __future__ import annotations

from importlib.metadata import entry_points

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
from metapaas.sdk import PermanentError

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
    "make_provider",
    "matches",
    "user_data",
]

ENTRY_POINT_GROUP = "metapaas.providers"


def make_provider(name: str, context: ProviderContext) -> Provider:
    """The provider registered as ``name``, made from ``context``."""
    found = {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}
    point = found.get(name)
    if point is None:
        known = ", ".join(sorted(found))
        raise PermanentError(f"unknown provider {name!r}; known providers: {known}")
    provider: Provider = point.load()(context)
    return provider
