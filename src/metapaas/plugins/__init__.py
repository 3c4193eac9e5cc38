"""Plugin discovery, the type registry and the models derived from declarations."""

from metapaas.plugins.discovery import DiscoveredType, check_contract
from metapaas.plugins.registry import LoadedType, Registry, describe
from metapaas.plugins.schemas import ModelSet, TypeSchemas

__all__ = [
    "DiscoveredType",
    "LoadedType",
    "ModelSet",
    "Registry",
    "TypeSchemas",
    "check_contract",
    "describe",
]
