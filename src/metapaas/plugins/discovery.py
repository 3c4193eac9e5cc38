"""Find PaaS types through the ``metapaas.plugins`` entry-point group and check their contract.

A plugin that fails to import or breaks the contract is reported with the
reason and never stops discovery of the others.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Literal

from pydantic import BaseModel

from metapaas import sdk
from metapaas.sdk import introspect
from metapaas.sdk.introspect import ENTRY_POINT_GROUP

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
COLLECTION_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
COMMON_FIELDS = frozenset({"name", "version", "description", "project_id", "restore"})
RESERVED_COLLECTIONS = frozenset(
    {"instances", "credentials", "events", "actions", "operations", "backups", "backup-policy"}
)

TypeStatus = Literal["ACTIVE", "ERROR"]


@dataclass(frozen=True)
class DiscoveredType:
    """One entry point's outcome: a working declaration, or the reason it has none."""

    slug: str
    entry_point: str
    distribution: str
    distribution_version: str
    declaration: sdk.PaasType | None
    error: str = ""
    site: str = ""  # the directory its distribution is installed in

    @property
    def status(self) -> TypeStatus:
        return "ACTIVE" if self.declaration is not None else "ERROR"


class ContractError(Exception):
    """The declaration breaks the plugin contract."""


def discover(found: Iterable[EntryPoint] | None = None) -> list[DiscoveredType]:
    """Load and check every entry point; duplicate slugs after the first are errors."""
    points = entry_points(group=ENTRY_POINT_GROUP) if found is None else found
    results: list[DiscoveredType] = []
    taken: dict[str, str] = {}
    for point in sorted(points, key=lambda p: (p.name, p.value)):
        result = _load(point)
        owner = taken.get(result.slug)
        if owner is not None and result.declaration is not None:
            result = _failed(point, f"slug {result.slug!r} is already provided by {owner}")
        elif result.declaration is not None:
            taken[result.slug] = point.value
        results.append(result)
    return results


def _load(point: EntryPoint) -> DiscoveredType:
    try:
        loaded = point.load()
        declaration = loaded() if isinstance(loaded, type) else loaded
        if not isinstance(declaration, sdk.PaasType):
            raise ContractError(f"{point.value} is not a metapaas.sdk.PaasType")
        check_contract(declaration)
    except Exception as exc:  # a broken plugin is reported, never fatal
        return _failed(point, f"{type(exc).__name__}: {exc}")
    dist = point.dist
    return DiscoveredType(
        slug=declaration.slug,
        entry_point=point.value,
        distribution=dist.name if dist else "",
        distribution_version=dist.version if dist else "",
        declaration=declaration,
        site=str(dist.locate_file("")) if dist else "",
    )


def _failed(point: EntryPoint, error: str) -> DiscoveredType:
    dist = point.dist
    return DiscoveredType(
        slug=point.name,
        entry_point=point.value,
        distribution=dist.name if dist else "",
        distribution_version=dist.version if dist else "",
        declaration=None,
        error=error,
    )


def check_contract(paas_type: sdk.PaasType) -> None:
    """Raise :class:`ContractError` naming the first rule the declaration breaks."""
    slug = getattr(paas_type, "slug", None)
    if not isinstance(slug, str) or not SLUG_PATTERN.match(slug):
        raise ContractError(f"slug {slug!r} must match {SLUG_PATTERN.pattern}")
    if not isinstance(getattr(paas_type, "title", None), str) or not paas_type.title:
        raise ContractError("title must be a non-empty string")
    _check_versions(paas_type)
    _check_model(getattr(paas_type, "spec", None), "spec")
    clash = COMMON_FIELDS & set(paas_type.spec.model_fields)
    if clash:
        raise ContractError(f"spec fields {sorted(clash)} clash with the common instance fields")
    _check_node_only(paas_type.spec)
    _check_resources(paas_type)
    if paas_type.migrations is not None and not paas_type.migrations.is_dir():
        raise ContractError(f"migrations directory {paas_type.migrations} does not exist")


def _check_versions(paas_type: sdk.PaasType) -> None:
    versions = list(getattr(paas_type, "versions", ()))
    if not versions or not all(isinstance(v, sdk.Version) for v in versions):
        raise ContractError("versions must be a non-empty list of sdk.Version")
    names = [v.name for v in versions]
    if len(set(names)) != len(names):
        raise ContractError(f"version names must be unique, got {names}")
    if sum(v.default for v in versions) > 1:
        raise ContractError("at most one version may be the default")
    if all(v.deprecated for v in versions):
        raise ContractError("at least one version must not be deprecated")


def _check_model(model: object, what: str) -> None:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ContractError(f"{what} must be a pydantic BaseModel subclass")


def _check_resources(paas_type: sdk.PaasType) -> None:
    seen: set[str] = set()
    for resource in paas_type.resources:
        if not isinstance(resource, sdk.ChildResource):
            raise ContractError("resources must be sdk.ChildResource entries")
        name = resource.collection
        if not COLLECTION_PATTERN.match(name) or name in RESERVED_COLLECTIONS:
            raise ContractError(f"collection {name!r} is not allowed")
        if name in seen:
            raise ContractError(f"collection {name!r} is declared twice")
        seen.add(name)
        _check_model(resource.spec, f"{name} spec")
        if "name" not in resource.spec.model_fields:
            raise ContractError(f"{name} spec must have a 'name' field")
        node_only = introspect.fields_marked(resource.spec, introspect.NODE_ONLY_KEY)
        if node_only:
            raise ContractError(
                f"{name} spec declares node-only secrets {sorted(node_only)}: "
                "only the instance spec may"
            )


def _check_node_only(spec: type[BaseModel]) -> None:
    """A node-only secret is sealed like any secret and made by the runtime: no one gives it."""
    node_only = introspect.fields_marked(spec, introspect.NODE_ONLY_KEY)
    unsealed = node_only - introspect.fields_marked(spec, introspect.SECRET_KEY)
    if unsealed:
        raise ContractError(f"node-only fields {sorted(unsealed)} must be secrets (sdk.secret)")
    ungenerated = node_only - set(introspect.secret_generators(spec))
    if ungenerated:
        raise ContractError(
            f"node-only secrets {sorted(ungenerated)} need a generator: "
            "sdk.secret(generate=..., node_only=True)"
        )
