"""Crash at every step, not at one: the orchestrator killed at each point converges.

A point is every database commit the orchestrator makes and the moment before
and after every call it makes to the provider. They are found by running each
scenario once and recording them as they happen (a commit hook on the
orchestrator's sessions, a wrapper around the provider), so a step added to
the code later is covered without editing this test. Then the scenario runs
once per point: the orchestrator stops dead there (nothing after the point
runs, as after a SIGKILL; the provider and the agents live on), a new one
starts as a restarted process would, and the end state is checked: the
instance ``ACTIVE`` at its newest generation (or gone), exactly the planned
nodes, each where the metadata says it is, no orphan, no operation left open.

A scenario's starting point (an instance made and settled) is prepared once: its
rows and machines are kept, and every run starts from a copy of them.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from sqlalchemy import Table, event
from sqlalchemy.orm import Session, sessionmaker

from metapaas import providers, sdk
from metapaas.db import models
from metapaas.iam import ensure_admin
from metapaas.orchestrator import node_name
from metapaas.plugins import Registry
from metapaas.testing.agents import SimulatedAgents
from metapaas.testing.memory import MemoryProvider
from metapaas.testing.simulation import Machines
from tests.conftest import SharedDatabase
from tests.crashing import Crash, CrashPoints
from tests.orchestrator.rig import Rig, orchestrator_caller

CLUSTERS = "/v1/types/clusters/instances"
ROUNDS_TO_CONVERGE = 60


class OrchestratorCrashPoints(CrashPoints):
    """Crash points named by the orchestrator's code that reached them."""

    def on_commit(self, _session: Session) -> None:
        self.reached(f"commit in {orchestrator_caller()}")


class CrashingProvider:
    """The provider with a crash point before and after each of its calls."""

    def __init__(self, inner: providers.Provider, points: CrashPoints) -> None:
        self._inner = inner
        self._points = points

    def __getattr__(self, method: str) -> Callable[..., Any]:
        call = getattr(self._inner, method)

        def crashing(*args: Any) -> Any:
            what = f"{method}({', '.join(_short(a) for a in args)})"
            self._points.reached(f"before {what}")
            result = call(*args)
            self._points.reached(f"after {what}")
            return result

        return crashing


def _short(arg: Any) -> str:
    """A node name without its instance id (which differs from run to run)."""
    name = arg.name if isinstance(arg, providers.NodeSpec) else str(arg)
    return name.split("-", 1)[-1] if "-" in name else "..."


# -- scenarios ------------------------------------------------------------------------


class Starting(Protocol):
    """What a scenario's starting point is made by."""

    @property
    def prepare(self) -> Callable[[Rig], str]: ...


@dataclass(frozen=True)
class Scenario:
    """``prepare`` makes the starting point (settled, no crash) and returns the instance id
    or ''; ``act`` asks for the change whose every step is crashed in turn. The starting
    point is made once and every run starts from a copy of it."""

    prepare: Callable[[Rig], str]
    act: Callable[[Rig, str], str]
    replicas: int  # replica nodes at the end; -1: the instance is deleted


def _nothing(_rig: Rig) -> str:
    return ""


def _active(replicas: int) -> Callable[[Rig], str]:
    def prepare(rig: Rig) -> str:
        instance_id = rig.create("clusters", "c1", replicas=replicas)
        rig.settle_status(instance_id, "ACTIVE")
        return instance_id

    return prepare


def _create(rig: Rig, _instance_id: str) -> str:
    return rig.create("clusters", "c1", replicas=2)


def _patch(body: dict[str, Any]) -> Callable[[Rig, str], str]:
    def act(rig: Rig, instance_id: str) -> str:
        assert rig.api.patch(f"{CLUSTERS}/{instance_id}", json=body).status_code == 202
        return instance_id

    return act


def _stop_primary(rig: Rig, instance_id: str) -> str:
    rig.provider.stop(node_name(instance_id, "primary", 0))
    return instance_id


def _silence_replica(rig: Rig, instance_id: str) -> str:
    rig.agents.silence(node_name(instance_id, "replica", 0))
    return instance_id


def _delete(rig: Rig, instance_id: str) -> str:
    assert rig.api.delete(f"{CLUSTERS}/{instance_id}").status_code == 202
    return instance_id


def _failed(rig: Rig) -> str:
    rig.provider.failure = sdk.PermanentError("no room")
    instance_id = rig.create("clusters", "c1", replicas=1)
    rig.settle_status(instance_id, "ERROR")
    rig.provider.failure = None
    return instance_id


def _upgrade(rig: Rig, instance_id: str) -> str:
    rig.upgrade("clusters", "w2")
    return instance_id


