"""The API keeps the contract its own ``/openapi.json`` states, proven by schemathesis.

The control plane runs in-process (ASGI) with every installed type
(``Registry.discover()``) on a fresh database of each backend; no orchestrator
runs, so instances stay ``NEW`` and no node starts. A project, a member, an
instance of every type and a child of every collection are made first; fuzzing
swaps about half of its path parameters for their ids or names, so requests reach
real objects as well as missing ones.

Schemathesis' engine (what ``schemathesis run`` drives) sends its coverage cases
(boundary values, missing auth, undeclared methods) and one pass of fuzzing. Every
answer must keep the document: no 5xx, a declared status, content type, body schema
and headers, and a 405 that names the allowed methods. The admin's run exercises
every route; a project member's run, the 403 and 404 of roles.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from schemathesis import engine
from schemathesis.engine import events
from schemathesis.engine.recorder import ScenarioRecorder
from schemathesis.schemas import BaseSchema

from metapaas.api import AppState, build_state, create_app, prepare
from metapaas.config import Settings

SEED = "seeded"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "unsupported_method",  # a 405 carries ``Allow``
)
# Bounds a run in time as max-examples bounds it in count; it takes 10-90 s here. A run
# still going at the bound (a machine that busy) stops there with a warning, not a failure.
BUDGET_SECONDS = 240.0

# A valid child of every collection of every installed type, named SEED.
CHILDREN: dict[tuple[str, str], dict[str, Any]] = {
    ("demo", "pages"): {"name": SEED, "content": "hello"},
    ("redis", "users"): {"name": SEED, "keys": ["app:*"]},
    ("postgres", "databases"): {"name": SEED},
    ("postgres", "roles"): {"name": SEED, "grants": [{"database": SEED}]},
    ("s3", "buckets"): {"name": SEED},
    ("s3", "access_keys"): {"name": SEED, "buckets": [SEED]},
}


@dataclass
class Plane:
    """The app under test, its callers' tokens and the path parameters that hit real rows."""

    state: AppState
    client: TestClient
    admin_token: str
    member_token: str = ""
    path_values: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self.client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {self.admin_token}"}
        )
        assert response.is_success, (method, path, response.text)
        return dict(response.json())


def _seed(plane: Plane) -> None:
    project = plane.call("POST", "/v1/projects", {"name": SEED})["id"]
    member = plane.call("POST", "/v1/users", {"name": "member", "default_project_id": project})
    plane.call(
        "PUT", f"/v1/projects/{project}/members", {"user_id": member["id"], "role": "member"}
    )
    token = plane.call("POST", f"/v1/users/{member['id']}/tokens", {"name": SEED})
    plane.member_token = token["token"]
    operation = ""
    for loaded in plane.state.registry.usable():
        slug = loaded.slug
        created = plane.call(
            "POST", f"/v1/types/{slug}/instances", {"name": SEED, "project_id": project}
        )
        operation = created["operation_id"]
        assert loaded.schemas is not None
        for collection in loaded.schemas.resources:
            body = CHILDREN[slug, collection]  # a newly installed type needs its seeds here
            plane.call("POST", f"/v1/types/{slug}/instances/{SEED}/{collection}", body)
    # No token id: a run that revoked its own token would go on with 401s only.
    plane.path_values = {
        "project_id": project,
        "user_id": member["id"],
        "operation_id": operation,
        "ref": SEED,
        "child": SEED,
        "slug": "demo",
    }


@pytest.fixture
def plane(empty_database_url: str, tmp_path: Path) -> Iterator[Plane]:
    """Every installed type over a fresh database, seeded; no orchestrator."""
    state = build_state(Settings(home=tmp_path / "home", database_url=empty_database_url))
    admin_token = prepare(state)
    assert admin_token is not None
    with TestClient(create_app(state)) as client:
        plane = Plane(state=state, client=client, admin_token=admin_token)
        _seed(plane)
        yield plane
    state.engine.dispose()


@dataclass(frozen=True)
class Caller:
    """Who a run acts as, and how much it sends."""

    role: str
    max_examples: int  # per operation, in fuzzing
    coverage: bool  # boundary values, missing auth, undeclared methods: ~2500 requests


def _schema(plane: Plane, caller: Caller) -> BaseSchema:
    token = plane.admin_token if caller.role == "admin" else plane.member_token
    config = schemathesis.Config.from_dict(
        {
            "seed": 20261127,  # the same cases each run, as far as the answers allow
            "headers": {"Authorization": f"Bearer {token}"},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "generation": {"max-examples": caller.max_examples},
            "phases": {
                "coverage": {"enabled": caller.coverage},
                # No links to follow: FastAPI declares none, and no route needs a sequence.
                "stateful": {"enabled": False},
            },
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", plane.client.app, config=config)

    @schema.hook
    def flatmap_path_parameters(
        context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any] | None]:
        if not path_parameters:
            return st.just(path_parameters)
        real = {k: plane.path_values[k] for k in path_parameters if k in plane.path_values}
        return st.sampled_from([path_parameters, {**path_parameters, **real}])

    return schema


@dataclass
class Run:
    """What one schemathesis run sent and what it found."""

    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    failures: set[str] = field(default_factory=set)
    stopped_early: bool = False
    seconds: float = 0.0

    def record(self, recorder: ScenarioRecorder) -> None:
        for case_id, interaction in recorder.interactions.items():
            self.requests += 1
            response = interaction.response
            status = response.status_code if response is not None else 0
            self.by_status[status] = self.by_status.get(status, 0) + 1
            for check in recorder.checks.get(case_id, []):
                if check.failure_info is not None:
                    failure = check.failure_info.failure
                    self.failures.add(
                        f"{interaction.request.method} {interaction.request.uri} -> {status}: "
                        f"{check.name}: {failure.title}: {failure.message[:500]}"
                    )

    def report(self) -> str:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.by_status.items()))
        return f"{self.requests} requests in {self.seconds:.1f} s ({statuses})"


def _run(schema: BaseSchema) -> Run:
    run = Run()
    started = time.monotonic()
    stream = engine.from_schema(schema).execute()
    for event in stream:
        if isinstance(event, events.ScenarioFinished):
            run.record(event.recorder)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            run.failures.add(f"{event.__class__.__name__}: {getattr(event, 'label', '')}: {event}")
        elif isinstance(event, events.EngineFinished):
            run.seconds = event.running_time
            run.failures.update(f.title for f in event.failures)
        if not run.stopped_early and time.monotonic() - started > BUDGET_SECONDS:
            run.stopped_early = True
            stream.stop()
    return run


CALLERS = {
    "as the admin every route keeps the document": Caller("admin", 5, coverage=True),
    "as a project member the 403s and 404s keep it too": Caller("member", 5, coverage=False),
}


@pytest.mark.parametrize("caller", list(CALLERS.values()), ids=list(CALLERS))
def test_every_answer_keeps_the_documented_contract(plane: Plane, caller: Caller) -> None:
    run = _run(_schema(plane, caller))
    print(f"{caller.role}: {run.report()}")
    assert not run.failures, "\n".join(sorted(run.failures))
    if run.stopped_early:
        warnings.warn(f"{caller.role}'s run stopped at {BUDGET_SECONDS:.0f} s", stacklevel=1)
