"""The REST API: runtime routes and the routes derived from each type's declaration."""

from metapaas.api.app import build_state, create_app, migrate_all, prepare
from metapaas.api.deps import AppState

__all__ = ["AppState", "build_state", "create_app", "migrate_all", "prepare"]
