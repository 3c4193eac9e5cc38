"""Projects, users, tokens, roles and permissions over REST (issue 2, point 6)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from metapaas.db import models
from metapaas.errors import Forbidden
from metapaas.iam import authenticate
from metapaas.testing import Caller, InProcessControlPlane
from tests.helpers import field_rules, problem

DEMO = "/v1/types/demo/instances"


# -- projects and users -----------------------------------------------------------


def test_project_crud(api: InProcessControlPlane) -> None:
    made = api.post("/v1/projects", json={"name": "team-a", "description": "A"})
    assert made.status_code == 201, made.text
    project = made.json()
    problem(api.post("/v1/projects", json={"name": "team-a"}), 409)

    assert api.get(f"/v1/projects/{project['id']}").json()["name"] == "team-a"
    names = [p["name"] for p in api.get("/v1/projects").json()["items"]]
    assert names == ["default", "team-a"]

    patched = api.patch(f"/v1/projects/{project['id']}", json={"description": "B"})
    assert patched.status_code == 200
    assert patched.json()["description"] == "B"

    assert api.delete(f"/v1/projects/{project['id']}").status_code == 204
    problem(api.get(f"/v1/projects/{project['id']}"), 404)


def test_member_sees_only_its_projects_and_cannot_create_one(api: InProcessControlPlane) -> None:
    team = api.make_project("team-a")
    api.make_project("team-b")
    alice = api.make_user("alice", team, "member")

    names = [p["name"] for p in api.get("/v1/projects", token=alice.token).json()["items"]]
    assert names == ["team-a"]
    problem(api.post("/v1/projects", json={"name": "mine"}, token=alice.token), 403)
    problem(api.patch(f"/v1/projects/{team}", json={"description": "x"}, token=alice.token), 403)


def test_user_crud(api: InProcessControlPlane) -> None:
    made = api.post("/v1/users", json={"name": "alice"})
    assert made.status_code == 201, made.text
    user = made.json()
    problem(api.post("/v1/users", json={"name": "alice"}), 409)
    assert [u["name"] for u in api.get("/v1/users").json()["items"]] == ["admin", "alice"]
    assert api.get(f"/v1/users/{user['id']}").json()["name"] == "alice"

    assert api.delete(f"/v1/users/{user['id']}").status_code == 204
    problem(api.get(f"/v1/users/{user['id']}"), 404)


def test_me_is_the_caller_and_shows_its_roles(api: InProcessControlPlane) -> None:
    team = api.make_project("team-a")
    alice = api.make_user("alice", team, "viewer")
    me = api.get("/v1/users/me", token=alice.token).json()
    assert me["id"] == alice.user_id
    assert me["roles"] == {team: "viewer"}


def test_only_admins_manage_users(api: InProcessControlPlane) -> None:
    alice = api.make_user("alice", api.make_project("team-a"), "owner")
    problem(api.get("/v1/users", token=alice.token), 403)
    problem(api.post("/v1/users", json={"name": "bob"}, token=alice.token), 403)
    problem(api.delete(f"/v1/users/{alice.user_id}", token=alice.token), 403)


def test_deleted_user_tokens_stop_working(api: InProcessControlPlane) -> None:
    alice = api.make_user("alice", api.make_project("team-a"), "member")
    assert api.get("/v1/users/me", token=alice.token).status_code == 200
    assert api.delete(f"/v1/users/{alice.user_id}").status_code == 204
    problem(api.get("/v1/users/me", token=alice.token), 401)
    with api.session() as session:
        assert (
            session.scalars(
                select(models.ApiToken).where(models.ApiToken.user_id == alice.user_id)
            ).all()
            == []
        )
        assert (
            session.scalars(
                select(models.RoleBinding).where(models.RoleBinding.user_id == alice.user_id)
            ).all()
            == []
        )


def test_admin_cannot_delete_itself(api: InProcessControlPlane) -> None:
    problem(api.delete("/v1/users/me"), 409)


def test_project_with_live_instances_cannot_be_deleted(api: InProcessControlPlane) -> None:
    team = api.make_project("team-a")
    api.create_instance("hello", project_id=team)
    problem(api.delete(f"/v1/projects/{team}"), 409)
    api.delete(f"{DEMO}/hello", params={"project_id": team})
    problem(api.delete(f"/v1/projects/{team}"), 409)  # still DELETING


def test_project_whose_instances_are_all_deleted_can_be_deleted(api: InProcessControlPlane) -> None:
    team = api.make_project("team-a")
    created = api.create_instance("hello", project_id=team)
    api.delete(f"{DEMO}/hello", params={"project_id": team})
    with api.session() as session, session.begin():  # what the orchestrator does at the end
        session.execute(
            update(models.Instance)
            .where(models.Instance.id == created["id"])
            .values(status="DELETED", deleted_at=models.utcnow())
        )

    assert api.delete(f"/v1/projects/{team}").status_code == 204
    problem(api.get(f"/v1/projects/{team}"), 404)
    assert api.count(models.WorkItem) == 0, "the deleted instance's queue row lingers"


# -- tokens -----------------------------------------------------------------------


def test_token_is_shown_once_and_stored_hashed(api: InProcessControlPlane) -> None:
    alice = api.make_user("alice", api.make_project("team-a"), "member")
    issued = api.post(f"/v1/users/{alice.user_id}/tokens", json={"name": "ci"})
    assert issued.status_code == 201
    token = issued.json()["token"]
    assert token.startswith("mpt_")
    assert len(token) > 40

    listed = api.get(f"/v1/users/{alice.user_id}/tokens").json()["items"]
    assert [t["name"] for t in listed] == ["test", "ci"]
    assert all("token" not in t for t in listed)
    assert token not in str(listed)

    with api.session() as session:
        rows = session.execute(select(models.ApiToken.__table__)).all()
        row = session.get(models.ApiToken, issued.json()["id"])
    assert token not in repr(rows)
    assert row is not None
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert listed[1]["last_used_at"] is None
    assert api.get("/v1/users/me", token=token).json()["id"] == alice.user_id
    used = api.get(f"/v1/users/{alice.user_id}/tokens").json()["items"][1]
    assert used["last_used_at"] is not None, "a read-only request records the use"


def test_a_tokens_default_project_must_be_one_its_user_holds_a_role_in(
    api: InProcessControlPlane,
) -> None:
    team, other = api.make_project("team-a"), api.make_project("team-b")
    alice = api.make_user("alice", team, "member")
    tokens = f"/v1/users/{alice.user_id}/tokens"
    refused = problem(api.post(tokens, json={"name": "x", "project_id": other}), 422)
    assert field_rules(refused) == {("project_id", "not_member")}
    assert api.post(tokens, json={"name": "y", "project_id": team}).status_code == 201
    assert [t["name"] for t in api.get(tokens).json()["items"]] == ["test", "y"]


def test_a_user_manages_its_own_tokens_but_not_others(api: InProcessControlPlane) -> None:
    team = api.make_project("team-a")
    alice = api.make_user("alice", team, "member")
    bob = api.make_user("bob", team, "member")
    own = api.post("/v1/users/me/tokens", json={"name": "mine"}, token=alice.token)
    assert own.status_code == 201
    problem(api.post(f"/v1/users/{bob.user_id}/tokens", json={"name": "x"}, token=alice.token), 404)
    problem(api.get(f"/v1/users/{bob.user_id}/tokens", token=alice.token), 404)


def _revoked(api: InProcessControlPlane, caller: Caller) -> str:
    (token_row,) = api.get(f"/v1/users/{caller.user_id}/tokens").json()["items"]
    assert api.delete(f"/v1/users/{caller.user_id}/tokens/{token_row['id']}").status_code == 204
    listed = api.get(f"/v1/users/{caller.user_id}/tokens").json()["items"]
    assert listed[0]["revoked"] is True
    return caller.token


def _expired(api: InProcessControlPlane, caller: Caller) -> str:
    with api.session() as session, session.begin():
        session.execute(
            update(models.ApiToken)
            .where(models.ApiToken.user_id == caller.user_id)
            .values(expires_at=models.utcnow() - timedelta(seconds=1))
        )
    return caller.token


BAD_TOKENS = {
    "revoked token is 401": _revoked,
    "expired token is 401": _expired,
    "unknown token is 401": lambda api, caller: "mpt_" + "x" * 43,
    "no token is 401": lambda api, caller: None,
    "malformed header is 401": lambda api, caller: "",
}


@pytest.mark.parametrize("make", list(BAD_TOKENS.values()), ids=list(BAD_TOKENS))
def test_bad_token_is_401_problem(api: InProcessControlPlane, make: Any) -> None:
    alice = api.make_user("alice", api.make_project("team-a"), "member")
    assert api.get(DEMO, token=alice.token).status_code == 200
    token = make(api, alice)

    body = problem(api.get(DEMO, token=token), 401)
    assert body["type"] == "urn:metapaas:problem:unauthorized"


def test_token_with_expiry_works_until_then(api: InProcessControlPlane) -> None:
    issued = api.post("/v1/users/me/tokens", json={"name": "short", "expires_in_days": 1})
    assert issued.status_code == 201
    assert issued.json()["expires_at"] is not None
    assert api.get(DEMO, token=issued.json()["token"]).status_code == 200


# -- roles --------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    method: str
    path: str
    body: dict[str, Any] | None = None


STEPS = {
    "list instances": Step("GET", DEMO),
    "show an instance": Step("GET", f"{DEMO}/shared"),
    "create an instance": Step("POST", DEMO, {"name": "new-one"}),
    "update an instance": Step("PATCH", f"{DEMO}/shared", {"replicas": 2}),
    "delete an instance": Step("DELETE", f"{DEMO}/shared"),
    "list pages": Step("GET", f"{DEMO}/shared/pages"),
    "show a page": Step("GET", f"{DEMO}/shared/pages/index"),
    "create a page": Step("POST", f"{DEMO}/shared/pages", {"name": "new", "content": "x"}),
    "update a page": Step("PATCH", f"{DEMO}/shared/pages/index", {"content": "y"}),
    "delete a page": Step("DELETE", f"{DEMO}/shared/pages/index"),
    "list members": Step("GET", "/v1/projects/{project}/members"),
    "bind a member": Step(
        "PUT", "/v1/projects/{project}/members", {"user_id": "{other}", "role": "viewer"}
    ),
    "unbind a member": Step("DELETE", "/v1/projects/{project}/members/{other}"),
    "update the project": Step("PATCH", "/v1/projects/{project}", {"description": "x"}),
    "read the audit log": Step("GET", "/v1/audit"),
}
READS = {"list instances", "show an instance", "list pages", "show a page", "list members"}
OWNER_ONLY = {"bind a member", "unbind a member", "update the project"}
ADMIN_ONLY = {"read the audit log"}


def _expected(role: str, step: str) -> int:
    if step in ADMIN_ONLY:
        return 403
    if role == "viewer":
        return 200 if step in READS else 403
    if role == "member" and step in OWNER_ONLY:
        return 403
    return 200


ROLE_CASES = [
    (role, step, _expected(role, step)) for role in ("viewer", "member", "owner") for step in STEPS
]


@pytest.mark.parametrize(
    ("role", "step", "status"),
    ROLE_CASES,
    ids=[
        f"{role} {'can' if status == 200 else 'cannot'} {step}"
        + ("" if status == 200 else f" ({status})")
        for role, step, status in ROLE_CASES
    ],
)
def test_project_roles_grant_what_they_promise(
    api: InProcessControlPlane, role: str, step: str, status: int
) -> None:
    team = api.make_project("team-a")
    api.create_instance("shared", project_id=team)
    api.post(f"{DEMO}/shared/pages", json={"name": "index", "content": "x"})
    caller = api.make_user("alice", team, role)
    other = api.make_user("bob", team, "member")
    spec = STEPS[step]
    fill = {"project": team, "other": other.user_id}
    body = (
        {k: v.format(**fill) if isinstance(v, str) else v for k, v in spec.body.items()}
        if spec.body is not None
        else None
    )
    before = api.counts()

    response = api.request(spec.method, spec.path.format(**fill), token=caller.token, json=body)

    if status == 200:
        assert response.status_code in {200, 201, 202, 204}, response.text
    else:
        problem(response, status)
        assert api.counts() == before


def test_viewer_lacks_credentials_permission(api: InProcessControlPlane) -> None:
    team = api.make_project("team-a")
    viewer = api.make_user("alice", team, "viewer")
    member = api.make_user("bob", team, "member")
    with api.session() as session:
        as_viewer = authenticate(session, viewer.token)
        as_member = authenticate(session, member.token)
    with pytest.raises(Forbidden):
        as_viewer.require("demo.credentials.get", team)
    as_viewer.require("demo.instances.get", team)
    as_member.require("demo.credentials.get", team)


def test_owner_binding_gives_the_role_and_rebinding_replaces_it(api: InProcessControlPlane) -> None:
    team = api.make_project("team-a")
    owner = api.make_user("olga", team, "owner")
    bob = api.make_user("bob")
    problem(api.get(DEMO + "/x", token=bob.token), 404)

    for role in ("viewer", "member"):
        bound = api.put(
            f"/v1/projects/{team}/members",
            json={"user_id": bob.user_id, "role": role},
            token=owner.token,
        )
        assert bound.status_code == 200, bound.text
    members = api.get(f"/v1/projects/{team}/members", token=owner.token).json()["items"]
    assert {m["user"]: m["role"] for m in members} == {"bob": "member", "olga": "owner"}
    created = api.post(DEMO, json={"name": "bobs", "project_id": team}, token=bob.token)
    assert created.status_code == 202, created.text

    unbound = api.delete(f"/v1/projects/{team}/members/{bob.user_id}", token=owner.token)
    assert unbound.status_code == 204
    problem(api.get(f"{DEMO}/bobs", token=bob.token), 404)


def test_binding_an_unknown_user_or_role_is_422(api: InProcessControlPlane) -> None:
    team = api.make_project("team-a")
    problem(
        api.put(f"/v1/projects/{team}/members", json={"user_id": "nobody", "role": "member"}), 422
    )
    bob = api.make_user("bob")
    problem(
        api.put(f"/v1/projects/{team}/members", json={"user_id": bob.user_id, "role": "god"}), 422
    )


# -- tenants ------------------------------------------------------------------------


TENANT_STEPS = {
    "show by name": Step("GET", f"{DEMO}/theirs"),
    "show by uuid": Step("GET", f"{DEMO}/{{id}}"),
    "update": Step("PATCH", f"{DEMO}/{{id}}", {"replicas": 2}),
    "delete": Step("DELETE", f"{DEMO}/{{id}}"),
    "list children": Step("GET", f"{DEMO}/{{id}}/pages"),
    "show a child": Step("GET", f"{DEMO}/{{id}}/pages/index"),
    "create a child": Step("POST", f"{DEMO}/{{id}}/pages", {"name": "mine", "content": "x"}),
    "update a child": Step("PATCH", f"{DEMO}/{{id}}/pages/index", {"content": "y"}),
    "delete a child": Step("DELETE", f"{DEMO}/{{id}}/pages/index"),
    "show its operation": Step("GET", "/v1/operations/{operation}"),
    "show the project": Step("GET", "/v1/projects/{project}"),
    "list the project's members": Step("GET", "/v1/projects/{project}/members"),
}


@pytest.mark.parametrize(
    "step",
    list(TENANT_STEPS.values()),
    ids=[f"{k} in another project is 404" for k in TENANT_STEPS],
)
def test_a_token_of_project_a_gets_404_for_project_b(
    api: InProcessControlPlane, step: Step
) -> None:
    team_a = api.make_project("team-a")
    team_b = api.make_project("team-b")
    alice = api.make_user("alice", team_a, "owner")
    theirs = api.create_instance("theirs", project_id=team_b)
    api.post(f"{DEMO}/theirs/pages", json={"name": "index", "content": "x"})
    fill = {"id": theirs["id"], "operation": theirs["operation_id"], "project": team_b}
    before = api.counts()

    response = api.request(step.method, step.path.format(**fill), token=alice.token, json=step.body)

    problem(response, 404)
    assert api.counts() == before


def test_lists_show_only_the_callers_projects_and_admin_sees_all(
    api: InProcessControlPlane,
) -> None:
    team_a = api.make_project("team-a")
    team_b = api.make_project("team-b")
    alice = api.make_user("alice", team_a, "viewer")
    api.create_instance("ours", project_id=team_a)
    api.create_instance("theirs", project_id=team_b)

    def names(token: str, **params: str) -> list[str]:
        response = api.get(DEMO, token=token, params=params)
        assert response.status_code == 200
        return [i["name"] for i in response.json()["items"]]

    assert names(alice.token) == ["ours"]
    assert names(alice.token, name="theirs") == []
    assert names(alice.token, project_id=team_b) == []
    assert names(api.admin_token) == ["ours", "theirs"]


def test_a_name_taken_in_project_b_is_free_in_project_a(api: InProcessControlPlane) -> None:
    team_a = api.make_project("team-a")
    team_b = api.make_project("team-b")
    alice = api.make_user("alice", team_a, "member")
    api.create_instance("same", project_id=team_b)
    mine = api.post(DEMO, json={"name": "same"}, token=alice.token)
    assert mine.status_code == 202, mine.text
    assert api.get(f"{DEMO}/same", token=alice.token).json()["project_id"] == team_a


# -- the permission catalog ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "roles"),
    [
        ("demo.instances.create", ["owner", "member"]),
        ("demo.instances.get", ["owner", "member", "viewer"]),
        ("demo.instances.list", ["owner", "member", "viewer"]),
        ("demo.instances.delete", ["owner", "member"]),
        ("demo.pages.delete", ["owner", "member"]),
        ("demo.pages.list", ["owner", "member", "viewer"]),
        ("demo.credentials.get", ["owner", "member"]),
        ("widgets.parts.update", ["owner", "member"]),
        ("iam.role_bindings.create", ["owner"]),
        ("iam.projects.get", ["owner", "member", "viewer"]),
        ("core.operations.get", ["owner", "member", "viewer"]),
    ],
    ids=lambda value: value if isinstance(value, str) else "+".join(value),
)
def test_permissions_are_derived_and_list_the_roles_holding_them(
    api: InProcessControlPlane, name: str, roles: list[str]
) -> None:
    alice = api.make_user("alice", api.make_project("team-a"), "viewer")
    response = api.get("/v1/permissions", token=alice.token)
    assert response.status_code == 200
    catalog = {p["name"]: p["roles"] for p in response.json()["items"]}
    assert catalog[name] == roles


def test_permission_catalog_has_every_verb_of_every_collection(api: InProcessControlPlane) -> None:
    catalog = {p["name"] for p in api.get("/v1/permissions").json()["items"]}
    for scope in ("demo.instances", "demo.pages", "widgets.instances", "widgets.parts"):
        for verb in ("list", "get", "create", "update", "delete"):
            assert f"{scope}.{verb}" in catalog
    assert not any(name.startswith("demo.operations") for name in catalog)
