"""Who may write which rows, as ``docs/architecture.md`` ("Who owns which state") says,
and a listener that records the writes a set of sessions makes to another writer's rows.

The API's insert of an instance at ``NEW`` and of an operation at ``PENDING`` is the
request itself, and allowed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, sessionmaker

from metapaas.db import models

EVERY = frozenset({"*"})
ORCHESTRATOR_OWNS: dict[str, frozenset[str]] = {
    "instances": frozenset(
        {"status", "status_reason", "observed_generation", "endpoints", "rolling_to", "deleted_at"}
    ),
    "operations": frozenset({"state", "progress", "error"}),
    "nodes": EVERY,
    "node_commands": EVERY,
    "metadata_documents": EVERY,
    "backups": EVERY,
}
AGENTS_OWN: dict[str, frozenset[str]] = {"node_reports": EVERY, "command_results": EVERY}
REQUESTS_INSERT = {
    "instances": ("status", models.InstanceStatus.NEW),
    "operations": ("state", models.OperationState.PENDING),
}
"""The rows the API inserts of the orchestrator's tables, and the state they start in."""


@dataclass
class Writes:
    """What the sessions it listens to wrote of the tables ``owned`` by another writer."""

    owned: dict[str, frozenset[str]]
    seen: list[str] = field(default_factory=list)

    def listen(self, sessions: sessionmaker[Session]) -> None:
        event.listen(sessions, "before_flush", self._flushed)
        event.listen(sessions, "do_orm_execute", self._executed)

    def stop(self, sessions: sessionmaker[Session]) -> None:
        event.remove(sessions, "before_flush", self._flushed)
        event.remove(sessions, "do_orm_execute", self._executed)

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
        if table in REQUESTS_INSERT:
            column, initial = REQUESTS_INSERT[table]
            if getattr(row, column) in (None, initial):  # None: the column's default
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


@contextmanager
def api_writes(sessions: sessionmaker[Session]) -> Iterator[Writes]:
    """What the API's ``sessions`` write of the orchestrator's rows while the block runs."""
    writes = Writes(ORCHESTRATOR_OWNS)
    writes.listen(sessions)
    try:
        yield writes
    finally:
        writes.stop(sessions)
