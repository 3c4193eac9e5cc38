"""Instances and child resources through the routes derived from a declaration (point 4)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import update

from metapaas.db import models
from metapaas.testing import InProcessControlPlane
from tests.helpers import field_rules, problem

DEMO = "/v1/types/demo/instances"


def test_create_is_accepted_with_status_new_an_operation_and_its_location(
    api: InProcessControlPlane,
) -> None:
    response = api.post(DEMO, json={"name": "hello", "message": "hi there"})

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "NEW"
    assert body["name"] == "hello"
    assert body["message"] == "hi there"
    assert body["replicas"] == 1
    assert body["version"] == "1.0"
    assert body["generation"] == 1
    assert body["project_id"] == api.admin_project_id
    assert response.headers["location"] == f"/v1/operations/{body['operation_id']}"

    operation = api.get(response.headers["location"])
    assert operation.status_code == 200
    assert operation.json() | {"created_at": None, "updated_at": None} == {
        "id": body["operation_id"],
        "kind": "create",
        "instance_id": body["id"],
        "project_id": body["project_id"],
        "state": "PENDING",
        "progress": "queued",
        "error": "",
        "created_at": None,
        "updated_at": None,
    }


def test_unknown_operation_is_404_problem(api: InProcessControlPlane) -> None:
    problem(api.get("/v1/operations/no-such-operation"), 404)


@pytest.mark.parametrize("by", ["id", "name"], ids=["shown by uuid", "shown by name"])
def test_instance_is_addressable_by_uuid_and_by_name(api: InProcessControlPlane, by: str) -> None:
    created = api.create_instance("hello", message="hi")

    shown = api.get(f"{DEMO}/{created[by]}")

    assert shown.status_code == 200
    assert shown.json()["id"] == created["id"]
    assert shown.json()["message"] == "hi"


def test_unknown_instance_is_404_problem(api: InProcessControlPlane) -> None:
    problem(api.get(f"{DEMO}/nobody"), 404)


def _names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def test_list_pages_with_limit_and_marker_until_next_marker_is_none(
    api: InProcessControlPlane,
) -> None:
    names = [f"inst-{i}" for i in range(5)]
    for name in names:
        api.create_instance(name)

    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"marker": marker} if marker else {})
        response = api.get(DEMO, params=params)
        seen += _names(response)
        pages += 1
        marker = response.json()["next_marker"]
        if marker is None:
            break
        assert pages < 10, "pagination does not end"

    assert seen == names
    assert pages == 3


def test_a_full_last_page_has_no_next_marker(api: InProcessControlPlane) -> None:
    api.create_instance("one")
    api.create_instance("two")

    response = api.get(DEMO, params={"limit": 2})

    assert _names(response) == ["one", "two"]
    assert response.json()["next_marker"] is None


def test_unknown_marker_is_422_naming_marker(api: InProcessControlPlane) -> None:
    body = problem(api.get(DEMO, params={"marker": "not-an-id"}), 422)
    assert ("marker", "unknown") in {(e["field"], e["rule"]) for e in body["errors"]}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"name": "beta"}, ["beta"]),
        ({"name": "nobody"}, []),
        ({"status": "ACTIVE"}, ["gamma"]),
        ({"status": "NEW"}, ["alpha", "beta"]),
        ({"status": "NEW", "name": "alpha"}, ["alpha"]),
        ({"status": "DELETING"}, []),
    ],
    ids=[
        "name filter finds one",
        "name filter with no match is empty",
        "status filter finds the active one",
        "status filter finds the new ones",
        "name and status filters combine",
        "status filter with no match is empty",
    ],
)
def test_list_filters_by_name_and_status(
    api: InProcessControlPlane, params: dict[str, str], expected: list[str]
) -> None:
    for name in ("alpha", "beta", "gamma"):
        api.create_instance(name)
    with api.session() as session, session.begin():  # what the orchestrator would do
        session.execute(
            update(models.Instance).where(models.Instance.name == "gamma").values(status="ACTIVE")
        )

    assert _names(api.get(DEMO, params=params)) == expected


def test_status_filter_outside_the_status_set_is_422_naming_status(
    api: InProcessControlPlane,
) -> None:
    body = problem(api.get(DEMO, params={"status": "BOGUS"}), 422)
    assert "status" in {e["field"] for e in body["errors"]}


def test_patch_changes_a_field_bumps_generation_and_queues_an_update(
    api: InProcessControlPlane,
) -> None:
    created = api.create_instance("hello")

    response = api.patch(f"{DEMO}/hello", json={"replicas": 3, "description": "three"})

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["replicas"] == 3
    assert body["description"] == "three"
    assert body["generation"] == 2
    operation = api.get(f"/v1/operations/{body['operation_id']}").json()
    assert operation["kind"] == "update"
    assert operation["instance_id"] == created["id"]
    assert api.get(f"{DEMO}/hello").json()["replicas"] == 3


@pytest.mark.parametrize(
    "patch",
    [{}, {"replicas": 1}, {"message": "hello from metapaas", "name": "hello"}],
    ids=["empty patch is 200", "same value is 200", "same name and message is 200"],
)
def test_patch_that_changes_nothing_is_200_without_an_operation(
    api: InProcessControlPlane, patch: dict[str, Any]
) -> None:
    api.create_instance("hello")
    operations = api.count(models.Operation)

    response = api.patch(f"{DEMO}/hello", json=patch)

    assert response.status_code == 200, response.text
    assert response.json()["generation"] == 1
    assert "operation_id" not in response.json()
    assert api.count(models.Operation) == operations


def test_patch_to_another_catalog_version_is_accepted(api: InProcessControlPlane) -> None:
    api.create_instance("w1", slug="widgets")
    response = api.patch("/v1/types/widgets/instances/w1", json={"version": "2.0"})
    assert response.status_code == 202, response.text
    assert response.json()["version"] == "2.0"


def test_patch_to_a_deprecated_version_is_422_naming_version(api: InProcessControlPlane) -> None:
    api.create_instance("w1", slug="widgets")
    body = problem(api.patch("/v1/types/widgets/instances/w1", json={"version": "0.9"}), 422)
    assert "version" in {e["field"] for e in body["errors"]}


def test_delete_is_accepted_as_a_pending_delete_operation_the_status_stays_the_orchestrators(
    api: InProcessControlPlane,
) -> None:
    created = api.create_instance("hello")

    response = api.delete(f"{DEMO}/hello")

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["id"] == created["id"]
    assert response.headers["location"] == f"/v1/operations/{body['operation_id']}"
    operation = api.get(response.headers["location"]).json()
    assert (operation["kind"], operation["state"]) == ("delete", "PENDING")
    assert body["status"] == api.get(f"{DEMO}/hello").json()["status"] == "NEW"


def test_deleting_twice_returns_the_same_operation(api: InProcessControlPlane) -> None:
    api.create_instance("hello")
    first = api.delete(f"{DEMO}/hello").json()["operation_id"]
    second = api.delete(f"{DEMO}/hello")
    assert second.status_code == 202
    assert second.json()["operation_id"] == first


def test_patch_of_a_deleting_instance_is_409(api: InProcessControlPlane) -> None:
    api.create_instance("hello")
    api.delete(f"{DEMO}/hello")
    problem(api.patch(f"{DEMO}/hello", json={"replicas": 2}), 409)


def test_name_is_taken_while_deleting_and_reusable_once_deleted(api: InProcessControlPlane) -> None:
    first = api.create_instance("hello")
    api.delete(f"{DEMO}/hello")
    problem(api.post(DEMO, json={"name": "hello"}), 409)

    # What the orchestrator does when the nodes are gone.
    with api.session() as session, session.begin():
        session.execute(
            update(models.Instance)
            .where(models.Instance.id == first["id"])
            .values(status="DELETED", deleted_at=models.utcnow())
        )

    second = api.create_instance("hello")
    assert second["id"] != first["id"]
    assert api.get(f"{DEMO}/hello").json()["id"] == second["id"]
    problem(api.get(f"{DEMO}/{first['id']}"), 404)
    assert _names(api.get(DEMO)) == ["hello"]


def test_same_name_in_two_projects_needs_project_id_to_address(api: InProcessControlPlane) -> None:
    other = api.make_project("other")
    mine = api.create_instance("twin")
    theirs = api.create_instance("twin", project_id=other)

    problem(api.get(f"{DEMO}/twin"), 409)
    assert api.get(f"{DEMO}/twin", params={"project_id": other}).json()["id"] == theirs["id"]
    assert api.get(f"{DEMO}/{mine['id']}").json()["project_id"] == api.admin_project_id


# -- child resources ------------------------------------------------------------


def test_child_resource_lifecycle(api: InProcessControlPlane) -> None:
    created = api.create_instance("site")
    pages = f"{DEMO}/site/pages"

    made = api.post(pages, json={"name": "index", "content": "<h1>hi</h1>"})
    assert made.status_code == 201, made.text
    page = made.json()
    assert page["name"] == "index"
    assert page["content"] == "<h1>hi</h1>"
    assert page["instance_id"] == created["id"]
    assert api.get(f"{DEMO}/site").json()["generation"] == 2

    problem(api.post(pages, json={"name": "index", "content": "again"}), 409)

    api.post(pages, json={"name": "about", "content": "about"})
    listed = api.get(pages)
    assert _names(listed) == ["index", "about"]
    assert listed.json()["next_marker"] is None
    assert _names(api.get(pages, params={"name": "about"})) == ["about"]

    for ref in ("index", page["id"]):
        shown = api.get(f"{pages}/{ref}")
        assert shown.status_code == 200
        assert shown.json()["id"] == page["id"]

    patched = api.patch(f"{pages}/index", json={"content": "new"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["content"] == "new"
    assert api.get(f"{pages}/index").json()["content"] == "new"
    assert api.get(f"{DEMO}/site").json()["generation"] == 4

    deleted = api.delete(f"{pages}/index")
    assert deleted.status_code == 204
    assert deleted.content == b""
    problem(api.get(f"{pages}/index"), 404)
    problem(api.delete(f"{pages}/index"), 404)
    assert _names(api.get(pages)) == ["about"]
    assert api.get(f"{DEMO}/site").json()["generation"] == 5


def test_child_names_are_per_instance(api: InProcessControlPlane) -> None:
    api.create_instance("one")
    api.create_instance("two")
    for instance in ("one", "two"):
        made = api.post(f"{DEMO}/{instance}/pages", json={"name": "index", "content": "x"})
        assert made.status_code == 201, made.text
    assert _names(api.get(f"{DEMO}/one/pages")) == ["index"]


def test_children_of_an_unknown_instance_are_404(api: InProcessControlPlane) -> None:
    problem(api.get(f"{DEMO}/nobody/pages"), 404)
    problem(api.post(f"{DEMO}/nobody/pages", json={"name": "x", "content": "x"}), 404)


def test_children_of_a_deleting_instance_cannot_change(api: InProcessControlPlane) -> None:
    api.create_instance("site")
    api.post(f"{DEMO}/site/pages", json={"name": "index", "content": "x"})
    api.delete(f"{DEMO}/site")
    problem(api.post(f"{DEMO}/site/pages", json={"name": "new", "content": "x"}), 409)
    problem(api.patch(f"{DEMO}/site/pages/index", json={"content": "y"}), 409)
    problem(api.delete(f"{DEMO}/site/pages/index"), 409)


def test_a_type_refuses_a_change_across_resources_and_nothing_is_written(
    api: InProcessControlPlane,
) -> None:
    """``widgets`` holds parts weighing at most size * 10 (its ``validate`` hook)."""
    api.create_instance("w1", slug="widgets", size=1)
    parts = "/v1/types/widgets/instances/w1/parts"
    assert api.post(parts, json={"name": "p1", "weight": 8}).status_code == 201
    generation = api.get("/v1/types/widgets/instances/w1").json()["generation"]

    refused = problem(api.post(parts, json={"name": "p2", "weight": 5}), 422)
    assert field_rules(refused) == {("weight", "capacity")}
    refused = problem(api.patch(f"{parts}/p1", json={"weight": 11}), 422)
    assert field_rules(refused) == {("weight", "capacity")}

    assert [(p["name"], p["weight"]) for p in api.get(parts).json()["items"]] == [("p1", 8)]
    assert api.get("/v1/types/widgets/instances/w1").json()["generation"] == generation
    assert api.post(parts, json={"name": "p2", "weight": 2}).status_code == 201
    assert api.patch("/v1/types/widgets/instances/w1", json={"size": 2}).status_code == 202


def test_secrets_are_shown_at_create_only_and_stored_sealed(api: InProcessControlPlane) -> None:
    assert api.create_instance("w1", slug="widgets", password="hunter22")["password"] == "hunter22"
    widgets = "/v1/types/widgets/instances"
    made = api.post(f"{widgets}/w1/parts", json={"name": "p1", "key": "open-sesame"})
    assert made.status_code == 201, made.text
    assert made.json()["key"] == "open-sesame"

    assert "password" not in api.get(f"{widgets}/w1").json()
    assert "password" not in api.get(widgets).json()["items"][0]
    assert "key" not in api.get(f"{widgets}/w1/parts/p1").json()
    assert "key" not in api.get(f"{widgets}/w1/parts").json()["items"][0]
    with api.session() as session:
        instance = session.query(models.Instance).one()
        resource = session.query(models.Resource).one()
    assert "hunter22" not in str(instance.spec) + instance.sealed_secrets
    assert "open-sesame" not in str(resource.spec) + resource.sealed_secrets
    assert api.state.sealer.unseal(instance.sealed_secrets) == {"password": "hunter22"}


def test_generated_secret_is_made_when_none_is_given(api: InProcessControlPlane) -> None:
    made = api.post("/v1/types/widgets/instances/w1/parts", json={"name": "p1"})  # instance missing
    problem(made, 404)
    generated = api.create_instance("w1", slug="widgets")["password"]
    assert len(generated) >= 24
    shown = api.get("/v1/types/widgets/instances/w1/credentials")
    assert shown.status_code == 409  # not ACTIVE yet: only the create response showed it
    made = api.post("/v1/types/widgets/instances/w1/parts", json={"name": "p1"})
    assert made.status_code == 201
    assert len(made.json()["key"]) >= 8


def test_every_timestamp_is_rfc3339_utc_with_a_z(api: InProcessControlPlane) -> None:
    created = api.create_instance("clock")
    bodies = [
        created,
        api.get(f"{DEMO}/clock").json(),
        api.get(f"/v1/operations/{created['operation_id']}").json(),
        api.post(f"{DEMO}/clock/pages", json={"name": "p", "content": "x"}).json(),
        *api.get("/v1/audit").json()["items"],
        *api.get("/v1/projects").json()["items"],
        *api.get("/v1/users/me/tokens").json()["items"],
    ]
    stamps = [v for body in bodies for k, v in body.items() if k.endswith("_at") or k == "at"]
    stamps = [s for s in stamps if s is not None]
    assert len(stamps) >= 8
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", s) for s in stamps), stamps


def test_nodes_show_role_address_state_and_health_and_no_secret(api: InProcessControlPlane) -> None:
    made = api.create_instance("pictured")
    now = models.utcnow()
    with api.session() as session:
        session.add(
            models.Node(
                name="pictured-web-0",
                instance_id=made["id"],
                role="web",
                ordinal=0,
                address="127.0.0.1",
                ports={"http": 40080},
                state=models.NodeState.RUNNING,
                bootstrap_hash="b" * 64,
            )
        )
        session.flush()
        session.add(
            models.NodeReport(
                node_name="pictured-web-0",
                instance_id=made["id"],
                incarnation=1,
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

    nodes = api.get(f"{DEMO}/pictured/nodes")

    assert nodes.status_code == 200, nodes.text
    [node] = nodes.json()["items"]
    assert {k: node[k] for k in ("name", "role", "address", "ports", "state", "health")} == {
        "name": "pictured-web-0",
        "role": "web",
        "address": "127.0.0.1",
        "ports": {"http": 40080},
        "state": "RUNNING",
        "health": "healthy",
    }
    assert node["last_seen_at"].endswith("Z")
    assert "b" * 64 not in nodes.text
    assert "c" * 64 not in nodes.text
