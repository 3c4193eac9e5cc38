"""Typed helpers the tests share: the API driver, callers and problem checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from metapaas.api import AppState
from metapaas.db import models

_ADMIN = object()
_TOKEN_USE = ("api_tokens", "last_used_at")


@dataclass(frozen=True)
class Caller:
    """A user made through the API, with a token that acts for it."""

    user_id: str
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Api:
    """A test client over a fresh control plane, acting as ``admin`` unless told otherwise."""

    client: TestClient
    state: AppState
    admin_token: str

    @property
    def as_admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    @property
    def admin_project_id(self) -> str:
        """The ``default`` project made at first start, the admin token's project."""
        with self.session() as session:
            project = session.scalar(select(models.Project).where(models.Project.name == "default"))
            assert project is not None
            return project.id

    def request(
        self, method: str, path: str, *, token: str | object | None = _ADMIN, **kwargs: Any
    ) -> Response:
        """Send a request with ``token`` (the admin's by default; None sends no header)."""
        headers = dict(kwargs.pop("headers", {}))
        if token is _ADMIN:
            token = self.admin_token
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response: Response = self.client.request(method, path, headers=headers, **kwargs)
        return response

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Response:
        return self.request("DELETE", path, **kwargs)

    def make_project(self, name: str) -> str:
        """Create a project as admin; returns its id."""
        response = self.post("/v1/projects", json={"name": name})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def make_user(self, name: str, project_id: str | None = None, role: str = "member") -> Caller:
        """Create a user, give it ``role`` in ``project_id`` and a token defaulting there."""
        response = self.post("/v1/users", json={"name": name, "default_project_id": project_id})
        assert response.status_code == 201, response.text
        user_id = str(response.json()["id"])
        if project_id is not None:
            bound = self.put(
                f"/v1/projects/{project_id}/members", json={"user_id": user_id, "role": role}
            )
            assert bound.status_code == 200, bound.text
        issued = self.post(f"/v1/users/{user_id}/tokens", json={"name": "test"})
        assert issued.status_code == 201, issued.text
        return Caller(user_id=user_id, name=name, token=str(issued.json()["token"]))

    def create_instance(
        self, name: str, slug: str = "demo", *, token: str | object | None = _ADMIN, **fields: Any
    ) -> dict[str, Any]:
        """Create an instance and return its body (asserting the 202)."""
        response = self.post(
            f"/v1/types/{slug}/instances", json={"name": name, **fields}, token=token
        )
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    def session(self) -> Session:
        return self.state.sessions()

    def count(self, model: type[models.Base]) -> int:
        """Rows of a table, read straight from the database."""
        with self.session() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    def counts(self) -> dict[str, int]:
        """Rows of the tables a mutation writes: for 'nothing was written' checks."""
        tables = (
            models.Instance,
            models.Operation,
            models.Resource,
            models.AuditEntry,
            models.Project,
            models.User,
            models.ApiToken,
            models.RoleBinding,
        )
        return {m.__tablename__: self.count(m) for m in tables}

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every runtime table, in key order: for 'nothing was written
        anywhere' checks. A token's ``last_used_at`` is left out: any authenticated
        request may move it, whatever it asks."""
        with self.session() as session:
            return {
                table.name: [
                    {k: v for k, v in row._mapping.items() if (table.name, k) != _TOKEN_USE}
                    for row in session.execute(select(table).order_by(*table.primary_key))
                ]
                for table in models.Base.metadata.sorted_tables
            }


def problem(response: Response, status: int) -> dict[str, Any]:
    """Assert ``response`` is an RFC 9457 problem with ``status``; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    return body


def field_rules(body: dict[str, Any]) -> set[tuple[str, str]]:
    """The ``(field, rule)`` pairs a problem names."""
    return {(e["field"], e["rule"]) for e in body.get("errors", [])}
