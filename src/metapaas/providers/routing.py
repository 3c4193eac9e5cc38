"""Several providers behind one: the providers' routing hooks choose where a new node goes.

The orchestrator talks to one :class:`~metapaas.providers.base.Provider`; this
one holds every installed provider and routes:

- a new node goes where the first routing hook that answers sends it (``ssh``
  answers with an admin's pin of the node's project, else of its type), else
  to the server's default provider (``METAPAAS_PROVIDER``); a route to a pool
  of hosts travels as the spec's ``host_labels``;
- a node some provider has already stays with it (a route applies to nodes
  made or replaced after it), so a restart or a rollout never moves a node;
- finding, listing and deleting ask every provider (each is idempotent by name).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from metapaas.providers.base import NodeInfo, NodeSpec, Provider, VolumeInfo
from metapaas.providers.installed import RouteOf
from metapaas.sdk import PermanentError


class RoutingProvider:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        default: str,
        routes: Sequence[RouteOf] = (),
        unusable: Mapping[str, str] | None = None,
    ) -> None:
        """``unusable`` says why an installed provider is missing from ``providers``."""
        if default not in providers:
            why = (unusable or {}).get(default)
            raise PermanentError(
                f"the default provider {default!r} is not available: {why}"
                if why
                else f"the default provider {default!r} is not installed; installed: "
                f"{', '.join(sorted(providers))}"
            )
        # The default first: it holds most nodes, and finding a node asks in this order.
        self._providers = {default: providers[default], **providers}
        self._default = default
        self._routes = list(routes)

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
        route = next((r for r in (route_of(spec.labels) for route_of in self._routes) if r), None)
        if route is None:
            return self._providers[self._default], spec
        provider = self._providers.get(route.provider)
        if provider is None:
            raise PermanentError(
                f"the instance is pinned to provider {route.provider!r}, which is not available "
                f"here; available: {', '.join(self._providers)}"
            )
        return provider, dataclasses.replace(spec, host_labels=dict(route.host_labels))
