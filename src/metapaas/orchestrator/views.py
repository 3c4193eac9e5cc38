"""What plugin hooks see of instances and nodes, built from the stored rows.

Node-only secrets (``sdk.secret(node_only=True)``) exist for the nodes: the
metadata document always carries them, while the hooks whose results reach
users get :func:`public_view`, and whatever the credentials hook answers
passes :func:`without_node_only`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from metapaas import sdk
from metapaas.db import Sealer, models
from metapaas.plugins import LoadedType
from metapaas.sdk import introspect


def version_of(loaded: LoadedType, name: str) -> sdk.Version:
    for version in loaded.declaration.versions:
        if version.name == name:
            return version
    raise sdk.PermanentError(f"version {name!r} is no longer in the {loaded.slug} catalog")


def resources_by_collection(
    session: Session, instance: models.Instance, sealer: Sealer
) -> dict[str, list[dict[str, Any]]]:
    """Child resources with their secrets, grouped: the data plane needs both."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    rows = session.scalars(
        select(models.Resource)
        .where(models.Resource.instance_id == instance.id)
        .order_by(models.Resource.collection, models.Resource.name)
    )
    for row in rows:
        grouped.setdefault(row.collection, []).append(
            {**row.spec, **sealer.unseal(row.sealed_secrets)}
        )
    return grouped


def instance_view(
    session: Session, instance: models.Instance, loaded: LoadedType, sealer: Sealer
) -> sdk.InstanceView:
    secrets = sealer.unseal(instance.sealed_secrets)
    spec = loaded.derived.instances.spec.model_validate({**instance.spec, **secrets})
    resources = resources_by_collection(session, instance, sealer)
    for collection in loaded.derived.resources:
        resources.setdefault(collection, [])
    return sdk.InstanceView(
        id=instance.id,
        slug=instance.type_slug,
        name=instance.name,
        project_id=instance.project_id,
        version=version_of(loaded, instance.version),
        generation=instance.generation,
        spec=spec,
        secrets=secrets,
        resources=resources,
    )


def public_view(view: sdk.InstanceView, declaration: sdk.PaasType) -> sdk.InstanceView:
    """``view`` as the hooks that answer users get it: node-only secrets are absent from
    ``secrets`` and None in ``spec``."""
    hidden = introspect.fields_marked(declaration.spec, introspect.NODE_ONLY_KEY)
    if not hidden:
        return view
    return dataclasses.replace(
        view,
        spec=view.spec.model_copy(update=dict.fromkeys(hidden)),
        secrets=_without(view.secrets, hidden),
    )


def without_node_only(
    answer: Mapping[str, Any], view: sdk.InstanceView, declaration: sdk.PaasType
) -> dict[str, Any]:
    """``answer`` with every entry whose key or string value equals one of ``view``'s
    node-only secrets dropped, at any depth: a hook cannot hand one to a user."""
    hidden = introspect.fields_marked(declaration.spec, introspect.NODE_ONLY_KEY)
    values = frozenset(v for k, v in view.secrets.items() if k in hidden)
    scrubbed: dict[str, Any] = _drop(answer, values)
    return scrubbed


def _drop(data: Any, values: frozenset[str]) -> Any:
    def kept(item: Any) -> bool:
        return not (isinstance(item, str) and item in values)

    if isinstance(data, Mapping):
        return {k: _drop(v, values) for k, v in data.items() if kept(k) and kept(v)}
    if isinstance(data, list | tuple):
        return [_drop(v, values) for v in data if kept(v)]
    return data


def credentials(
    session: Session, instance: models.Instance, loaded: LoadedType, sealer: Sealer
) -> dict[str, Any]:
    """What the type's ``credentials`` hook answers for the instance, without a node-only
    secret."""
    view = instance_view(session, instance, loaded, sealer)
    nodes = session.scalars(select(models.Node).where(models.Node.instance_id == instance.id))
    public = public_view(view, loaded.declaration)
    answer = loaded.declaration.credentials(public, node_views(nodes))
    return without_node_only(answer, view, loaded.declaration)


def node_views(nodes: Iterable[models.Node]) -> Sequence[sdk.NodeView]:
    return [
        sdk.NodeView(
            name=n.name,
            role=n.role,
            ordinal=n.ordinal,
            address=n.address,
            ports={k: int(v) for k, v in n.ports.items()},
        )
        for n in sorted(nodes, key=lambda n: (n.role, n.ordinal))
    ]


def metadata_document(
    view: sdk.InstanceView,
    declaration: sdk.PaasType,
    nodes: Sequence[sdk.NodeView],
    backup: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The instance-wide metadata every node of the instance reads.

    ``backup`` is where its backups go (``store``) and where a restore reads from
    (``source``), as ``sdk.Backups`` describes them; None each when there is none.
    """
    peers: dict[str, list[dict[str, Any]]] = {}
    for node in nodes:
        peers.setdefault(node.role, []).append(
            {
                "name": node.name,
                "ordinal": node.ordinal,
                "address": node.address,
                "ports": dict(node.ports),
            }
        )
    hidden = _hidden_secrets(declaration)
    return {
        "instance": {
            "id": view.id,
            "slug": view.slug,
            "name": view.name,
            "project_id": view.project_id,
            "generation": view.generation,
            "spec": view.spec.model_dump(mode="json", exclude=hidden.get("", set())),
            "secrets": _without(view.secrets, hidden.get("", set())),
        },
        "version": {"name": view.version.name, "engine": dict(view.version.engine)},
        "peers": peers,
        "resources": {
            collection: [_without(item, hidden.get(collection, set())) for item in items]
            for collection, items in view.resources.items()
        },
        "extra": dict(declaration.node_metadata(view)),
        "backup": {"store": None, "source": None, **(backup or {})},
    }


def _hidden_secrets(declaration: sdk.PaasType) -> dict[str, set[str]]:
    """Secret field names kept off the nodes, by collection (``""``: the instance spec);
    empty when the type lets its nodes have its secrets. Never a node-only secret: those
    exist for the nodes."""
    if declaration.node_secrets:
        return {}
    spec = declaration.spec
    users = introspect.fields_marked(spec, introspect.SECRET_KEY) - introspect.fields_marked(
        spec, introspect.NODE_ONLY_KEY
    )
    hidden = {"": set(users)}
    for child in declaration.resources:
        hidden[child.collection] = set(introspect.fields_marked(child.spec, introspect.SECRET_KEY))
    return hidden


def _without(item: Mapping[str, Any], names: Collection[str]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in names}
