"""Compute back ends that create, find and delete nodes.

The orchestrator asks :func:`make_provider` for one by name and uses only the
:class:`Provider` protocol, so a new back end (``ssh``, libvirt) is added here
without touching the orchestrator.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from metapaas.providers.base import (
    INSTANCE,
    MANAGED,
    ROLE,
    TYPE,
    NodeInfo,
    NodeSpec,
    Provider,
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
    "make_provider",
    "matches",
    "user_data",
]

_FACTORIES: dict[str, Callable[[Path], Provider]] = {"local": LocalProvider}


def make_provider(name: str, home: Path) -> Provider:
    """The provider called ``name``, keeping its state under ``home``."""
    factory = _FACTORIES.get(name)
    if factory is None:
        known = ", ".join(sorted(_FACTORIES))
        raise PermanentError(f"unknown provider {name!r}; known providers: {known}")
    return factory(home)
