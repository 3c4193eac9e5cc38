"""The host pool and placement pins over the API: admins only, bad input named, keys sealed,
every change audited, every rule the server enforces declared in the OpenAPI schema. (Hosts
stay PENDING here: no host monitor runs in these tests; the end-to-end tests with real sshd
are test_ssh_pool.py.)"""

from __future__ import annotations

from typing import Any

import asyncssh
import jsonschema_rs
import pytest
from metapaas_ssh.tables import Host, HostNode
from sqlalchemy import select

from metapaas.testing import InProcessControlPlane
from tests.helpers import field_rules, problem

PRIVATE_KEY = asyncssh.generate_private_key("ssh-ed25519")
HOST_KEY = asyncssh.generate_private_key("ssh-ed25519")


def body(**changes: Any) -> dict[str, Any]:
    return {
        "name": "h1",
        "address": "10.0.0.11",
        "private_key": PRIVATE_KEY.export_private_key().decode(),
        "host_key": HOST_KEY.export_public_key().decode(),
        "capacity": {"nodes": 4, "memory_mb": 4096},
        "labels": {"pool": "fast"},
    } | changes


KEY_CONTENTS = [
    ({"private_key": "not a key"}, ("private_key", "format")),
    ({"host_key": "ssh-ed25519 nope"}, ("host_key", "format")),
]
"""Rules on a key's contents: the server alone can judge them (a schema has no key parser)."""
SCHEMA_RULES = [
    ({"name": "Bad_Name"}, ("name", "string_pattern_mismatch")),
    ({"address": "a b"}, ("address", "string_pattern_mismatch")),
    ({"port": 0}, ("port", "greater_than_equal")),
    ({"capacity": {"nodes": 0, "memory_mb": 64}}, ("capacity.nodes", "greater_than_equal")),
    ({"labels": {"Bad Key": "x"}}, ("labels.Bad Key.[key]", "string_pattern_mismatch")),
]
STRICT = [
    pytest.param({"install_packages": 0}, ("install_packages", "bool_type"), id="0 is no boolean"),
    pytest.param(
        {"install_packages": "true"}, ("install_packages", "bool_type"), id="a string is no boolean"
    ),
    pytest.param({"port": "22"}, ("port", "int_type"), id="a string is no port"),
    pytest.param({"port": True}, ("port", "int_type"), id="a boolean is no port"),
    pytest.param(
        {"capacity": {"nodes": 2.5, "memory_mb": 4096}},
        ("capacity.nodes", "int_type"),
        id="a fraction is no count of nodes",
    ),
    pytest.param(
        {"capacity": {"nodes": 2, "memory_mb": False}},
        ("capacity.memory_mb", "int_type"),
        id="a boolean is no amount of memory",
    ),
]


@pytest.mark.parametrize(("changes", "expected"), [*KEY_CONTENTS, *SCHEMA_RULES, *STRICT])
def test_bad_input_is_a_422_naming_the_field(
    api: InProcessControlPlane, changes: dict[str, Any], expected: tuple[str, str]
) -> None:
    refused = problem(api.post("/v1/hosts", json=body(**changes)), 422)
    assert expected in field_rules(refused)
    assert api.count(Host) == 0


def test_a_host_is_registered_pending_with_its_key_sealed_and_never_shown(
    api: InProcessControlPlane,
) -> None:
    created = api.post("/v1/hosts", json=body())
    assert created.status_code == 201, created.text
    key_text = body()["private_key"]
    for shown in (created, api.get("/v1/hosts"), api.get("/v1/hosts/h1")):
        assert "private_key" not in shown.text
        assert key_text.splitlines()[1] not in shown.text
    view = api.get("/v1/hosts/h1").json()
    assert (view["state"], view["state_reason"]) == ("PENDING", "not checked yet")
    assert view["host_key"] == " ".join(body()["host_key"].split()[:2])
    assert view["used"] == {"nodes": 0, "memory_mb": 0}
    with api.session() as session:
        sealed = session.scalars(select(Host.sealed_private_key)).one()
    assert key_text.splitlines()[1] not in sealed
    problem(api.post("/v1/hosts", json=body()), 409)


