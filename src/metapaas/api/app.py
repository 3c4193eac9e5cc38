"""The FastAPI application: runtime routes plus the routes derived for every usable type."""

from __future__ import annotations

from fastapi import FastAPI

from metapaas import __version__
from metapaas.api import problems, typed_routes
from metapaas.api.deps import AppState, install_request_ids
from metapaas.api.routes import health, iam, operations, types
from metapaas.config import Settings
from metapaas.db import CORE_STREAM, Sealer, make_engine, make_sessionmaker, migrate
from metapaas.iam import ensure_admin
from metapaas.plugins import Registry


def build_state(settings: Settings, registry: Registry | None = None) -> AppState:
    """Open the database and find the plugins; nothing is written yet."""
    home = settings.resolved_home
    home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    return AppState(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        registry=registry if registry is not None else Registry.discover(),
        sealer=Sealer.from_home(home, settings.secret_key),
    )


def migrate_all(state: AppState) -> None:
    """Apply the runtime's stream, then each type's; record what was found."""
    migrate.upgrade(state.engine, CORE_STREAM)
    state.registry.migrate(state.engine)
    with state.sessions.begin() as session:
        state.registry.record(session)


def prepare(state: AppState) -> str | None:
    """Migrate, and make the admin on first start.

    Returns the admin token when it was just created, else None.
    """
    migrate_all(state)
    with state.sessions.begin() as session:
        return ensure_admin(session)


def create_app(state: AppState) -> FastAPI:
    app = FastAPI(
        title="MetaPaaS",
        version=__version__,
        description="One control plane for many managed service types.",
    )
    app.state.metapaas = state
    problems.install(app)
    install_request_ids(app)
    for router in (health.router, types.router, iam.router, operations.router):
        app.include_router(router)
    for loaded in state.registry.usable():
        app.include_router(typed_routes.router_for(loaded))
    return app
