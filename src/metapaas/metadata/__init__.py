"""The metadata service: the revisioned per-instance tree nodes watch."""

from metapaas.metadata.notify import Notifier, PostgresListener, announce
from metapaas.metadata.store import bump, node_view, publish

__all__ = ["Notifier", "PostgresListener", "announce", "bump", "node_view", "publish"]
