"""The control plane in the test's own process: the real API and orchestrator, nodes simulated.

A plugin's tests drive their type through the REST API the way users do, and see the
orchestrator take their instances to ``ACTIVE``, without a server process, a node
process or a real wait::

    def test_a_bucket_is_a_resource(api: InProcessControlPlane) -> None:
        made = api.create_instance("s3-prod", slug="s3", bucket_name="data")
        api.converge("s3", made["id"])
        assert api.get("/v1/types/s3/instances/s3-prod/buckets").json()["items"]

:class:`InProcessControlPlane` is a ``TestClient`` over the app, its state and the
admin's token, with helpers that make projects, users and instances through the API
itself; its :attr:`~InProcessControlPlane.simulation` runs the real reconciler and
worker over the in-memory provider, each node's agent played over the real agent API,
on one fake clock (:mod:`metapaas.testing.simulation`). The kit's ``api`` fixture gives
one over a new database migrated for every installed type.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from metapaas.api import AppState, build_state, create_app, prepare
from metapaas.config import Settings
from metapaas.db import models
from metapaas.plugins import Registry
from metapaas.testing.simulation import Simulation

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
class InProcessControlPlane:
    """A test client over a control plane in this process, acting as ``admin`` unless told
    otherwise; :attr:`simulation` plays its nodes."""

    client: TestClient
    state: AppState
    admin_token: str
    _simulation: Simulation | None = field(default=None, repr=False)

    @property
    def as_admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    @property
    def admin_project_id(self) -> str:
        """The ``default`` project made at first start, the admin token's project."""
        with self.session() as session:
            project = session.scalar(select(models.Project).where(models.Project.name == "default"))
            if project is None:
                raise LookupError("the control plane has no default project")
            return project.id

    # -- requests -------------------------------------------------------------------

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

    # -- made through the API ---------------------------------------------------------

    def make_project(self, name: str) -> str:
        """Create a project as admin; returns its id."""
        return str(_answer(self.post("/v1/projects", json={"name": name}), 201)["id"])

    def make_user(self, name: str, project_id: str | None = None, role: str = "member") -> Caller:
        """Create a user, give it ``role`` in ``project_id`` and a token defaulting there."""
        made = self.post("/v1/users", json={"name": name, "default_project_id": project_id})
        user_id = str(_answer(made, 201)["id"])
        if project_id is not None:
            member = {"user_id": user_id, "role": role}
            _answer(self.put(f"/v1/projects/{project_id}/members", json=member), 200)
        issued = self.post(f"/v1/users/{user_id}/tokens", json={"name": "test"})
        return Caller(user_id=user_id, name=name, token=str(_answer(issued, 201)["token"]))

    def create_instance(
        self, name: str, slug: str = "demo", *, token: str | object | None = _ADMIN, **fields: Any
    ) -> dict[str, Any]:
        """Create an instance and return its body (the answer must be the 202)."""
        made = self.post(f"/v1/types/{slug}/instances", json={"name": name, **fields}, token=token)
        return _answer(made, 202)

    # -- simulated nodes ----------------------------------------------------------------

    @property
    def simulation(self) -> Simulation:
        """The orchestrator and simulated agents of this control plane, made on first use
        (the app's clock becomes the simulation's fake one)."""
        if self._simulation is None:
            self._simulation = Simulation(self.state, self.client)
        return self._simulation

    def converge(self, slug: str, ref: str, status: str = "ACTIVE") -> dict[str, Any]:
        """Run the simulation until the instance ``ref`` (id or name) is in ``status``;
        returns it as the API shows it."""
        path = f"/v1/types/{slug}/instances/{ref}"

        def reached() -> bool:
            return bool(_answer(self.get(path), 200)["status"] == status)

        self.simulation.settle(reached, f"{slug} instance {ref} {status}")
        return _answer(self.get(path), 200)

    # -- what the database holds ----------------------------------------------------

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


def open_client(state: AppState, admin_token: str) -> InProcessControlPlane:
    """A control plane over ``state``'s database (migrated already), acting as the admin of
    ``admin_token``. Its client is entered (one event loop thread for all its requests);
    :func:`close` leaves it."""
    client = TestClient(create_app(state), raise_server_exceptions=False)
    client.__enter__()
    return InProcessControlPlane(client=client, state=state, admin_token=admin_token)


def close(plane: InProcessControlPlane) -> None:
    plane.client.__exit__(None, None, None)
    plane.state.engine.dispose()


@contextmanager
def in_process(
    database_url: str, home: Path, registry: Registry | None = None
) -> Iterator[InProcessControlPlane]:
    """A control plane on a new, empty database: migrated for ``registry``'s types (every
    installed type by default), with its first admin."""
    settings = Settings(home=home, database_url=database_url)
    state = build_state(settings, registry=registry or Registry.discover())
    token = prepare(state)  # as a starting server does: migrations, the CA, the admin
    if token is None:
        raise RuntimeError(f"the database {database_url} is not new: it has an admin already")
    plane = open_client(state, token)
    try:
        yield plane
    finally:
        close(plane)


def _answer(response: Response, status: int) -> dict[str, Any]:
    """The JSON body of ``response``, which must have ``status``."""
    if response.status_code != status:
        raise AssertionError(
            f"{response.request.method} {response.request.url.path}: wanted {status}, got "
            f"{response.status_code}: {response.text}"
        )
    body: dict[str, Any] = response.json()
    return body
