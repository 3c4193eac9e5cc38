"""No response of the API shows a node-only secret, for every installed type, nor a
private key of the CA or of a node's certificate.

Every type ``Registry.discover()`` finds (demo, redis, postgres, s3) gets an
instance and a child resource of each collection on a fresh database; the
instance is then arranged as served (status and a node row written directly,
as the orchestrator would, which does not run here) so its credentials
answer. Every response the API has for it is read back and searched for the
node-only values the sealed store holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from httpx import Response

from metapaas import orchestrator
from metapaas.db import models
from metapaas.orchestrator import certificates, events
from metapaas.plugins import LoadedType, Registry
from metapaas.sdk import introspect
from metapaas.testing import InProcessControlPlane, in_process


@dataclass(frozen=True)
class Example:
    """A valid instance of a type, and per collection a child to create and a change to it."""

    instance: Mapping[str, Any] = field(default_factory=dict)
    children: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = field(
        default_factory=dict
    )


NOW = models.utcnow()
EXAMPLES = {
    "demo": Example({"message": "hi"}, {"pages": ({"name": "index", "content": "x"}, {})}),
    "redis": Example(
        children={"users": ({"name": "app", "keys": ["app:*"]}, {"access": "readonly"})}
    ),
    "postgres": Example(
        children={
            "databases": ({"name": "shop"}, {}),
            "roles": ({"name": "app", "grants": [{"database": "shop"}]}, {"grants": []}),
        }
    ),
    "s3": Example(
        {"bucket_name": "data", "encryption": "aes256"},
        {
            "buckets": ({"name": "logs"}, {"versioning": True}),
            "access_keys": ({"name": "reader", "buckets": ["data"]}, {"access": "read-write"}),
        },
    ),
}


@pytest.fixture
def installed(empty_database_url: str, tmp_path: Path) -> Iterator[InProcessControlPlane]:
    """The API over a fresh database migrated for every installed type."""
    with in_process(empty_database_url, tmp_path / "home") as plane:
        yield plane


def test_every_installed_type_and_collection_has_an_example() -> None:
    usable = Registry.discover().usable()
    assert {t.slug for t in usable} == set(EXAMPLES)
    for loaded in usable:
        collections = {r.collection for r in loaded.declaration.resources}
        assert collections == set(EXAMPLES[loaded.slug].children), loaded.slug
    assert any(_node_only(t) for t in usable), "no installed type has a node-only secret"


def test_no_response_shows_a_node_only_secret(
    installed: InProcessControlPlane, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    openapi = installed.get("/openapi.json").text
    shown_anywhere = 0
    keys = 0
    for loaded in installed.state.registry.usable():
        responses = _every_response(installed, loaded, EXAMPLES[loaded.slug])
        values = _node_only_values(installed, loaded)
        assert all(values.values()), f"{loaded.slug}: a node-only secret was not made"
        private = _private_keys(installed, loaded)
        for response in [*responses, installed.client.get("/v1/ca.pem")]:
            assert response.status_code < 300, (response.request.url, response.text)
            for name, value in {**values, **private}.items():
                assert value not in response.text, (loaded.slug, name, response.request.url)
        for name, value in {**values, **private}.items():
            assert value not in caplog.text, f"{loaded.slug}: {name} was logged"
        for name in _node_only(loaded):
            assert f'"{name}"' not in openapi, f"the OpenAPI document names {name}"
        shown_anywhere += len(values)
        keys += len(private)
    assert shown_anywhere >= 2  # s3's sse_kek and internal_signing_key were looked for
    assert keys > len(EXAMPLES), "the CA's key and nodes' keys were looked for"


def _private_keys(api: InProcessControlPlane, loaded: LoadedType) -> dict[str, str]:
    """The CA's key and those of the type's instance's node certificates, as PEM bodies."""
    keys = {"the CA key": api.state.authority().key_pem}
    with api.session() as session:
        instance = session.query(models.Instance).filter_by(type_slug=loaded.slug).one()
        for node in session.query(models.Node).filter_by(instance_id=instance.id):
            if node.tls_sealed_key:
                keys[f"{node.name}'s key"] = api.state.sealer.unseal(node.tls_sealed_key)["key"]
    # The base64 body alone: a key re-wrapped or escaped in JSON still shows its lines.
    return {name: pem.splitlines()[1] for name, pem in keys.items()}


