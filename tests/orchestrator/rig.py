"""A whole control plane in one process, for the orchestrator's tests.

The real API (a ``TestClient``) and a :class:`~metapaas.testing.simulation.Simulation`
(the real reconciler and worker, the in-memory provider, simulated agents, one
fake clock) share one database; the helpers here read what the tests check.
"""

from __future__ import annotations

import traceback
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from metapaas.db import models
from metapaas.plugins import Registry
from metapaas.testing import InProcessControlPlane
from metapaas.testing.simulation import Simulation


class Rig(Simulation):
    def __init__(self, api: InProcessControlPlane) -> None:
        super().__init__(api.state, api.client)
        self.api = api

    def create(self, slug: str, name: str, **fields: Any) -> str:
        """POST an instance; returns its id."""
        return str(self.api.create_instance(name, slug=slug, **fields)["id"])

    def settle_status(self, instance_id: str, wanted: str, rounds: int = 40) -> models.Instance:
        def reached() -> bool:
            return self.instance(instance_id).status == wanted

        self.settle(reached, f"{instance_id} {wanted}", rounds)
        return self.instance(instance_id)

    def instance(self, instance_id: str) -> models.Instance:
        with self.api.session() as session:
            instance = session.get(models.Instance, instance_id)
            assert instance is not None
            return instance

    def rows(self, model: type[Any], **where: Any) -> list[Any]:
        """The rows in primary-key order: the order a table's pages give is no order (on
        PostgreSQL a new row may take a deleted one's place)."""
        by_key = inspect(model).primary_key
        with self.api.session() as session:
            return list(session.scalars(select(model).filter_by(**where).order_by(*by_key)))

    def own_sessions(self, engine: Engine | None = None) -> sessionmaker[Session]:
        """Give the orchestrator sessions of its own, apart from the API's (on ``engine``
        when given, so that on SQLite its write lock is apart too); returns them, for a
        test to listen to what the orchestrator alone does."""
        self.sessions = sessionmaker(engine or self.state.engine, expire_on_commit=False)
        self.worker = self.new_worker()
        return self.sessions

    def upgrade(self, slug: str, wheelhouse: str) -> None:
        """What a hand-over to a process that loaded a new version of ``slug`` amounts to:
        a registry whose type has another wheelhouse, and a new worker on it."""
        loaded = self.state.registry.get(slug)
        found = replace(loaded.found, distribution=slug, distribution_version=wheelhouse)
        others = [t for t in self.state.registry if t.slug != slug]
        self.state.registry = Registry(
            [*others, replace(loaded, found=found, wheelhouse=wheelhouse)]
        )
        self.worker = self.new_worker()

    def event_kinds(self, instance_id: str) -> list[str]:
        return [e.kind for e in self.rows(models.Event, instance_id=instance_id)]


def orchestrator_caller() -> str:
    """The innermost function of the orchestrator on the stack: who is committing."""
    frames = [f for f in traceback.extract_stack() if "metapaas/orchestrator/" in f.filename]
    return frames[-1].name if frames else "?"
