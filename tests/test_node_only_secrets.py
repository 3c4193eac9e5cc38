"""Node-only secrets (``sdk.secret(node_only=True)``): made at create, sealed, given to the
nodes, and shown to no user by any request, response or hook that answers users."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import BaseModel, Field

from metapaas import providers, sdk
from metapaas.db import models
from metapaas.orchestrator import Reconciler, metadata_document, public_view, without_node_only
from metapaas.plugins import Registry, check_contract
from metapaas.plugins.discovery import ContractError
from metapaas.sdk import introspect
from metapaas.testing import InProcessControlPlane, instance_view
from tests import sample_plugins
from tests.conftest import MakeApi
from tests.helpers import field_rules, problem
from tests.sample_plugins.vaults import LEAKED, Vaults, VaultSpec

VAULTS = "/v1/types/vaults/instances"
NODE = sdk.NodeView("v-main-0", "main", 0, "127.0.0.1", {"http": 40000})


# -- the declaration ------------------------------------------------------------


class _Plain(BaseModel):
    size: int = 1


class _Named(BaseModel):
    name: str


class _Ungenerated(BaseModel):
    key: str | None = sdk.secret(node_only=True)


class _NotSecret(BaseModel):
    key: str = Field(default="k", json_schema_extra={introspect.NODE_ONLY_KEY: True})


class _NamedWithNodeOnly(_Named):
    key: str | None = sdk.secret(generate=sdk.token(), node_only=True)


def _declaration(spec: type[BaseModel], child: type[BaseModel] = _Named) -> sdk.PaasType:
    class Declared(sdk.PaasType):
        slug = "declared"
        title = "Declared"
        versions = (sdk.Version("1.0"),)
        resources = (sdk.ChildResource("things", child),)

    Declared.spec = spec
    return Declared()


@pytest.mark.parametrize(
    ("declaration", "reason"),
    [
        pytest.param(
            _declaration(_Ungenerated),
            "node-only secrets ['key'] need a generator",
            id="a node-only secret without a generator is refused (no one could give it)",
        ),
        pytest.param(
            _declaration(_NotSecret),
            "node-only fields ['key'] must be secrets",
            id="a node-only field that is not a secret is refused (it would be stored in clear)",
        ),
        pytest.param(
            _declaration(_Plain, child=_NamedWithNodeOnly),
            "things spec declares node-only secrets ['key']: only the instance spec may",
            id="a node-only secret on a child resource is refused",
        ),
    ],
)
def test_discovery_refuses_a_node_only_secret_that_could_leak_or_not_exist(
    declaration: sdk.PaasType, reason: str
) -> None:
    with pytest.raises(ContractError, match=re.escape(reason)):
        check_contract(declaration)


def test_a_generated_node_only_secret_on_the_instance_spec_is_accepted() -> None:
    check_contract(Vaults())


def test_no_derived_model_has_a_node_only_field_and_the_spec_keeps_it() -> None:
    registry = Registry.discover(found=[sample_plugins.entry_point("vaults", "vaults:Vaults")])
    models_ = registry.get_usable("vaults").schemas
    assert models_ is not None
    instances = models_.instances
    for model in (instances.create, instances.update, instances.out):
        assert "internal_key" not in model.model_fields, model.__name__
        assert "internal_key" not in str(model.model_json_schema())
    assert {"password", "shelves"} <= set(instances.create.model_fields)
    assert instances.node_only == {"internal_key"} <= instances.secrets
    assert "internal_key" in instances.spec.model_fields


# -- what the hooks and the nodes see -------------------------------------------


class _SealedVaults(Vaults):
    node_secrets = False


@pytest.mark.parametrize(
    ("declaration", "users_secrets_shown"),
    [
        pytest.param(Vaults(), True, id="node_secrets True: nodes get every secret"),
        pytest.param(
            _SealedVaults(),
            False,
            id="node_secrets False: nodes still get the node-only secret, no other",
        ),
    ],
)
def test_nodes_always_get_their_node_only_secrets(
    declaration: Vaults, users_secrets_shown: bool
) -> None:
    view = instance_view(declaration, {"password": "users-password", "internal_key": "for-nodes"})
    document = metadata_document(view, declaration, [NODE])
    assert document["instance"]["secrets"]["internal_key"] == "for-nodes"
    assert document["instance"]["spec"]["internal_key"] == "for-nodes"
    assert ("users-password" in repr(document)) is users_secrets_shown


def test_the_public_view_has_no_node_only_secret() -> None:
    view = instance_view(Vaults(), {"password": "users-password", "internal_key": "for-nodes"})
    public = public_view(view, Vaults())
    assert public.secrets == {"password": "users-password"}
    assert isinstance(public.spec, BaseModel)
    assert public.spec.model_dump()["internal_key"] is None
    assert view.secrets["internal_key"] == "for-nodes"  # the full view is left alone


@pytest.mark.parametrize(
    ("answer", "kept"),
    [
        pytest.param({"a": "x", "b": "SECRET"}, {"a": "x"}, id="a value equal to one is dropped"),
        pytest.param({"SECRET": "x"}, {}, id="a key equal to one is dropped"),
        pytest.param(
            {"n": {"m": ["SECRET", "y", {"k": "SECRET"}]}},
            {"n": {"m": ["y", {}]}},
            id="nested mappings and lists are scrubbed at any depth",
        ),
        pytest.param(
            {"url": "http://h/?k=SECRET", "port": 5},
            {"url": "http://h/?k=SECRET", "port": 5},
            id="only equal values go: a longer string or a number stays",
        ),
    ],
)
def test_credentials_answers_lose_every_value_equal_to_a_node_only_secret(
    answer: dict[str, Any], kept: dict[str, Any]
) -> None:
    view = instance_view(Vaults(), {"internal_key": "SECRET"})
    assert without_node_only(answer, view, Vaults()) == kept


# -- through the API --------------------------------------------------------------


def _vaults_api(make_api: MakeApi) -> InProcessControlPlane:
    found = [
        sample_plugins.entry_point("vaults", "vaults:Vaults"),
        sample_plugins.entry_point("leaky_vaults", "vaults:LeakyVaults"),
    ]
    return make_api(Registry.discover(found=found))


def _sealed(api: InProcessControlPlane, name: str) -> dict[str, str]:
    with api.session() as session:
        instance = session.query(models.Instance).filter_by(name=name).one()
        return api.state.sealer.unseal(instance.sealed_secrets)


def serve(api: InProcessControlPlane, name: str) -> None:
    """Mark the instance as served, as the orchestrator would once its nodes converged."""
    with api.session() as session:
        instance = session.query(models.Instance).filter_by(name=name).one()
        instance.status = models.InstanceStatus.ACTIVE
        instance.observed_generation = instance.generation
        session.commit()


def test_a_node_only_secret_is_made_sealed_and_shown_by_no_response(make_api: MakeApi) -> None:
    api = _vaults_api(make_api)
    created = api.create_instance("v1", slug="vaults", password="users-password-1")
    key = _sealed(api, "v1")["internal_key"]
    assert len(key) >= 24
    assert created["password"] == "users-password-1"
    assert api.patch(f"{VAULTS}/v1", json={"password": "users-password-2"}).status_code == 202
    assert _sealed(api, "v1") == {"password": "users-password-2", "internal_key": key}
    serve(api, "v1")
    credentials = api.get(f"{VAULTS}/v1/credentials")
    assert credentials.status_code == 200, credentials.text
    assert credentials.json()["password"] == "users-password-2"
    assert credentials.json()["spec"]["internal_key"] is None  # the hook saw no value
    assert key not in credentials.text
    for body in (created, api.get(f"{VAULTS}/v1").json(), api.get(VAULTS).json()):
        assert key not in repr(body)
        assert "internal_key" not in repr(body)
    assert "internal_key" not in api.get("/openapi.json").text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param(
            "POST",
            VAULTS,
            {"name": "v2", "internal_key": "mine"},
            id="a create giving the node-only secret is 422 naming it",
        ),
        pytest.param(
            "PATCH",
            f"{VAULTS}/v1",
            {"internal_key": "mine"},
            id="an update giving the node-only secret is 422 naming it",
        ),
    ],
)
def test_no_request_can_set_a_node_only_secret(
    make_api: MakeApi, method: str, path: str, body: dict[str, Any]
) -> None:
    api = _vaults_api(make_api)
    api.create_instance("v1", slug="vaults")
    before = (api.counts(), _sealed(api, "v1"))
    refused = problem(api.request(method, path, json=body), 422)
    assert field_rules(refused) == {("internal_key", "extra_forbidden")}
    assert (api.counts(), _sealed(api, "v1")) == before


def test_hooks_that_answer_users_never_see_a_node_only_secret(make_api: MakeApi) -> None:
    api = _vaults_api(make_api)
    vaults = api.state.registry.get("vaults").declaration
    assert isinstance(vaults, Vaults)
    api.create_instance("v1", slug="vaults", shelves=["top"])
    api.post(f"{VAULTS}/v1/shelves", json={"name": "low"})
    serve(api, "v1")
    assert api.get(f"{VAULTS}/v1/credentials").status_code == 200
    hooks = {hook for hook, _view in vaults.seen}
    assert hooks == {"initial_resources", "validate", "credentials", "endpoints"}
    for hook, view in vaults.seen:
        assert "internal_key" not in view.secrets, hook
        assert isinstance(view.spec, VaultSpec)
        assert view.spec.internal_key is None, hook


def test_credentials_drop_a_node_only_value_a_hook_hands_out(make_api: MakeApi) -> None:
    api = _vaults_api(make_api)
    api.create_instance("leak", slug="leaky_vaults", password="users-password-1")
    assert _sealed(api, "leak")["internal_key"] == LEAKED
    serve(api, "leak")
    shown = api.get("/v1/types/leaky_vaults/instances/leak/credentials")
    assert shown.status_code == 200, shown.text
    assert shown.json() == {"password": "users-password-1", "nested": {"list": ["kept"]}}


class _Machines:
    """A provider whose nodes exist as soon as they are asked for."""

    def __init__(self) -> None:
        self.nodes: dict[str, providers.NodeInfo] = {}

    def create_node(self, spec: providers.NodeSpec) -> providers.NodeInfo:
        info = providers.NodeInfo(spec.name, spec.labels, "127.0.0.1", {"http": 40000}, True)
        self.nodes[spec.name] = info
        return info

    def delete_node(self, name: str) -> None:
        self.nodes.pop(name, None)

    def get_node(self, name: str) -> providers.NodeInfo | None:
        return self.nodes.get(name)

    def list_nodes(self, labels: Mapping[str, str]) -> list[providers.NodeInfo]:
        return [n for n in self.nodes.values() if providers.matches(n.labels, labels)]


def test_the_reconciler_publishes_the_secret_to_nodes_and_not_to_endpoints(
    make_api: MakeApi,
) -> None:
    api = _vaults_api(make_api)
    vaults = api.state.registry.get("vaults").declaration
    assert isinstance(vaults, Vaults)
    instance_id = api.create_instance("v1", slug="vaults")["id"]
    key = _sealed(api, "v1")["internal_key"]
    state = api.state
    reconciler = Reconciler(
        state.sessions,
        state.registry,
        _Machines(),
        state.sealer,
        "http://127.0.0.1:9",
        state.authority,
    )
    reconciler.reconcile(instance_id)
    with api.session() as session:  # its agent reports the node serves generation 1
        node = session.query(models.Node).one()
        now = models.utcnow()
        session.add(
            models.NodeReport(
                node_name=node.name,
                instance_id=node.instance_id,
                incarnation=node.incarnation,
                credential_hash="c" * 64,
                registered_at=now,
                last_seen_at=now,
                health_since=now,
                state=models.AgentState.READY,
                health=models.Health.HEALTHY,
                applied_generation=1,
            )
        )
        session.commit()
    reconciler.reconcile(instance_id)

    shown = api.get(f"{VAULTS}/v1").json()
    assert shown["status"] == "ACTIVE"
    assert shown["endpoints"] == {f"{node.name}.http": "127.0.0.1:40000"}
    (endpoints_view,) = [view for hook, view in vaults.seen if hook == "endpoints"]
    assert "internal_key" not in endpoints_view.secrets
    with api.session() as session:
        published = session.get(models.MetadataDocument, instance_id)
        assert published is not None
        assert published.document["instance"]["secrets"]["internal_key"] == key
