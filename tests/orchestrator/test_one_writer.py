"""One writer for each row, as ``docs/architecture.md`` ("Who owns which state") states it.

A listener on the API's sessions records every change a request makes to a row or
column the orchestrator owns, and one on the orchestrator's sessions every change a
pass makes to a row the agents own (``tests/writers.py``); both must stay empty while
every kind of request runs: instances and child resources created, updated and
deleted, credentials read, a retry, and the agents' registrations, reports and command
results, around the orchestrator's create, update, healing, replacement, rollout and
delete. ``tests/test_isolation.py`` holds every instance-scoped route of the matrix to
the API's side of it too.
"""

from __future__ import annotations

from collections.abc import Callable

from metapaas.db import models
from metapaas.orchestrator import node_name
from tests.orchestrator.rig import Rig
from tests.writers import AGENTS_OWN, ORCHESTRATOR_OWNS, Writes

CLUSTERS = "/v1/types/clusters/instances"
WIDGETS = "/v1/types/widgets/instances"


def _step(rig: Rig, what: str, act: Callable[[], object], *checks: Writes) -> None:
    act()
    for writes in checks:
        assert writes.seen == [], f"{what}: {writes.seen}"


def test_the_api_never_writes_what_the_orchestrator_owns_nor_it_what_agents_report(
    rig: Rig,
) -> None:
    api_writes = Writes(ORCHESTRATOR_OWNS)
    api_writes.listen(rig.state.sessions)  # every request's, the agents' too
    orchestrator_writes = Writes(AGENTS_OWN)
    orchestrator_writes.listen(rig.own_sessions())
    checks = (api_writes, orchestrator_writes)
    made: dict[str, str] = {}

    def create() -> None:
        made["id"] = rig.create("clusters", "c1", replicas=1)
        rig.settle_status(made["id"], "ACTIVE")

    _step(rig, "a create, its nodes' registrations, reports and init results", create, *checks)
    instance_id = made["id"]
    path = f"{CLUSTERS}/{instance_id}"
    primary, replica = (node_name(instance_id, role, 0) for role in ("primary", "replica"))

    def update() -> None:
        assert rig.api.patch(path, json={"setting": "b"}).status_code == 202
        rig.settle_status(instance_id, "ACTIVE")
        assert rig.api.get(f"{path}/credentials").status_code == 200
        assert rig.api.get(f"{path}/nodes").status_code == 200

    _step(rig, "an update and the reads", update, *checks)

    def resources() -> None:
        widget = rig.api.create_instance("w1", slug="widgets")
        parts = f"{WIDGETS}/{widget['id']}/parts"
        assert rig.api.post(parts, json={"name": "p1", "weight": 1}).status_code == 201
        assert rig.api.patch(f"{parts}/p1", json={"weight": 2}).status_code == 200
        assert rig.api.delete(f"{parts}/p1").status_code == 204
        assert rig.api.delete(f"{WIDGETS}/{widget['id']}").status_code == 202

    _step(rig, "child resources and a second type", resources, *checks)

    def retry() -> None:
        rig.agents.failing.add(primary)
        assert rig.api.patch(path, json={"setting": "c"}).status_code == 202
        rig.settle_status(instance_id, "ERROR")
        rig.agents.failing.discard(primary)
        assert rig.api.post(f"{path}/actions/retry").status_code == 202
        rig.settle_status(instance_id, "ACTIVE")

    _step(rig, "a failed node and a retry", retry, *checks)

    def heal() -> None:
        rig.provider.stop(primary)
        rig.settle(lambda: rig.provider.nodes[primary].running, "the restart")
        rig.agents.silence(replica)
        first = rig.provider.nodes[replica].incarnation
        rig.settle(lambda: rig.provider.nodes[replica].incarnation != first, "the replacement")
        rig.settle_status(instance_id, "ACTIVE")

    _step(rig, "a restart and a replacement", heal, *checks)

    def roll() -> None:
        rig.upgrade("clusters", "w2")
        rig.settle(
            lambda: (
                {n.wheelhouse for n in rig.rows(models.Node, instance_id=instance_id)} == {"w2"}
                and rig.instance(instance_id).status == "ACTIVE"
            ),
            "the rollout",
            rounds=80,
        )

    _step(rig, "a rollout", roll, *checks)

    def delete() -> None:
        assert rig.api.delete(path).status_code == 202
        rig.settle_status(instance_id, "DELETED")

    _step(rig, "a delete", delete, *checks)