def _every_response(
    api: InProcessControlPlane, loaded: LoadedType, example: Example
) -> list[Response]:
    """Create an instance and one child per collection, arrange it as served, then
    read every answer the API has about it."""
    slug = loaded.slug
    path = f"/v1/types/{slug}/instances/{slug}-one"
    created = api.post(
        f"/v1/types/{slug}/instances", json={"name": f"{slug}-one", **example.instance}
    )
    responses = [created]
    for collection, (body, change) in example.children.items():
        name = body["name"]
        responses += [
            api.post(f"{path}/{collection}", json=body),
            api.get(f"{path}/{collection}"),
            api.get(f"{path}/{collection}/{name}"),
            api.patch(f"{path}/{collection}/{name}", json=change),
        ]
    updated = api.patch(path, json={"description": "changed"})
    _serve(api, loaded, created.json()["id"])
    responses += [
        updated,
        api.get(path),
        api.get(f"/v1/types/{slug}/instances", params={"name": f"{slug}-one"}),
        api.get(f"{path}/credentials"),
        api.get(f"{path}/events"),
        api.get(f"/v1/operations/{created.json()['operation_id']}"),
        api.get(f"/v1/operations/{updated.json()['operation_id']}"),
        api.get("/v1/audit"),
        api.get(f"/v1/types/{slug}/"),
    ]
    return responses


def _serve(api: InProcessControlPlane, loaded: LoadedType, instance_id: str) -> None:
    """What the orchestrator writes once every node serves: the planned nodes with their
    ports, an event, the status and the endpoints."""
    with api.session() as session:
        instance = session.get(models.Instance, instance_id)
        assert instance is not None
        view = orchestrator.instance_view(session, instance, loaded, api.state.sealer)
        port = 41000
        for group in loaded.declaration.node_plan(view):
            for ordinal in range(group.count):
                ports = {p.name: port + i for i, p in enumerate(group.ports)}
                node = models.Node(
                    name=orchestrator.node_name(instance.id, group.role, ordinal),
                    instance_id=instance.id,
                    role=group.role,
                    ordinal=ordinal,
                    address="127.0.0.1",
                    ports=ports,
                    state=models.NodeState.RUNNING,
                )
                authority = api.state.authority()
                certificates.keep_current(node, group, authority, api.state.sealer, NOW)
                session.add(node)
                port += 100
        session.flush()
        events.record(session, instance.id, "status_changed", "IN_PROGRESS -> ACTIVE")
        nodes = session.query(models.Node).filter_by(instance_id=instance.id).all()
        public = orchestrator.public_view(view, loaded.declaration)
        instance.endpoints = dict(
            loaded.declaration.endpoints(public, orchestrator.node_views(nodes))
        )
        instance.status = models.InstanceStatus.ACTIVE
        instance.observed_generation = instance.generation
        session.commit()


def _node_only(loaded: LoadedType) -> frozenset[str]:
    return introspect.fields_marked(loaded.declaration.spec, introspect.NODE_ONLY_KEY)


def _node_only_values(api: InProcessControlPlane, loaded: LoadedType) -> dict[str, str]:
    """The node-only secrets of the type's instance, read from the sealed store; checked
    to reach the nodes, so the search is for values that exist."""
    with api.session() as session:
        instance = session.query(models.Instance).filter_by(type_slug=loaded.slug).one()
        sealed = api.state.sealer.unseal(instance.sealed_secrets)
        view = orchestrator.instance_view(session, instance, loaded, api.state.sealer)
        nodes = orchestrator.node_views(
            session.query(models.Node).filter_by(instance_id=instance.id).all()
        )
    values = {name: sealed.get(name, "") for name in _node_only(loaded)}
    document = repr(orchestrator.metadata_document(view, loaded.declaration, nodes))
    assert all(value in document for value in values.values()), "nodes must get them"
    return values
