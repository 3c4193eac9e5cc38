"""Every mutation is audited once, with who, what, target and request id (issue 2, point 7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from metapaas.db import models
from metapaas.testing import InProcessControlPlane
from tests.helpers import problem

DEMO = "/v1/types/demo/instances"


@dataclass(frozen=True)
class Mutation:
    method: str
    path: str
    body: dict[str, Any] | None
    action: str
    target_type: str
    target: str  # a key of the setup's ids, or "response" for the new row's id


MUTATIONS = {
    "instance create": Mutation(
        "POST", DEMO, {"name": "fresh"}, "demo.instances.create", "instance", "response"
    ),
    "instance update": Mutation(
        "PATCH", f"{DEMO}/hello", {"replicas": 2}, "demo.instances.update", "instance", "instance"
    ),
    "instance delete": Mutation(
        "DELETE", f"{DEMO}/hello", None, "demo.instances.delete", "instance", "instance"
    ),
    "child create": Mutation(
        "POST",
        f"{DEMO}/hello/pages",
        {"name": "new", "content": "x"},
        "demo.pages.create",
        "pages",
        "response",
    ),
    "child update": Mutation(
        "PATCH", f"{DEMO}/hello/pages/index", {"content": "y"}, "demo.pages.update", "pages", "page"
    ),
    "child delete": Mutation(
        "DELETE", f"{DEMO}/hello/pages/index", None, "demo.pages.delete", "pages", "page"
    ),
    "project create": Mutation(
        "POST", "/v1/projects", {"name": "fresh"}, "iam.projects.create", "project", "response"
    ),
    "project update": Mutation(
        "PATCH",
        "/v1/projects/{project}",
        {"description": "new"},
        "iam.projects.update",
        "project",
        "project",
    ),
    "project delete": Mutation(
        "DELETE", "/v1/projects/{empty}", None, "iam.projects.delete", "project", "empty"
    ),
    "user create": Mutation(
        "POST", "/v1/users", {"name": "carol"}, "iam.users.create", "user", "response"
    ),
    "user delete": Mutation("DELETE", "/v1/users/{user}", None, "iam.users.delete", "user", "user"),
    "token create": Mutation(
        "POST", "/v1/users/{user}/tokens", {"name": "ci"}, "iam.tokens.create", "token", "response"
    ),
    "token revoke": Mutation(
        "DELETE", "/v1/users/{user}/tokens/{token}", None, "iam.tokens.delete", "token", "token"
    ),
    "role binding": Mutation(
        "PUT",
        "/v1/projects/{project}/members",
        {"user_id": "{user}", "role": "viewer"},
        "iam.role_bindings.create",
        "role_binding",
        "user",
    ),
    "role unbinding": Mutation(
        "DELETE",
        "/v1/projects/{project}/members/{user}",
        None,
        "iam.role_bindings.delete",
        "role_binding",
        "user",
    ),
}


def _setup(api: InProcessControlPlane) -> dict[str, str]:
    """A project with an instance and a page, a user bound there, and an empty project."""
    project = api.make_project("team-a")
    instance = api.create_instance("hello", project_id=project)
    page = api.post(f"{DEMO}/hello/pages", json={"name": "index", "content": "x"}).json()
    user = api.make_user("bob", project, "member")
    (token,) = api.get(f"/v1/users/{user.user_id}/tokens").json()["items"]
    return {
        "project": project,
        "instance": instance["id"],
        "page": page["id"],
        "user": user.user_id,
        "token": token["id"],
        "empty": api.make_project("empty"),
    }


def _audit(api: InProcessControlPlane) -> list[dict[str, Any]]:
    response = api.get("/v1/audit", params={"limit": 1000})
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.parametrize(
    "mutation", list(MUTATIONS.values()), ids=[f"{k} adds one audit entry" for k in MUTATIONS]
)
def test_every_mutation_adds_exactly_one_audit_entry(
    api: InProcessControlPlane, mutation: Mutation
) -> None:
    ids = _setup(api)
    body = (
        {k: v.format(**ids) if isinstance(v, str) else v for k, v in mutation.body.items()}
        if mutation.body is not None
        else None
    )
    before = {entry["id"] for entry in _audit(api)}

    response = api.request(
        mutation.method,
        mutation.path.format(**ids),
        json=body,
        params={"project_id": ids["project"]} if mutation.path.startswith(DEMO) else None,
    )

    assert response.status_code < 300, response.text
    new = [entry for entry in _audit(api) if entry["id"] not in before]
    assert len(new) == 1, new
    (entry,) = new
    admin = api.get("/v1/users/me").json()
    target = response.json()["id"] if mutation.target == "response" else ids[mutation.target]
    assert entry["actor_id"] == admin["id"]
    assert entry["actor"] == "admin"
    assert entry["action"] == mutation.action
    assert entry["target_type"] == mutation.target_type
    assert entry["target_id"] == target
    assert entry["request_id"] == response.headers["x-request-id"]
    assert len(entry["request_id"]) >= 16
    assert entry["at"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("/v1/projects/{project}", {"description": "same"}, id="project"),
        pytest.param(f"{DEMO}/hello", {"message": "same"}, id="instance"),
        pytest.param(f"{DEMO}/hello/pages/index", {"content": "same"}, id="child"),
    ],
)
def test_a_patch_that_changes_nothing_adds_no_audit_entry(
    api: InProcessControlPlane, path: str, body: dict[str, str]
) -> None:
    ids = _setup(api)
    target = path.format(**ids)
    params = {"project_id": ids["project"]} if path.startswith(DEMO) else None
    assert api.request("PATCH", target, json=body, params=params).status_code < 300
    before = len(_audit(api))
    assert api.request("PATCH", target, json=body, params=params).status_code < 300
    assert len(_audit(api)) == before


def test_the_callers_request_id_is_kept_in_the_response_and_the_entry(
    api: InProcessControlPlane,
) -> None:
    response = api.post(DEMO, json={"name": "hello"}, headers={"X-Request-ID": "req-from-client"})
    assert response.headers["x-request-id"] == "req-from-client"
    assert _audit(api)[0]["request_id"] == "req-from-client"


def test_the_entry_names_the_member_who_acted_and_the_project(api: InProcessControlPlane) -> None:
    project = api.make_project("team-a")
    bob = api.make_user("bob", project, "member")
    created = api.create_instance("hello", token=bob.token)
    (entry,) = [e for e in _audit(api) if e["action"] == "demo.instances.create"]
    assert entry["actor_id"] == bob.user_id
    assert entry["actor"] == "bob"
    assert entry["project_id"] == project
    assert entry["target_id"] == created["id"]
    assert entry["details"] == {"name": "hello"}


FAILURES = {
    "duplicate instance (409)": ("POST", DEMO, {"name": "hello"}, None),
    "invalid instance (422)": ("POST", DEMO, {"name": "x", "replicas": 99}, None),
    "immutable update (422)": ("PATCH", f"{DEMO}/hello", {"name": "renamed"}, None),
    "viewer creating (403)": ("POST", DEMO, {"name": "other"}, "viewer"),
    "viewer deleting (403)": ("DELETE", f"{DEMO}/hello", None, "viewer"),
    "outsider deleting (404)": ("DELETE", f"{DEMO}/hello", None, "outsider"),
    "duplicate project (409)": ("POST", "/v1/projects", {"name": "default"}, None),
    "member creating a user (403)": ("POST", "/v1/users", {"name": "eve"}, "viewer"),
    "duplicate child (409)": (
        "POST",
        f"{DEMO}/hello/pages",
        {"name": "index", "content": "x"},
        None,
    ),
    "deleting a project with instances (409)": ("DELETE", "/v1/projects/{project}", None, None),
}


@pytest.mark.parametrize(
    ("method", "path", "body", "who"),
    list(FAILURES.values()),
    ids=[f"{k} adds no audit entry" for k in FAILURES],
)
def test_a_failed_mutation_adds_no_audit_entry(
    api: InProcessControlPlane, method: str, path: str, body: dict[str, Any] | None, who: str | None
) -> None:
    project = api.admin_project_id
    api.create_instance("hello")
    api.post(f"{DEMO}/hello/pages", json={"name": "index", "content": "x"})
    tokens = {
        "viewer": api.make_user("vera", project, "viewer").token,
        "outsider": api.make_user("otto", api.make_project("other"), "owner").token,
    }
    before = api.count(models.AuditEntry)

    response = api.request(
        method,
        path.format(project=project),
        json=body,
        token=tokens[who] if who else api.admin_token,
    )

    assert 400 <= response.status_code < 500, response.text
    assert api.count(models.AuditEntry) == before


@pytest.mark.parametrize("role", ["owner", "member", "viewer"])
def test_the_audit_log_is_for_admins_only(api: InProcessControlPlane, role: str) -> None:
    caller = api.make_user("alice", api.make_project("team-a"), role)
    problem(api.get("/v1/audit", token=caller.token), 403)


def test_the_audit_log_is_newest_first_filters_and_pages(api: InProcessControlPlane) -> None:
    team = api.make_project("team-a")
    for name in ("one", "two", "three"):
        api.create_instance(name, project_id=team)

    creates = api.get("/v1/audit", params={"action": "demo.instances.create"}).json()["items"]
    assert [e["details"]["name"] for e in creates] == ["three", "two", "one"]
    in_team = api.get("/v1/audit", params={"project_id": team}).json()["items"]
    assert {e["action"] for e in in_team} == {"demo.instances.create", "iam.projects.create"}

    first = api.get("/v1/audit", params={"limit": 2}).json()
    assert len(first["items"]) == 2
    rest = api.get("/v1/audit", params={"before": first["next_before"]}).json()
    assert all(e["id"] < first["next_before"] for e in rest["items"])
    everything = [e["id"] for e in _audit(api)]
    assert [e["id"] for e in first["items"] + rest["items"]] == everything