def _retry(rig: Rig, instance_id: str) -> str:
    assert rig.api.post(f"{CLUSTERS}/{instance_id}/actions/retry").status_code == 202
    return instance_id


SCENARIOS = {
    "create": Scenario(_nothing, _create, replicas=2),
    "update: a new setting and one more node": Scenario(
        _active(1), _patch({"setting": "b", "replicas": 2}), replicas=2
    ),
    "scale in: two nodes retired": Scenario(_active(2), _patch({"replicas": 0}), replicas=0),
    "restart of a node whose processes died": Scenario(_active(1), _stop_primary, replicas=1),
    "replace of a node that went silent": Scenario(_active(1), _silence_replica, replicas=1),
    "delete": Scenario(_active(1), _delete, replicas=-1),
    "retry of an instance in ERROR": Scenario(_failed, _retry, replicas=1),
    "rollout of an upgraded type": Scenario(_active(1), _upgrade, replicas=1),
}


# -- the harness ------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A scenario's starting point, made once and kept: every run starts from it, so a
    crash point costs only what comes after the preparation."""

    instance_id: str
    rows: dict[str, list[dict[str, Any]]]  # by table, the tables in their creation order
    machines: Machines
    admin_token: str
    registry: Registry


@pytest.fixture
def prepare(rig: Rig, shared_database: SharedDatabase) -> Callable[[Scenario], Prepared]:
    """Makes a scenario's starting point from an empty database and new machines."""

    def prepare_(scenario: Starting) -> Prepared:
        shared_database.wipe()
        with rig.state.sessions.begin() as session:
            rig.state.registry.record(session)
            token = ensure_admin(session)
        assert token is not None
        rig.api.admin_token = token
        rig.provider = MemoryProvider()
        rig.agents = SimulatedAgents(rig.api.client, rig.provider)
        rig.clock.now = models.utcnow()
        rig.worker = rig.new_worker()
        instance_id = scenario.prepare(rig)
        with rig.state.engine.connect() as connection:
            rows = {
                table.name: [dict(row._mapping) for row in connection.execute(table.select())]
                for table in models.Base.metadata.sorted_tables
            }
        return Prepared(instance_id, rows, rig.machines(), token, rig.state.registry)

    return prepare_


@pytest.fixture
def restore(rig: Rig, shared_database: SharedDatabase) -> Callable[[Prepared], Rig]:
    """Puts the database and the machines back as a scenario's preparation left them."""

    def restore_(prepared: Prepared) -> Rig:
        shared_database.wipe()
        with rig.state.engine.begin() as connection:
            for table in models.Base.metadata.sorted_tables:
                if rows := prepared.rows[table.name]:
                    connection.execute(table.insert(), _referenced_first(table, rows))
        rig.state.registry = prepared.registry  # a scenario may have upgraded a type
        rig.api.admin_token = prepared.admin_token
        rig.restore(prepared.machines)
        return rig

    return restore_


