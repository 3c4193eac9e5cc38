"""Prometheus metrics: instances by type and status, queue depth, watchers, reconciles."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from metapaas.api.deps import AppState, app_state
from metapaas.api.problems import problem_responses
from metapaas.db import models
from metapaas.orchestrator import queue

router = APIRouter(tags=["health"])


class StateCollector(Collector):
    """Reads the figures from the database at scrape time, so every replica agrees."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        instances = GaugeMetricFamily(
            "metapaas_instances", "Live instances by type and status", labels=["type", "status"]
        )
        with self.state.readers() as session:
            rows = session.execute(
                select(models.Instance.type_slug, models.Instance.status, func.count())
                .where(models.Instance.status != models.InstanceStatus.DELETED)
                .group_by(models.Instance.type_slug, models.Instance.status)
            )
            for slug, status, count in rows:
                instances.add_metric([slug, status], count)
            depth = queue.depth(session, models.utcnow())
        yield instances
        yield GaugeMetricFamily("metapaas_queue_depth", "Work items due now", value=depth)
        yield GaugeMetricFamily(
            "metapaas_watchers",
            "Agents long-polling this replica",
            value=self.state.notifier.watching,
        )


def metrics_registry(state: AppState) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(state))
    return registry


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **problem_responses(503),  # the figures are read from the database
    },
)
def metrics(state: Annotated[AppState, Depends(app_state)]) -> Response:
    body = generate_latest(REGISTRY) + generate_latest(state.metrics)
    return Response(body, media_type="text/plain; version=0.0.4")
