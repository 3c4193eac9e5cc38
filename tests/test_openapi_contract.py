"""The API keeps the contract its own ``/openapi.json`` states, proven by schemathesis.

The control plane runs in-process (ASGI) with every installed type
(``Registry.discover()``) on a fresh database (one backend per case, taking turns). Its nodes are
cheap: a project, a member, an instance of every type and a child of every
collection are made first, and the real orchestrator brings the instances to
``ACTIVE`` on the testing kit's in-memory provider with simulated agents
(:class:`~metapaas.testing.simulation.Simulation`), so no process starts and
answers that need a live instance (credentials) are reached. During fuzzing the
orchestrator is still. Fuzzing swaps about half of its path parameters for the
seeded ids or names, so requests reach real objects as well as missing ones.

Schemathesis' engine (what ``schemathesis run`` drives) sends its coverage cases
(boundary values, missing auth, undeclared methods) and one pass of fuzzing. Every
answer must keep the document: no 5xx, a declared status, content type, body schema
and headers, and a 405 that names the allowed methods. The document must also state
every rule the server enforces, both ways: a request it says is invalid is refused
(``negative_data_rejection``: no ``0`` taken for a boolean), and one it says is valid is
refused only for a rule no JSON Schema can state (:data:`RULES_NO_SCHEMA_STATES`: the
request names an object that does not exist, a name another object holds...), never
for a pattern, a length or a type the document left out. The admin's run exercises
every route; a project member's run, the 403 and 404 of roles; a node's run, the
agent API with a real node credential.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import engine
from schemathesis.engine import events
from schemathesis.engine.recorder import ScenarioRecorder
from schemathesis.schemas import BaseSchema

from metapaas.api.routes.agent import MAX_WAIT
from metapaas.testing import InProcessControlPlane, in_process

SEED = "seeded"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "unsupported_method",  # a 405 carries ``Allow``
    "negative_data_rejection",  # what the document forbids is refused
    "only_unstatable_rules_refuse_valid_data",  # below
)
RULES_NO_SCHEMA_STATES = {
    "not_found": "the request names an object that does not exist (a project, a user, "
    "the database a grant names, the bucket a key names)",
    "unknown": "a page marker that names no item",
    "not_member": "a project the caller holds no role in",
    "unique": "a name another object holds, or one given twice in a list",
    "immutable": "a field that cannot change once the object exists",
    "deprecated": "a catalog version an instance may stay on but not move to",
    "same_distribution": "an upgrade names another distribution than the plugin's",
    "format": "a package that is neither a requirement (PEP 508) nor a wheel or sdist; "
    "an SSH key that does not parse",
    "unusable": "a backup repository the control plane cannot write to, read and delete in",
    "cron": "a schedule that is no cron expression (its grammar is no pattern's)",
}
"""What a schema-valid request may still be refused for (422), by rule: each depends on
the state of the control plane or on a grammar no JSON Schema pattern can state."""
# Bounds a run in time as max-examples bounds it in count; it takes 10-90 s here. A run
# still going at the bound (a machine that busy) stops there with a warning, not a failure.
BUDGET_SECONDS = 240.0
LONG_POLL_SECONDS = 1.0

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

    api: InProcessControlPlane
    member_token: str = ""
    node_credential: str = ""
    path_values: dict[str, str] = field(default_factory=dict)

    @property
    def admin_token(self) -> str:
        return self.api.admin_token

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self.api.request(method, path, json=body)
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
    for loaded in plane.api.state.registry.usable():
        slug = loaded.slug
        created = plane.call(
            "POST", f"/v1/types/{slug}/instances", {"name": SEED, "project_id": project}
        )
        operation = created["operation_id"]
        assert loaded.schemas is not None
        for collection in loaded.schemas.resources:
            body = CHILDREN[slug, collection]  # a newly installed type needs its seeds here
            plane.call("POST", f"/v1/types/{slug}/instances/{SEED}/{collection}", body)
    _serve(plane)
    # No token id: a run that revoked its own token would go on with 401s only.
    plane.path_values = {
        "project_id": project,
        "user_id": member["id"],
        "operation_id": operation,
        "ref": SEED,
        "child": SEED,
        "slug": "demo",
    }


def _serve(plane: Plane) -> None:
    """Bring every seeded instance to ACTIVE on simulated nodes; keep one node's credential."""
    simulation = plane.api.simulation

    def all_active() -> bool:
        return {status for _name, status, _ in simulation.statuses()} == {"ACTIVE"}

    simulation.settle(all_active, "every seeded instance ACTIVE")
    plane.node_credential = simulation.agents.credential(next(iter(simulation.provider.nodes)))