def test_drain_resume_and_remove(api: InProcessControlPlane) -> None:
    api.post("/v1/hosts", json=body())
    drained = api.post("/v1/hosts/h1/actions/drain")
    assert drained.status_code == 202
    assert drained.json()["draining"] is True
    resumed = api.post("/v1/hosts/h1/actions/resume")
    assert resumed.status_code == 200
    assert resumed.json()["draining"] is False
    with api.session() as session, session.begin():
        session.add(HostNode(node_name="n-0", host_name="h1", labels={}))
    assert "1 node(s)" in problem(api.delete("/v1/hosts/h1"), 409)["detail"]
    with api.session() as session, session.begin():
        session.delete(session.get(HostNode, "n-0"))
    assert api.delete("/v1/hosts/h1").status_code == 204
    problem(api.get("/v1/hosts/h1"), 404)
    actions = [e["action"] for e in api.get("/v1/audit", params={"limit": 100}).json()["items"]]
    for action in ("host.register", "host.drain", "host.resume", "host.remove"):
        assert actions.count(action) == 1, action


def test_pins_choose_a_provider_and_a_pool(api: InProcessControlPlane) -> None:
    project = api.make_project("team-a")
    pinned = api.put(
        f"/v1/placement/pins/project/{project}",
        json={"provider": "ssh", "host_labels": {"pool": "fast"}},
    )
    assert pinned.status_code == 200, pinned.text
    assert api.put("/v1/placement/pins/type/demo", json={"provider": "local"}).status_code == 200
    listed = api.get("/v1/placement/pins").json()["items"]
    assert [(p["scope"], p["target"], p["provider"]) for p in listed] == [
        ("project", project, "ssh"),
        ("type", "demo", "local"),
    ]
    unknown = problem(api.put("/v1/placement/pins/type/demo", json={"provider": "nope"}), 422)
    assert ("provider", "installed") in field_rules(unknown)
    problem(api.put("/v1/placement/pins/project/nope", json={"provider": "ssh"}), 404)
    problem(api.put("/v1/placement/pins/type/nope", json={"provider": "ssh"}), 404)
    problem(api.put("/v1/placement/pins/planet/x", json={"provider": "ssh"}), 422)
    assert api.delete("/v1/placement/pins/type/demo").status_code == 204
    problem(api.delete("/v1/placement/pins/type/demo"), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/hosts"),
        ("POST", "/v1/hosts"),
        ("POST", "/v1/hosts/h1/actions/drain"),
        ("DELETE", "/v1/hosts/h1"),
        ("GET", "/v1/placement/pins"),
        ("PUT", "/v1/placement/pins/type/demo"),
    ],
)
def test_only_admins(api: InProcessControlPlane, method: str, path: str) -> None:
    member = api.make_user("bob", api.make_project("team-b"))
    payload = {"provider": "local"} if path.startswith("/v1/placement") else body()
    answer = api.request(method, path, json=payload, token=member.token)
    problem(answer, 403)


@pytest.mark.parametrize(("changes", "expected"), [*SCHEMA_RULES, *STRICT])
def test_the_openapi_schema_refuses_what_the_server_refuses(
    api: InProcessControlPlane, changes: dict[str, Any], expected: tuple[str, str]
) -> None:
    """A generated client validates what the server validates: each bad body breaks the
    request schema the API publishes, and the good one keeps it."""
    document = api.get("/openapi.json").json()
    schema = {"$ref": "#/components/schemas/HostBody", "components": document["components"]}
    assert jsonschema_rs.is_valid(schema, body())
    assert not jsonschema_rs.is_valid(schema, body(**changes)), expected


def test_a_pins_labels_are_held_to_the_rules_of_a_hosts_in_the_schema_too(
    api: InProcessControlPlane,
) -> None:
    document = api.get("/openapi.json").json()
    schema = {"$ref": "#/components/schemas/PinBody", "components": document["components"]}
    assert jsonschema_rs.is_valid(schema, {"provider": "ssh", "host_labels": {"zone": "a"}})
    assert not jsonschema_rs.is_valid(schema, {"provider": "ssh", "host_labels": {"Zone A": "a"}})
    refused = problem(
        api.put(
            "/v1/placement/pins/type/demo", json={"provider": "ssh", "host_labels": {"Zone A": "a"}}
        ),
        422,
    )
    assert ("host_labels.Zone A.[key]", "string_pattern_mismatch") in field_rules(refused)


def test_the_hosts_page_is_listed_and_served_as_the_consoles_own_files(
    api: InProcessControlPlane,
) -> None:
    pages = api.get("/ui/extensions.json", token=None).json()["pages"]
    assert {
        "route": "hosts",
        "label": "Hosts",
        "module": "/ui/ext/ssh/hosts.js",
        "admin": True,
    } in pages
    module = api.get("/ui/ext/ssh/hosts.js", token=None)
    assert module.status_code == 200
    assert "javascript" in module.headers["content-type"]
    assert "default-src 'self'" in module.headers["content-security-policy"]
    assert 'from "../../js/api.js"' in module.text  # the console's own modules, by path
