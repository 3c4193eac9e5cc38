"""The real orchestrator over simulated nodes, in one process and on a fake clock.

:class:`Simulation` runs the real reconciler and worker against an app's
database, with nodes in a :class:`MemoryProvider` whose agents are
:class:`SimulatedAgents` talking to the app through ``client``; every clock
(the orchestrator's and the agent API's) is one :class:`FakeClock`. Nothing
runs in the background: the caller steps it (:meth:`Simulation.round`,
:meth:`Simulation.settle`), so a test of a type's plan, of healing or of the
API around live instances takes milliseconds and never waits on real time.

Each pass is checked for one rule the orchestrator keeps: an instance that is
``IN_PROGRESS``, ``UPDATING`` or ``DELETING`` says what it waits for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from metapaas import providers
from metapaas.api import AppState
from metapaas.db import models
from metapaas.orchestrator import Reconciler, Worker
from metapaas.orchestrator.reconciler import CONVERGING_POLL
from metapaas.testing.agents import SimulatedAgents
from metapaas.testing.clock import FakeClock
from metapaas.testing.memory import MemoryProvider

WAITING = (
    models.InstanceStatus.IN_PROGRESS,
    models.InstanceStatus.UPDATING,
    models.InstanceStatus.DELETING,
)
MAX_PASSES_PER_ROUND = 50
RESYNC_SECONDS = 3.0
"""How often the worker's resync looks for nodes that need a pass: short, so a stopped node
is restarted within a few simulated seconds."""


@dataclass(frozen=True)
class Machines:
    """The simulation's side of one moment: its clock, the provider's nodes and their
    agents. :meth:`Simulation.restore` runs again from it; the database is the test's."""

    now: datetime
    provider: MemoryProvider
    agents: SimulatedAgents
    resynced_at: datetime | None


class Simulation:
    """Steps the orchestrator and the simulated agents of ``state``'s control plane.

    ``client`` reaches the app of ``state`` (a ``TestClient``); the simulation sets
    ``state.clock`` to its fake clock.
    """

    def __init__(
        self,
        state: AppState,
        client: httpx.Client,
        *,
        clock: FakeClock | None = None,
        provider: MemoryProvider | None = None,
    ) -> None:
        self.state = state
        self.client = client
        self.clock = clock or FakeClock()
        state.clock = self.clock
        self.provider = provider or MemoryProvider()
        self.agents = SimulatedAgents(client, self.provider)
        #: The orchestrator's sessions: the app's unless a test gives it its own, to tell
        #: what it writes from what the API writes.
        self.sessions = state.sessions
        self.worker = self.new_worker()
        self.seen: list[tuple[str, str]] = []  # (status, reason) of every instance after passes
        self._resynced_at: datetime | None = None

    def new_worker(
        self,
        *,
        sessions: sessionmaker[Session] | None = None,
        provider: providers.Provider | None = None,
        worker_id: str | None = None,
    ) -> Worker:
        """A worker and reconciler as a (re)started process would build them."""
        reconciler = Reconciler(
            sessions or self.sessions,
            self.state.registry,
            provider or self.provider,
            self.state.sealer,
            "http://testserver",
            self.state.authority,
            clock=self.clock,
            notify=self.state.notifier.notify,
            readers=self.state.readers,
        )
        return Worker(reconciler, clock=self.clock, worker_id=worker_id, readers=self.state.readers)

    def machines(self) -> Machines:
        """A copy of the machines as they are now."""
        provider = self.provider.copy()
        return Machines(self.clock(), provider, self.agents.copy(provider), self._resynced_at)

    def restore(self, machines: Machines) -> None:
        """The machines as ``machines`` kept them (copied again, so it can be restored
        more than once), and a worker started anew, as after a restart of the process."""
        self.clock.now = machines.now
        self.provider = machines.provider.copy()
        self.agents = machines.agents.copy(self.provider)
        self._resynced_at = machines.resynced_at
        self.worker = self.new_worker()
        self.seen.clear()

    def run_queue(self) -> int:
        """Run every due pass (bounded), after the worker's resync when one is due on the
        clock; returns how many passes ran."""
        now = self.clock()
        last = self._resynced_at
        # A clock set back (a test starting over) counts as due, as a restarted worker would.
        if last is None or not last <= now < last + timedelta(seconds=RESYNC_SECONDS):
            self.worker.resync()
            self._resynced_at = now
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
        """Rounds until ``until()`` holds; fails naming ``what`` after ``rounds``."""
        for _ in range(rounds):
            self.round()
            if until():
                return
        raise AssertionError(f"not {what} after {rounds} rounds: {self.statuses()}")

    def statuses(self) -> list[tuple[str, str, str]]:
        """``(name, status, reason)`` of every instance."""
        with self.state.readers() as session:
            rows = session.scalars(select(models.Instance).order_by(models.Instance.name))
            return [(i.name, i.status, i.status_reason) for i in rows]

    def _note_statuses(self) -> None:
        for _name, status, reason in self.statuses():
            self.seen.append((status, reason))
            assert status not in WAITING or reason, f"{status} without a reason"
