"""A whole control plane in one process, for the orchestrator's tests.

The real API (a ``TestClient``) and the real reconciler and worker share one
database; nodes live in the in-memory provider and their agents are
simulated over the agent API; every clock is one :class:`FakeClock`. A test
runs the worker's passes itself (:meth:`Rig.run_queue`, :meth:`Rig.settle`),
so nothing waits on real time and every step is in the test's hands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from metapaas import providers
from metapaas.db import models
from metapaas.orchestrator import Reconciler, Worker
from metapaas.orchestrator.reconciler import CONVERGING_POLL
from metapaas.testing.agents import SimulatedAgents
from metapaas.testing.clock import FakeClock
from metapaas.testing.memory import MemoryProvider
from tests.helpers import Api

S = models.InstanceStatus
MAX_PASSES_PER_ROUND = 50
WAITING = (S.IN_PROGRESS, S.UPDATING, S.DELETING)
RESYNC_SECONDS = 3.0
"""Shorter than the test type's ``unreachable_after``: a stopped node is restarted first."""


@dataclass
class Rig:
    api: Api
    clock: FakeClock
    provider: MemoryProvider
    agents: SimulatedAgents
    worker: Worker = field(init=False)
    seen: list[tuple[str, str]] = field(default_factory=list)  # (status, reason) after passes

    def __post_init__(self) -> None:
        self.worker = self.new_worker()

    def new_worker(
        self,
        *,
        sessions: sessionmaker[Session] | None = None,
        provider: providers.Provider | None = None,
        worker_id: str | None = None,
    ) -> Worker:
        """A worker and reconciler as a (re)started process would build them."""
        state = self.api.state
        reconciler = Reconciler(
            sessions or state.sessions,
            state.registry,
            provider or self.provider,
            state.sealer,
            "http://testserver",
            clock=self.clock,
            notify=state.notifier.notify,
            resync_seconds=RESYNC_SECONDS,
        )
        return Worker(reconciler, clock=self.clock, worker_id=worker_id)

    # -- driving ---------------------------------------------------------------------

    def create(self, slug: str, name: str, **fields: Any) -> str:
        """POST an instance; returns its id."""
        return str(self.api.create_instance(name, slug=slug, **fields)["id"])

    def run_queue(self) -> int:
        """Run every due pass (bounded); returns how many ran."""
        for passes in range(MAX_PASSES_PER_ROUND):
            if not self.worker.run_once():
                self._note_statuses()
                return passes
        raise AssertionError(f"the queue never emptied in {MAX_PASSES_PER_ROUND} passes")

    def round(self, seconds: float = CONVERGING_POLL) -> None:
        """Passes, then one step of every agent, then time moves on."""
        self.run_queue()
        self.agents.tick()
        self.clock.advance(seconds)

    def settle(self, until: Callable[[], bool], what: str, rounds: int = 40) -> None:
        for _ in range(rounds):
            self.round()
            if until():
                return
        raise AssertionError(f"not {what} after {rounds} rounds: {self.instances()}")

    def settle_status(self, instance_id: str, wanted: str, rounds: int = 40) -> models.Instance:
        def reached() -> bool:
            return self.instance(instance_id).status == wanted

        self.settle(reached, f"{instance_id} {wanted}", rounds)
        return self.instance(instance_id)

    # -- reading ---------------------------------------------------------------------

    def instance(self, instance_id: str) -> models.Instance:
        with self.api.session() as session:
            instance = session.get(models.Instance, instance_id)
            assert instance is not None
            return instance

    def instances(self) -> list[tuple[str, str, str]]:
        with self.api.session() as session:
            rows = session.scalars(select(models.Instance).order_by(models.Instance.name))
            return [(i.name, i.status, i.status_reason) for i in rows]

    def rows(self, model: type[Any], **where: Any) -> list[Any]:
        with self.api.session() as session:
            stmt = select(model).filter_by(**where)
            return list(session.scalars(stmt))

    def event_kinds(self, instance_id: str) -> list[str]:
        return [e.kind for e in self.rows(models.Event, instance_id=instance_id)]

    def _note_statuses(self) -> None:
        """Keep what every instance showed; a waiting status must say what it waits for."""
        for _name, status, reason in self.instances():
            self.seen.append((status, reason))
            assert status not in WAITING or reason, f"{status} without a reason"
