"""The orchestrator: a durable queue of instances and a level-triggered reconciler."""

from metapaas.orchestrator import news, queue
from metapaas.orchestrator.reconciler import Outcome, Reconciler, node_name
from metapaas.orchestrator.views import (
    credentials,
    instance_view,
    metadata_document,
    node_views,
    public_view,
    without_node_only,
)
from metapaas.orchestrator.worker import Worker

__all__ = [
    "Outcome",
    "Reconciler",
    "Worker",
    "credentials",
    "instance_view",
    "metadata_document",
    "news",
    "node_name",
    "node_views",
    "public_view",
    "queue",
    "without_node_only",
]
