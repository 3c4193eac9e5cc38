"""Several providers behind one: an admin's pins choose where a new node goes.

The orchestrator talks to one :class:`~metapaas.providers.base.Provider`; this
one holds every installed provider and routes:

- a new node goes to the provider its instance's project is pinned to, else
  its type's, else the server's default (``METAPAAS_PROVIDER``); a pin to a
  pool of hosts travels as the spec's ``host_labels``;
- a node some provider has already stays with it (a pin applies to nodes made
  or replaced after it), so a restart or a rollout never moves a node;
- finding, listing and deleting ask every provider (each is idempotent by name).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points

from sqlalchemy.orm import Session, sessionmaker

from metapaas.db import models
from metapaas.providers.base import (
    INSTANCE,
    NodeInfo,
    NodeSpec,
    Provider,
    ProviderContext,
    VolumeInfo,
)
from metapaas.sdk import PermanentError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "metapaas.providers"


@dataclass(frozen=True)
class Pin:
    provider: str
    host_labels: Mapping[str, str]


PinOf = Callable[[str], Pin | None]
"""The pin of an instance's new nodes, by instance id, or None."""


def installed() -> list[str]:
    return sorted({point.name for point in entry_points(group=ENTRY_POINT_GROUP)})


def make_provider(name: str, context: ProviderContext) -> Provider:
    """The provider registered as ``name``, made from ``context``."""
    found = {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}
    point = found.get(name)
    if point is None:
        raise PermanentError(
            f"unknown provider {name!r}; known providers: {', '.join(sorted(found))}"
        )
    provider: Provider = point.load()(context)
    return provider


def pins(sessions: sessionmaker[Session]) -> PinOf:
    """Pins as the database holds them: the project's, else the type's."""

    def pin_of(instance_id: str) -> Pin | None:
        with sessions() as session:
            instance = session.get(models.Instance, instance_id)
            if instance is None:
                return None
            for key in (("project", instance.project_id), ("type", instance.type_slug)):
                row = session.get(models.PlacementPin, key)
                if row is not None:
                    return Pin(row.provider, dict(row.host_labels))
        return None

    return pin_of


class RoutingProvider:
    def __init__(self, providers: Mapping[str, Provider], default: str, pin_of: PinOf) -> None:
        if default not in providers:
            raise PermanentError(f"the default provider {default!r} is not installed")
        # The default first: it holds most nodes, and finding a node asks in this order.
        self._providers = {default: providers[default], **providers}
        self._default = default
        self._pin_of = pin_of

    @classmethod
    def of_installed(cls, context: ProviderContext, default: str) -> RoutingProvider:
        made = {}
        for name in installed():
            try:
                made[name] = make_provider(name, context)
            except Exception:  # one broken provider must not stop the others
                log.exception("provider %s cannot start; nodes pinned to it wait", name)
        return cls(made, default, pins(context.sessions))

    def create_node(self, spec: NodeSpec) -> NodeInfo:
        holder = self._holder(spec.name)
        if holder is not None:
            return holder.create_node(spec)
        provider, routed = self._route(spec)
        return provider.create_node(routed)

    def restart_node(self, spec: NodeSpec) -> NodeInfo:
        holder = self._holder(spec.name)
        if holder is not None:
            return holder.restart_node(spec)
        provider, routed = self._route(spec)
        return provider.restart_node(routed)

    def delete_node(self, name: str) -> None:
        for provider in self._providers.values():
            provider.delete_node(name)

    def delete_volume(self, name: str) -> None:
        for provider in self._providers.values():
            provider.delete_volume(name)

    def get_node(self, name: str) -> NodeInfo | None:
        for provider in self._providers.values():
            found = provider.get_node(name)
            if found is not None:
                return found
        return None

    def list_nodes(self, labels: Mapping[str, str]) -> list[NodeInfo]:
        return [n for p in self._providers.values() for n in p.list_nodes(labels)]

    def list_volumes(self, labels: Mapping[str, str]) -> list[VolumeInfo]:
        return [v for p in self._providers.values() for v in p.list_volumes(labels)]

    def _holder(self, name: str) -> Provider | None:
        for provider in self._providers.values():
            if provider.get_node(name) is not None:
                return provider
        return None

    def _route(self, spec: NodeSpec) -> tuple[Provider, NodeSpec]:
        pin = self._pin_of(spec.labels.get(INSTANCE, ""))
        if pin is None:
            return self._providers[self._default], spec
        provider = self._providers.get(pin.provider)
        if provider is None:
            raise PermanentError(
                f"the instance is pinned to provider {pin.provider!r}, which is not available "
                f"here; available: {', '.join(self._providers)}"
            )
        return provider, dataclasses.replace(spec, host_labels=dict(pin.host_labels))
