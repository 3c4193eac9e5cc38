"""The FastAPI application: runtime routes plus the routes derived for every usable type."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import Depends, FastAPI

from metapaas import __version__, console
from metapaas.api import problems, typed_routes
from metapaas.api.admission import Admission
from metapaas.api.deps import AppState, RequestIds
from metapaas.api.routes import agent, health, iam, metrics, operations, types
from metapaas.api.routes.metrics import metrics_registry
from metapaas.config import Settings
from metapaas.db import CORE_STREAM, Sealer, make_engine, make_sessionmaker, migrate
from metapaas.iam import ensure_admin
from metapaas.metadata import PostgresListener
from metapaas.orchestrator import Reconciler, Worker
from metapaas.plugins import Registry
from metapaas.providers import make_provider


def build_state(settings: Settings, registry: Registry | None = None) -> AppState:
    """Open the database and find the plugins; nothing is written yet."""
    home = settings.resolved_home
    home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(
        settings.resolved_database_url,
        pool_size=settings.db_pool_size,
        wait=settings.db_wait_seconds,
    )
    return AppState(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        readers=make_sessionmaker(engine, read_only=True),
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


def start_orchestrator(state: AppState) -> Callable[[], None]:
    """Run the reconcile workers (and, on PostgreSQL, the cross-replica listener) here.

    Returns the function that stops them.
    """
    settings = state.settings
    reconciler = Reconciler(
        state.sessions,
        state.registry,
        make_provider(settings.provider, settings.resolved_home),
        state.sealer,
        settings.resolved_public_url,
        notify=state.notifier.notify,
        resync_seconds=settings.resync_seconds,
    )
    worker = Worker(
        reconciler,
        concurrency=settings.workers,
        resync_seconds=settings.resync_seconds,
        wakeup=state.wakeup,
        readers=state.readers,
    )
    worker.start()
    listener = None
    if state.engine.dialect.name == "postgresql":
        listener = PostgresListener(state.engine, state.notifier)
        listener.start()

    def stop() -> None:
        worker.stop()
        if listener is not None:
            listener.stop()

    return stop


def create_app(state: AppState, *, orchestrate: bool = False) -> FastAPI:
    """The API; with ``orchestrate`` the same process also runs the reconcile workers."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Sync handlers run on these threads; the connection pool is sized for them.
        anyio.to_thread.current_default_thread_limiter().total_tokens = state.settings.threads
        stop = start_orchestrator(state) if orchestrate else None
        try:
            yield
        finally:
            if stop is not None:
                stop()

    app = FastAPI(
        title="MetaPaaS",
        version=__version__,
        description="One control plane for many managed service types.",
        lifespan=lifespan,
        dependencies=[Depends(problems.refuse_nul)],
    )
    app.state.metapaas = state
    state.metrics = metrics_registry(state)
    problems.install(app)
    app.add_middleware(Admission, limit=state.settings.max_requests)
    app.add_middleware(RequestIds)  # added last, so outermost: refusals carry an id too
    for router in (
        health.router,
        metrics.router,
        types.router,
        iam.router,
        operations.router,
        agent.router,
    ):
        app.include_router(router)
    for loaded in state.registry.usable():
        app.include_router(typed_routes.router_for(loaded))
    console.install(app)
    return app