@pytest.fixture
def plane(e2e_database_url: str, tmp_path: Path) -> Iterator[Plane]:
    """Every installed type over a fresh database, seeded and served by simulated nodes (one
    backend per case, taking turns: the document does not depend on the database)."""
    with in_process(e2e_database_url, tmp_path / "home") as api:
        plane = Plane(api)
        _seed(plane)
        yield plane


@dataclass(frozen=True)
class Caller:
    """Who a run acts as, and how much it sends."""

    role: str
    max_examples: int  # per operation, in fuzzing
    coverage: bool  # boundary values, missing auth, undeclared methods: ~2500 requests
    paths: str = ""  # a regex: only the operations on matching paths


def _schema(plane: Plane, caller: Caller) -> BaseSchema:
    token = {
        "admin": plane.admin_token,
        "member": plane.member_token,
        "node": plane.node_credential,
    }[caller.role]
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
    schema = schemathesis.openapi.from_asgi("/openapi.json", plane.api.client.app, config=config)
    if caller.paths:
        schema = schema.include(path_regex=caller.paths)

    @schema.hook
    def flatmap_path_parameters(
        context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any] | None]:
        if not path_parameters:
            return st.just(path_parameters)
        real = {k: plane.path_values[k] for k in path_parameters if k in plane.path_values}
        return st.sampled_from([path_parameters, {**path_parameters, **real}])

    return schema


@schemathesis.check
def only_unstatable_rules_refuse_valid_data(
    ctx: schemathesis.CheckContext, response: Any, case: Any
) -> bool | None:
    """A request generated as valid by the document is refused (422) only for rules of
    :data:`RULES_NO_SCHEMA_STATES`; any other rule is one the document must state."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    errors = response.json().get("errors", [])
    undeclared = sorted({e["rule"] for e in errors} - set(RULES_NO_SCHEMA_STATES))
    if undeclared or not errors:
        raise AssertionError(
            f"a request the document calls valid was refused for "
            f"{', '.join(undeclared) or 'no rule named'}: {response.text[:400]}"
        )
    return None


@schemathesis.hook  # global: only this module's runs exist in its process
def before_call(context: schemathesis.HookContext, case: Any, **_kwargs: Any) -> None:
    """An agent's long-poll may wait 30 s by the document (its default): fuzzing waits
    at most 1 s, in every phase. A repository it registers is probed on this machine
    alone: an S3 endpoint becomes a closed loopback port, a directory one under
    :data:`FUZZED_DIRECTORIES`."""
    if case.path == "/v1/backup-repositories" and isinstance(case.body, dict):
        _kept_here(case.body)
        return
    if case.path != "/v1/agent/metadata":
        return
    try:
        wait = float((case.query or {}).get("wait", MAX_WAIT))
    except (TypeError, ValueError):
        return  # a wrong value is the case under test
    case.query = {**(case.query or {}), "wait": min(wait, LONG_POLL_SECONDS)}


FUZZED_DIRECTORIES = Path(tempfile.mkdtemp(prefix="metapaas-fuzzed-repositories-"))
atexit.register(shutil.rmtree, FUZZED_DIRECTORIES, ignore_errors=True)


def _kept_here(body: dict[str, Any]) -> None:
    if body.get("kind") == "s3" and "endpoint" in body:
        body["endpoint"] = "127.0.0.1:9"  # discard: nothing listens on loopback
    elif isinstance(body.get("path"), str):
        body["path"] = str(FUZZED_DIRECTORIES) + "/" + body["path"].lstrip("/")


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
    "as a node the agent API keeps it too": Caller("node", 10, coverage=True, paths="^/v1/agent/"),
}


@pytest.mark.parametrize("caller", list(CALLERS.values()), ids=list(CALLERS))
def test_every_answer_keeps_the_documented_contract(plane: Plane, caller: Caller) -> None:
    run = _run(_schema(plane, caller))
    print(f"{caller.role}: {run.report()}")
    assert not run.failures, "\n".join(sorted(run.failures))
    if run.stopped_early:
        warnings.warn(f"{caller.role}'s run stopped at {BUDGET_SECONDS:.0f} s", stacklevel=1)
