"""One writer for each row, as ``docs/architecture.md`` ("Who owns which state") states it.

A listener on the API's sessions records every change a request makes to a row or
column the orchestrator owns, and one on the orchestrator's sessions every change a
pass makes to a row the agents own; both must stay empty while every kind of request
runs: instances and child resources created, updated and deleted, credentials read, a
retry, and the agents' registrations, reports and command results, around the
orchestrator's create, update, healing, replacement, rollout and delete. The API's
insert of an instance at ``NEW`` and of an operation at ``PENDING`` is the request
itself, and allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, sessionmaker

from metapaas.db import models
from metapaas.orchestrator import node_name
from tests.orchestrator.rig import Rig

EVERY = frozenset({"*"})
ORCHESTRATOR_OWNS: dict[str, frozenset[str]] = {
    "instances": frozenset(
        {"status", "status_reason", "observed_generation", "endpoints", "rolling_to"}
        | {"deleted_at"}
    ),
    "operations": frozenset({"state", "progress", "error"}),
    "nodes": EVERY,
    "node_commands": EVERY,
    "metadata_documents": EVERY,
}
AGENTS_OWN: dict[str, frozenset[str]] = {"node_reports": EVERY, "command_results": EVERY}
REQUESTS_INSERT = {"instances": ("status", models.InstanceStatus.NEW)} | {
    "operations": ("state", models.OperationState.PENDING)
}
"""The rows the API inserts of the orchestrator's tables, and the state they start in."""

CLUSTERS = "/v1/types/clusters/instances"
WIDGETS = "/v1/types/widgets/instances"


@dataclass
class Writes:
    """What the sessions it listens to wrote of the tables ``owned`` by another writer."""

    owned: dict[str, frozenset[str]]
    seen: list[str] = field(default_factory=list)

    def listen(self, sessions: sessionmaker[Session]) -> None:
        event.listen(sessions, "before_flush", self._flushed)
        event.listen(sessions, "do_orm_execute", self._executed)

    def _flushed(self, session: Session, _flush: UOWTransaction, _instances: Any) -> None:
        for row in session.new:
            self._inserted(row)
        for row in session.dirty:
            table = row.__table__.name
            state = inspect(row)
            for column in state.mapper.column_attrs:
                if state.attrs[column.key].history.has_changes():
                    self._wrote(table, column.key, "update")
        for row in session.deleted:
            self._wrote(row.__table__.name, "*", "delete")

    def _inserted(self, row: Any) -> None:
        table = row.__table__.name
        if table in REQUESTS_INSERT and table not in AGENTS_OWN:
            column, initial = REQUESTS_INSERT[table]
            if getattr(row, column) in (None, initial):
                return
        self._wrote(table, "*", "insert")

    def _executed(self, execution: ORMExecuteState) -> None:
        if execution.is_select:
            return
        table = getattr(execution.statement, "table", None)
        if table is not None:
            self._wrote(table.name, "*", "statement")

    def _wrote(self, table: str, column: str, how: str) -> None:
        columns = self.owned.get(table, frozenset())
        if columns == EVERY or column in columns or (column == "*" and columns):
            self.seen.append(f"{how} of {table}.{column}")


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
