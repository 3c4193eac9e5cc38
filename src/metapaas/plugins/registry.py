"""The set of PaaS types this control plane serves, with their migrations applied."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from importlib.metadata import EntryPoint
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from metapaas import sdk
from metapaas.db import migrate, models
from metapaas.errors import NotFound
from metapaas.plugins import discovery, schemas
from metapaas.plugins.schemas import TypeSchemas


@dataclass(frozen=True)
class LoadedType:
    """A discovered type, plus its derived models once it is usable."""

    found: discovery.DiscoveredType
    schemas: schemas.TypeSchemas | None = None
    error: str = ""
    wheelhouse: str = ""  # the wheelhouse it was loaded from; "" if bundled with the runtime

    @property
    def software(self) -> str:
        """What its nodes run, as they record it: ``<distribution> <version>``."""
        return f"{self.found.distribution} {self.found.distribution_version}".strip()

    @property
    def slug(self) -> str:
        return self.found.slug

    @property
    def status(self) -> str:
        return "ACTIVE" if self.usable else "ERROR"

    @property
    def usable(self) -> bool:
        return self.found.declaration is not None and self.schemas is not None and not self.error

    @property
    def declaration(self) -> sdk.PaasType:
        """The type's declaration; a type that has none (its plugin failed to load) is an
        error of whatever needs it, which names the type and why."""
        if self.found.declaration is None:
            raise sdk.PermanentError(f"type {self.slug} is in ERROR: {self.reason}")
        return self.found.declaration

    @property
    def derived(self) -> TypeSchemas:
        """The request, response and spec models derived from its declaration; a type that
        is not usable has none (it is not served), and asking is an error as
        :attr:`declaration`'s is."""
        if self.schemas is None:
            raise sdk.PermanentError(f"type {self.slug} is in ERROR: {self.reason}")
        return self.schemas

    @property
    def reason(self) -> str:
        return self.error or self.found.error

    def stream(self) -> migrate.Stream | None:
        declaration = self.found.declaration
        if declaration is None or declaration.migrations is None:
            return None
        return migrate.plugin_stream(self.slug, declaration.migrations)


class Registry:
    """Types by slug. Broken ones stay listed with their reason, never served."""

    def __init__(self, types: Iterable[LoadedType]) -> None:
        self._types: dict[str, LoadedType] = {}
        self.rejected: list[LoadedType] = []
        """Entries whose slug another entry holds (a duplicate): listed, never served."""
        for loaded in types:
            held = self._types.get(loaded.slug)
            if held is None:
                self._types[loaded.slug] = loaded
            elif loaded.usable and not held.usable:  # a failed entry never hides a working one
                self._types[loaded.slug] = loaded
                self.rejected.append(held)
            else:
                self.rejected.append(loaded)

    @classmethod
    def discover(
        cls, found: Iterable[EntryPoint] | None = None, environments: Mapping[str, str] = {}
    ) -> Registry:
        """Discover the types; ``environments`` maps a plugin environment's directory to its
        wheelhouse, for the types installed at run time."""
        return cls(
            replace(_prepare(d), wheelhouse=environments.get(d.site, ""))
            for d in discovery.discover(found)
        )

    def __iter__(self) -> Iterator[LoadedType]:
        return iter(sorted(self._types.values(), key=lambda t: t.slug))

    def usable(self) -> list[LoadedType]:
        return [t for t in self if t.usable]

    def get(self, slug: str) -> LoadedType:
        loaded = self._types.get(slug)
        if loaded is None:
            raise NotFound(f"no PaaS type {slug!r} is installed")
        return loaded

    def get_usable(self, slug: str) -> LoadedType:
        loaded = self.get(slug)
        if not loaded.usable:
            raise NotFound(f"PaaS type {slug!r} is in ERROR: {loaded.reason}")
        return loaded

    def migrate(self, engine: Engine) -> None:
        """Apply every usable type's stream; a failing one turns ERROR, the others go on."""
        for loaded in self.usable():
            stream = loaded.stream()
            if stream is None:
                continue
            try:
                migrate.upgrade(engine, stream)
            except migrate.MigrationError as exc:
                self._types[loaded.slug] = replace(loaded, error=str(exc))

    def is_current(self, engine: Engine) -> bool:
        streams = [migrate.CORE_STREAM] + [
            s for t in self.usable() if (s := t.stream()) is not None
        ]
        return all(migrate.is_current(engine, stream) for stream in streams)

    def record(self, session: Session) -> None:
        """Write what was found to ``paas_types`` so every replica and the API agree."""
        for loaded in self:
            row = session.get(models.PaasTypeRecord, loaded.slug) or models.PaasTypeRecord(
                slug=loaded.slug
            )
            row.distribution = loaded.found.distribution
            row.distribution_version = loaded.found.distribution_version
            row.status = loaded.status
            row.error = loaded.reason
            session.add(row)


def _prepare(found: discovery.DiscoveredType) -> LoadedType:
    if found.declaration is None:
        return LoadedType(found=found)
    try:
        return LoadedType(found=found, schemas=schemas.build(found.declaration))
    except Exception as exc:  # a spec pydantic cannot compose is a broken plugin
        return LoadedType(found=found, error=f"cannot build schemas: {exc}")


def describe(loaded: LoadedType, *, detail: bool = False) -> dict[str, Any]:
    """The public view of a type for ``/v1/types/``."""
    view: dict[str, Any] = {
        "slug": loaded.slug,
        "status": loaded.status,
        "error": loaded.reason,
        "distribution": loaded.found.distribution,
        "distribution_version": loaded.found.distribution_version,
        "title": "",
        "description": "",
        "versions": [],
        "collections": [],
    }
    declaration = loaded.found.declaration
    if declaration is None:
        return view
    view["title"] = declaration.title
    view["description"] = declaration.description
    view["versions"] = [
        {"name": v.name, "default": v.default, "deprecated": v.deprecated}
        for v in declaration.versions
    ]
    view["collections"] = [r.collection for r in declaration.resources]
    if detail and loaded.schemas is not None:
        view["instance_schema"] = loaded.schemas.instances.create.model_json_schema()
        view["resource_schemas"] = {
            name: models_.create.model_json_schema()
            for name, models_ in loaded.schemas.resources.items()
        }
    return view
