"""Tenant and node isolation, proven by a matrix generated from the app's own routes.

Every instance-scoped route the app serves (an instance, its child
collections, events, credentials and actions, for every usable type; and an
operation) is sent by each kind of caller: a member of another project gets
404 and nothing is written, a viewer gets 403 on writes and reads what its
role grants, a member and the owner get through, and a caller without a token
gets 401. A route added later joins the matrix without an edit here; one whose
path parameter or body the matrix cannot fill fails, naming what to add.

The agent API is held to the same standard for nodes: a node credential reads
only its own instance's metadata and reports only about its own node.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import update

from metapaas import metadata, orchestrator
from metapaas.api import build_state, create_app
from metapaas.config import Settings
from metapaas.db import models
from metapaas.iam import tokens
from metapaas.iam.permissions import role_grants
from metapaas.orchestrator.plan import BOOTSTRAP_TTL
from metapaas.plugins import Registry
from metapaas.testing import InProcessControlPlane, in_process
from metapaas.testing.fixtures import BACKENDS, DatabaseFactory
from tests.conftest import standard_registry
from tests.helpers import problem
from tests.writers import api_writes

# -- the routes ---------------------------------------------------------------------

INSTANCE_ROUTE = re.compile(r"^/v1/types/(?P<slug>[^/]+)/instances/\{ref\}(?:/(?P<rest>.+))?$")
OPERATION_ROUTE = "/v1/operations/{operation_id}"
PATH_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclasses.dataclass(frozen=True)
class Target:
    """One method of one instance-scoped route, with the path the app declares."""

    method: str
    path: str
    slug: str | None  # None for the operation route
    rest: tuple[str, ...]  # the path's segments after the instance
    collection: str  # a child collection the route is about, else "instances"
    has_body: bool

    def read_permission(self) -> str:
        """What a GET of this route checks, as the routes name it: the credentials' own,
        a child collection's list or get, else the instance's get (show, events)."""
        if self.slug is None:
            return "core.operations.get"
        if self.rest == ("credentials",):
            return f"{self.slug}.credentials.get"
        if self.rest[:1] == ("backup-policy",):
            return f"{self.slug}.backup_policy.get"
        if self.rest[:1] in (("backups",), ("recovery-window",)):
            one = len(self.rest) > 1 or self.rest[0] == "recovery-window"
            return f"{self.slug}.backups.{'get' if one else 'list'}"
        if self.collection != "instances":
            return f"{self.slug}.{self.collection}.{'get' if len(self.rest) > 1 else 'list'}"
        return f"{self.slug}.instances.get"


def instance_scoped_targets(app: FastAPI, registry: Registry) -> list[Target]:
    """Every method of every instance-scoped route ``app`` serves (behind its routers too)."""
    targets: list[Target] = []
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path or ""
        match = INSTANCE_ROUTE.match(path)
        if not isinstance(route, APIRoute) or (match is None and path != OPERATION_ROUTE):
            continue
        slug = match["slug"] if match else None
        rest = tuple(match["rest"].split("/")) if match and match["rest"] else ()
        collection = rest[0] if rest and rest[0] in _collections(registry, slug) else "instances"
        targets.extend(
            Target(method, path, slug, rest, collection, has_body=route.body_field is not None)
            for method in sorted(context.methods or ())
        )
    return targets


def _collections(registry: Registry, slug: str | None) -> list[str]:
    """The child collections of type ``slug`` (none for the operation route)."""
    if slug is None:
        return []
    schemas = registry.get_usable(slug).schemas
    assert schemas is not None
    return list(schemas.resources)


def _app_targets() -> list[Target]:
    """The targets of an app over the tests' standard registry. Built at collection, for
    the parametrization; routes need the registry but no database."""
    registry = standard_registry()
    with tempfile.TemporaryDirectory() as home:
        state = build_state(Settings(home=Path(home), database_url="sqlite://"), registry)
        try:
            return instance_scoped_targets(create_app(state), registry)
        finally:
            state.engine.dispose()


TARGETS = _app_targets()

# -- the callers and what each must get ---------------------------------------------

CALLERS = {
    "outsider": "a member of another project",
    "viewer": "a viewer of the project",
    "member": "a member of the project",
    "owner": "the project's owner",
    "anonymous": "a caller without a token",
}


BACKUP_ROUTES = frozenset({"backups", "backup-policy", "recovery-window"})
KEEPS_BACKUPS = frozenset(t.slug for t in standard_registry().usable() if t.declaration.backups)


def _expected(target: Target, caller: str) -> int | None:
    """The status ``caller`` must get from ``target``; None for any 2xx. A backup route
    of a type that keeps no backups is a 409 naming it, for whoever may ask."""
    if caller == "anonymous":
        return 401
    if caller == "outsider":
        return 404  # not 403: another project's objects do not exist for it
    allowed = None
    if target.rest[:1] and target.rest[0] in BACKUP_ROUTES and target.slug not in KEEPS_BACKUPS:
        allowed = 409
    if caller == "viewer":
        if target.method != "GET":
            return 403
        return allowed if role_grants(models.Role.VIEWER, target.read_permission()) else 403
    return allowed


@dataclasses.dataclass(frozen=True)
class Case:
    target: Target
    caller: str
    expected: int | None

    @property
    def id(self) -> str:
        outcome = "2xx" if self.expected is None else str(self.expected)
        return f"{CALLERS[self.caller]} gets {outcome} from {self.target.method} {self.target.path}"


CASES = [Case(t, c, _expected(t, c)) for t in TARGETS for c in CALLERS]

# -- the objects every path parameter names -----------------------------------------

# A valid body per route that takes one, by (type, collection, verb); "instances" is the
# instance itself. The member and owner cases prove each valid: a 422 would hide the
# permission answer. Each collection's existing child is made from its create body.
POLICY = {"schedule": "0 3 * * *", "retention": {"count": 2}}
BODIES: dict[tuple[str | None, str, str], dict[str, Any]] = {
    ("demo", "instances", "update"): {"message": "changed"},
    ("demo", "pages", "create"): {"name": "new-page", "content": "<p>new</p>"},
    ("demo", "pages", "update"): {"content": "<p>changed</p>"},
    ("widgets", "instances", "update"): {"size": 2},
    ("widgets", "parts", "create"): {"name": "new-part", "weight": 1},
    ("widgets", "parts", "update"): {"weight": 2},
    ("demo", "instances", "backup-policy"): {"repository": "local", **POLICY},
    ("widgets", "instances", "backup-policy"): {"repository": "local", **POLICY},
    ("demo", "instances", "backups"): {},
    ("widgets", "instances", "backups"): {},
}


def _body(target: Target) -> dict[str, Any] | None:
    if not target.has_body:
        return None
    verb = "create" if target.method == "POST" else "update"
    key = (target.slug, target.collection, target.rest[0] if target.rest[:1] else verb)
    if key not in BODIES:
        key = (target.slug, target.collection, verb)
    assert key in BODIES, f"{target.method} {target.path} takes a body: add {key} to BODIES"
    return BODIES[key]


# -- one control plane per backend ----------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS, ids=BACKENDS)
def plane(
    request: pytest.FixtureRequest,
    database_factory: DatabaseFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[InProcessControlPlane]:
    """One app per backend for this module, on a database of its own. Every test here
    makes its own objects; a fresh app per case would spend most of the case building the
    app (FastAPI compiles a router's routes on their first request)."""
    backend = request.param
    url = database_factory.new(backend)
    home = tmp_path_factory.mktemp(f"isolation-{backend}")
    with in_process(url, home, standard_registry()) as plane:
        repository = {"name": "local", "kind": "filesystem", "path": str(home / "backups")}
        assert plane.post("/v1/backup-repositories", json=repository).status_code == 201
        yield plane
    database_factory.drop(url)


_serial = itertools.count()


def _unique(name: str) -> str:
    """A name no other test in the module's database has taken."""
    return f"{name}-{next(_serial)}"


@dataclasses.dataclass(frozen=True)
class World:
    """An object for every path parameter: an instance of each type in one project, a
    child in each of its collections, and an operation."""

    project_id: str
    instances: dict[str, str]  # slug -> instance id
    children: dict[tuple[str, str], str]  # (slug, collection) -> child id
    operation_id: str
    backups: dict[str, str]  # slug -> a backup's id, for the types that keep backups

    def url(self, target: Target) -> str:
        known = {"operation_id": self.operation_id}
        if target.slug is not None:
            known["ref"] = self.instances[target.slug]
            known["backup"] = self.backups.get(target.slug, "no-such-backup")
            child = self.children.get((target.slug, target.collection))
            if child is not None:
                known["child"] = child
        missing = set(PATH_PARAMETER.findall(target.path)) - set(known)
        assert not missing, f"no object for {sorted(missing)} in {target.path}: add it to World"
        return target.path.format(**known)


def _world(api: InProcessControlPlane, project: str, only: str | None = None) -> World:
    """New objects in ``project``, of every usable type or ``only`` one."""
    instances: dict[str, str] = {}
    children: dict[tuple[str, str], str] = {}
    operation = ""
    for slug in [t.slug for t in api.state.registry.usable() if only in (None, t.slug)]:
        made = api.create_instance(_unique("target"), slug, project_id=project)
        instances[slug], operation = made["id"], made["operation_id"]
        for collection in _collections(api.state.registry, slug):
            body = BODIES[(slug, collection, "create")] | {"name": "existing"}
            child = api.post(f"/v1/types/{slug}/instances/{made['id']}/{collection}", json=body)
            assert child.status_code == 201, child.text
            children[(slug, collection)] = child.json()["id"]
    # As if each instance converged once and its last change failed: then every route can
    # succeed for the owner (a retry needs ERROR, credentials a converged instance).
    with api.session() as session:
        session.execute(
            update(models.Instance)
            .where(models.Instance.id.in_(instances.values()))
            .values(status=models.InstanceStatus.ERROR, observed_generation=1)
        )
        session.commit()
    return World(project, instances, children, operation, _backups(api, instances))


def _backups(api: InProcessControlPlane, instances: dict[str, str]) -> dict[str, str]:
    """A policy and two completed backups for each instance of a type that keeps backups,
    as if its node had made them; the older one's id (a newer one keeps restores possible,
    so the older may be deleted)."""
    made: dict[str, str] = {}
    for slug in sorted(KEEPS_BACKUPS & set(instances)):
        path = f"/v1/types/{slug}/instances/{instances[slug]}/backup-policy"
        assert api.put(path, json={"repository": "local", **POLICY}).status_code == 200
        with api.session() as session:
            place = session.get_one(models.BackupPlace, instances[slug])
            older, newer = (
                models.Backup(
                    instance_id=instances[slug],
                    repository_id=place.repository_id,
                    path=place.path,
                    node_name="made-by-the-test",
                    kind="full",
                    state=models.BackupState.COMPLETED,
                    label=_unique("label"),
                    finished_at=models.utcnow() - timedelta(hours=hours_ago),
                )
                for hours_ago in (2, 1)
            )
            session.add_all([older, newer])
            session.commit()
            made[slug] = older.id
    return made


def _token(api: InProcessControlPlane, world: World, caller: str) -> str | None:
    if caller == "anonymous":
        return None
    if caller == "outsider":
        return api.make_user(_unique("mallory"), api.make_project(_unique("team-b"))).token
    return api.make_user(_unique(caller), world.project_id, caller).token


@pytest.fixture(scope="module")
def world(plane: InProcessControlPlane) -> World:
    """Project A's objects for every case that reads or must change nothing, made once."""
    return _world(plane, plane.make_project(_unique("team-a")))


@pytest.fixture(scope="module")
def tokens_of(plane: InProcessControlPlane, world: World) -> dict[str, str | None]:
    """A token per kind of caller, as project A sees it."""
    return {caller: _token(plane, world, caller) for caller in CALLERS}


# -- the matrix ---------------------------------------------------------------------


def test_the_matrix_covers_every_instance_scoped_route_of_the_app(
    plane: InProcessControlPlane,
) -> None:
    app = plane.client.app
    assert isinstance(app, FastAPI)
    served = instance_scoped_targets(app, plane.state.registry)
    assert {(t.method, t.path) for t in served} == {(t.method, t.path) for t in TARGETS}
    covered = {(t.slug, t.collection) for t in TARGETS}
    for loaded in plane.state.registry.usable():
        for collection in ("instances", *_collections(plane.state.registry, loaded.slug)):
            assert (loaded.slug, collection) in covered
    assert (None, "instances") in covered  # the operation route


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_caller_gets_what_its_role_allows_on_every_instance_scoped_route(
    plane: InProcessControlPlane, world: World, tokens_of: dict[str, str | None], case: Case
) -> None:
    target = case.target
    if case.expected is None and target.method != "GET":  # a write that succeeds
        world = _world(plane, world.project_id, only=target.slug)  # changes objects of its own
    token = tokens_of[case.caller]
    before = plane.rows()

    with api_writes(plane.state.sessions) as writes:
        url = world.url(target)
        response = plane.request(target.method, url, token=token, json=_body(target))

    if case.expected is None:
        assert response.is_success, response.text
    else:
        problem(response, case.expected)
        assert plane.rows() == before, "a refused request wrote something"
    assert writes.seen == [], "a request wrote what only the orchestrator writes"


CHILD_TARGETS = [t for t in TARGETS if "{child}" in t.path]


@pytest.mark.parametrize(
    "target",
    CHILD_TARGETS,
    ids=[
        f"{t.method} of another project's child through one's own instance is 404 ({t.path})"
        for t in CHILD_TARGETS
    ],
)
def test_a_child_is_found_only_in_its_own_instance(
    plane: InProcessControlPlane, world: World, target: Target
) -> None:
    mine = _world(plane, plane.make_project(_unique("team-c")), only=target.slug)
    owner = _token(plane, mine, "owner")
    crossed = dataclasses.replace(mine, children=world.children)  # my instance, their child
    before = plane.rows()

    response = plane.request(target.method, crossed.url(target), token=owner, json=_body(target))

    problem(response, 404)
    assert plane.rows() == before


# -- nodes --------------------------------------------------------------------------

REPORT = {
    "applied_revision": 1,
    "applied_generation": 1,
    "state": "ready",
    "health": "healthy",
    "message": "serving",
    "events": [{"kind": "config_applied", "message": "widgets.conf"}],
}
COMMAND_RESULT = {"state": "succeeded", "exit_code": 0, "output": "done"}


@dataclasses.dataclass(frozen=True)
class Node:
    """A registered node of one widgets instance, and what only its instance's nodes may see."""

    instance_id: str
    name: str
    bootstrap_token: str
    credential: str
    command_id: str
    private: tuple[str, ...]  # ids, names and secrets in its instance's metadata


def _plan_node(api: InProcessControlPlane, instance_id: str, port: int) -> str:
    """Record a node with a one-time bootstrap token and publish its instance's metadata,
    as the reconciler's plan and observe phases do; returns the token."""
    token = tokens.new_token()
    loaded = api.state.registry.get_usable("widgets")
    with api.session() as session:
        instance = session.get(models.Instance, instance_id)
        assert instance is not None
        node = models.Node(
            name=orchestrator.node_name(instance_id, "main", 0),
            instance_id=instance_id,
            role="main",
            ordinal=0,
            address="127.0.0.1",
            ports={"http": port},
            bootstrap_hash=tokens.digest(token),
            bootstrap_expires_at=models.utcnow() + BOOTSTRAP_TTL,
        )
        session.add(node)
        view = orchestrator.instance_view(session, instance, loaded, api.state.sealer)
        nodes = orchestrator.node_views([node])
        metadata.publish(
            session, instance_id, orchestrator.metadata_document(view, loaded.declaration, nodes)
        )
        session.commit()
    return token


def _queue_command(api: InProcessControlPlane, instance_id: str, node_name: str) -> str:
    with api.session() as session:
        command = models.NodeCommand(instance_id=instance_id, node_name=node_name, name="init")
        session.add(command)
        session.commit()
        return command.id


def _registered_node(api: InProcessControlPlane, name: str, port: int) -> Node:
    made = api.create_instance(name, "widgets")
    part = api.post(f"/v1/types/widgets/instances/{name}/parts", json={"name": f"{name}-part"})
    assert part.status_code == 201, part.text
    bootstrap = _plan_node(api, made["id"], port)
    registered = api.post("/v1/agent/register", token=None, json={"bootstrap_token": bootstrap})
    assert registered.status_code == 200, registered.text
    node_name = registered.json()["node"]
    command_id = _queue_command(api, made["id"], node_name)
    private = (made["id"], name, node_name, made["password"], part.json()["key"], command_id)
    return Node(
        made["id"], node_name, bootstrap, registered.json()["credential"], command_id, private
    )


@pytest.fixture
def node(plane: InProcessControlPlane) -> Node:
    return _registered_node(plane, _unique("alpha"), 40001)


@pytest.fixture
def nodes(plane: InProcessControlPlane, node: Node) -> tuple[Node, Node]:
    """Two registered nodes, each of its own widgets instance in the same project."""
    return node, _registered_node(plane, _unique("bravo"), 40002)


def _changed_rows(
    before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Rows added, removed or changed between two :meth:`InProcessControlPlane.rows` snapshots."""
    return [
        row
        for table in after
        for old, new in ((before[table], after[table]), (after[table], before[table]))
        for row in new
        if row not in old
    ]


def test_a_node_credential_reads_only_its_own_instances_metadata(
    plane: InProcessControlPlane, nodes: tuple[Node, Node]
) -> None:
    for reader, other in (nodes, nodes[::-1]):
        response = plane.get("/v1/agent/metadata", token=reader.credential, params={"wait": 0})

        assert response.status_code == 200, response.text
        view = response.json()
        assert view["instance"]["id"] == reader.instance_id
        assert view["node"]["name"] == reader.name
        assert [peer["name"] for peer in view["peers"]["main"]] == [reader.name]
        assert [command["id"] for command in view["commands"]] == [reader.command_id]
        assert all(s in response.text for s in reader.private)  # the view does carry secrets
        assert [s for s in other.private if s in response.text] == []


def test_a_report_changes_only_the_reporting_nodes_instance(
    plane: InProcessControlPlane, nodes: tuple[Node, Node]
) -> None:
    reporter, _ = nodes
    before = plane.rows()

    with api_writes(plane.state.sessions) as writes:
        response = plane.post("/v1/agent/report", token=reporter.credential, json=REPORT)

    assert response.status_code == 204, response.text
    changed = _changed_rows(before, plane.rows())
    assert {row.get("instance_id") for row in changed} == {reporter.instance_id}
    with plane.session() as session:
        node = session.get(models.Node, reporter.name)
        assert node is not None
        assert node.report is not None
        assert (node.report.state, node.report.health) == ("ready", "healthy")
    assert writes.seen == [], "a report wrote what only the orchestrator writes"


def test_a_command_result_for_another_nodes_command_is_404_and_changes_nothing(
    plane: InProcessControlPlane, nodes: tuple[Node, Node]
) -> None:
    reporter, other = nodes
    before = plane.rows()

    refused = plane.post(
        f"/v1/agent/commands/{other.command_id}", token=reporter.credential, json=COMMAND_RESULT
    )

    problem(refused, 404)
    assert plane.rows() == before
    with api_writes(plane.state.sessions) as writes:
        own = plane.post(
            f"/v1/agent/commands/{other.command_id}", token=other.credential, json=COMMAND_RESULT
        )
    assert own.status_code == 204, own.text
    assert writes.seen == [], "a command result wrote what only the orchestrator writes"
    with plane.session() as session:
        command = session.get(models.NodeCommand, other.command_id)
        assert command is not None
        assert command.state == models.CommandState.SUCCEEDED


def _revoked(api: InProcessControlPlane, node: Node) -> str:
    """The node's credential after the reconciler restarted or replaced the node (a new
    incarnation of it, whose agent registers anew)."""
    with api.session() as session:
        session.execute(
            update(models.Node)
            .where(models.Node.name == node.name)
            .values(incarnation=models.Node.incarnation + 1)
        )
        session.commit()
    return node.credential


Credential = Callable[[InProcessControlPlane, Node], str | None]
REFUSED_CREDENTIALS: dict[str, Credential] = {
    "no credential": lambda _api, _node: None,
    "an unknown credential": lambda _api, _node: tokens.new_token(),
    "a revoked credential": _revoked,
    "the node's used bootstrap token": lambda _api, node: node.bootstrap_token,
    "a user's API token": lambda api, _node: api.admin_token,
}
AGENT_CALLS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "read metadata": ("GET", "/v1/agent/metadata?wait=0", None),
    "report": ("POST", "/v1/agent/report", REPORT),
    "report a command result": ("POST", "/v1/agent/commands/{command}", COMMAND_RESULT),
}


REFUSED_CALLS = list(itertools.product(REFUSED_CREDENTIALS, AGENT_CALLS))


@pytest.mark.parametrize(
    ("credential", "call"),
    REFUSED_CALLS,
    ids=[f"{credential} cannot {call} (401)" for credential, call in REFUSED_CALLS],
)
def test_a_refused_credential_is_401_and_changes_nothing(
    plane: InProcessControlPlane, node: Node, credential: str, call: str
) -> None:
    token = REFUSED_CREDENTIALS[credential](plane, node)
    method, path, body = AGENT_CALLS[call]
    before = plane.rows()

    response = plane.request(method, path.format(command=node.command_id), token=token, json=body)

    problem(response, 401)
    assert plane.rows() == before


def _expired_bootstrap(api: InProcessControlPlane, node: Node) -> str:
    """A bootstrap token issued to the node (as for a restart) whose expiry has passed."""
    token = tokens.new_token()
    with api.session() as session:
        session.execute(
            update(models.Node)
            .where(models.Node.name == node.name)
            .values(
                bootstrap_hash=tokens.digest(token),
                bootstrap_expires_at=models.utcnow() - timedelta(seconds=1),
            )
        )
        session.commit()
    return token


BOOTSTRAPS_THAT_CANNOT_REGISTER: dict[str, Callable[[InProcessControlPlane, Node], str]] = {
    "a bootstrap token already exchanged": lambda _api, node: node.bootstrap_token,
    "an expired bootstrap token": _expired_bootstrap,
    "an unknown bootstrap token": lambda _api, _node: tokens.new_token(),
    "a node credential": lambda _api, node: node.credential,
}


@pytest.mark.parametrize(
    "bootstrap",
    list(BOOTSTRAPS_THAT_CANNOT_REGISTER),
    ids=[
        f"{b} cannot register (401) and the node keeps its credential"
        for b in BOOTSTRAPS_THAT_CANNOT_REGISTER
    ],
)
def test_a_bootstrap_token_registers_once(
    plane: InProcessControlPlane, node: Node, bootstrap: str
) -> None:
    token = BOOTSTRAPS_THAT_CANNOT_REGISTER[bootstrap](plane, node)
    before = plane.rows()

    response = plane.post("/v1/agent/register", token=None, json={"bootstrap_token": token})

    problem(response, 401)
    assert plane.rows() == before
    still = plane.get("/v1/agent/metadata", token=node.credential, params={"wait": 0})
    assert still.status_code == 200, still.text


def test_a_node_credential_is_no_user_token(plane: InProcessControlPlane, node: Node) -> None:
    problem(
        plane.get(f"/v1/types/widgets/instances/{node.instance_id}", token=node.credential), 401
    )