def _referenced_first(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with those a row of the same table refers to first (a drill's scratch
    instance after the instance it drills): PostgreSQL checks each row as it comes."""
    own = [
        key.parent.name
        for key in table.foreign_keys
        if key.column.table is table and key.parent is not None
    ]
    return sorted(rows, key=lambda row: any(row[column] is not None for column in own))


@pytest.fixture
def dead_worker_id() -> str:
    """The id of a worker whose process is gone: a restarted worker frees its claims."""
    finished = subprocess.Popen(["true"])
    finished.wait()
    return f"{socket.gethostname()}:{finished.pid}"


def _run(
    rig: Rig, scenario: Scenario, instance_id: str, crash_at: int | None, dead_id: str
) -> CrashPoints:
    return run(
        rig,
        lambda: scenario.act(rig, instance_id),
        lambda found: _converged(rig, found, scenario),
        lambda found: _check(rig, found, scenario),
        crash_at,
        dead_id,
    )


def run(
    rig: Rig,
    act: Callable[[], str],
    converged: Callable[[str], bool],
    check: Callable[[str], None],
    crash_at: int | None,
    dead_id: str,
) -> CrashPoints:
    """One run from the prepared start: ``act`` (it returns the instance to look at),
    crash at the point (if any), restart, converge, check."""
    instance_id = act()
    points = OrchestratorCrashPoints(crash_at)
    sessions: sessionmaker[Session] = sessionmaker(rig.api.state.engine, expire_on_commit=False)
    event.listen(sessions, "after_commit", points.on_commit)
    rig.worker = rig.new_worker(
        sessions=sessions, provider=CrashingProvider(rig.provider, points), worker_id=dead_id
    )
    try:
        rig.settle(lambda: converged(instance_id), "converged", ROUNDS_TO_CONVERGE)
    except Crash:
        rig.worker = rig.new_worker()  # the process starts again
        assert rig.worker.recover() <= 1
        rig.settle(lambda: converged(instance_id), "converged", ROUNDS_TO_CONVERGE)
    check_machines(rig)
    check(instance_id)
    return points


def _planned(instance_id: str, scenario: Scenario) -> set[str]:
    replicas = {node_name(instance_id, "replica", i) for i in range(scenario.replicas)}
    return {node_name(instance_id, "primary", 0)} | replicas if scenario.replicas >= 0 else set()


def _converged(rig: Rig, instance_id: str, scenario: Scenario) -> bool:
    instance = rig.instance(instance_id)
    if scenario.replicas < 0:
        return instance.status == "DELETED"
    wheelhouse = rig.state.registry.get("clusters").wheelhouse
    running = {
        n.name
        for n in rig.rows(models.Node, instance_id=instance_id, state="RUNNING")
        if n.wheelhouse == wheelhouse
    }
    machines = {n.spec.name for n in rig.provider.running()}
    planned = _planned(instance_id, scenario)
    return (
        instance.status == "ACTIVE"
        and instance.observed_generation == instance.generation
        and running == planned
        and planned <= machines
        and not any(rig.agents.is_silent(name) for name in planned)
    )


def check_machines(rig: Rig) -> None:
    """No operation left open, and the machines as the rows say: every node and volume
    has its row and every row its node and volume."""
    open_ops = [op.kind for op in rig.rows(models.Operation) if op.state in models.OPEN_OPERATIONS]
    assert open_ops == []
    every_row = {n.name for n in rig.rows(models.Node)}
    assert set(rig.provider.nodes) == every_row, "a node without a row, or a row without one"
    assert set(rig.provider.volumes) == every_row, "a volume left behind, or a node without one"


def _check(rig: Rig, instance_id: str, scenario: Scenario) -> None:
    instance = rig.instance(instance_id)
    ops = sorted(rig.rows(models.Operation, instance_id=instance_id), key=lambda op: op.created_at)
    assert ops[-1].state == "SUCCEEDED", (ops[-1].kind, ops[-1].error)
    every_row = {n.name for n in rig.rows(models.Node)}
    if scenario.replicas < 0:
        assert every_row == set()
        assert rig.rows(models.MetadataDocument, instance_id=instance_id) == []
        return
    planned = _planned(instance_id, scenario)
    nodes = rig.rows(models.Node, instance_id=instance_id)
    assert {n.name for n in nodes} == planned
    assert {n.state for n in nodes} == {"RUNNING"}
    assert all(rig.provider.nodes[name].running for name in planned)
    wheelhouse = rig.state.registry.get("clusters").wheelhouse  # every node on the loaded version
    assert {n.wheelhouse for n in nodes} == {wheelhouse}
    assert {rig.provider.nodes[name].spec.software for name in planned} == {wheelhouse}
    (document,) = rig.rows(models.MetadataDocument, instance_id=instance_id)
    published = {p["name"]: p for peers in document.document["peers"].values() for p in peers}
    for name in planned:
        info = rig.provider.nodes[name].info()
        assert (published[name]["address"], published[name]["ports"]) == (
            info.address,
            info.ports,
        ), f"{name}: the metadata says it is elsewhere"
    assert instance.status_reason == ""


@pytest.mark.parametrize("scenario", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_a_crash_at_any_step_converges(
    prepare: Callable[[Scenario], Prepared],
    restore: Callable[[Prepared], Rig],
    dead_worker_id: str,
    scenario: Scenario,
) -> None:
    prepared = prepare(scenario)

    def run_once(crash_at: int | None) -> list[str]:
        rig = restore(prepared)
        return _run(rig, scenario, prepared.instance_id, crash_at, dead_worker_id).labels

    crash_at_every_point(run_once)


def crash_at_every_point(run_once: Callable[[int | None], list[str]]) -> None:
    """Run once to find the points (``run_once(None)`` returns their labels), then once
    crashing at each; every run must converge and pass its checks."""
    golden = run_once(None)
    assert golden, "the scenario reached no point: nothing was tested"
    failures = []
    for index, label in enumerate(golden):
        try:
            run_once(index)
        except AssertionError as exc:
            failures.append(f"crash at #{index} ({label}): {str(exc).splitlines()[0]}")
    print(f"{len(golden)} crash points: " + ", ".join(golden))
    assert failures == []
