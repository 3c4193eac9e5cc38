"""The FastAPI application: runtime routes plus the routes derived for every usable type."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import Depends, FastAPI

from metapaas import __version__, console
from metapaas.api import boundary, problems, typed_routes
from metapaas.api.admission import Admission
from metapaas.api.deps import AppState, RequestIds
from metapaas.api.routes import (
    agent,
    health,
    hosts,
    iam,
    metrics,
    operations,
    placement,
    plugins,
    types,
)
from metapaas.api.routes.metrics import metrics_registry
from metapaas.config import Settings, environment_dir
from metapaas.db import CORE_STREAM, Sealer, make_engine, make_sessionmaker, migrate
from metapaas.iam import ensure_admin
from metapaas.metadata import PostgresListener
from metapaas.orchestrator import Reconciler, Worker
from metapaas.plugins import Registry, served
from metapaas.plugins.installer import Installer
from metapaas.providers import ProviderContext, ssh
from metapaas.providers.routing import RoutingProvider


def build_state(settings: Settings, registry: Registry | None = None) -> AppState:
    """Open the database and find the plugins.

    Without a ``registry`` the types are discovered, with the plugins installed
    at run time first put on ``sys.path``: that needs the runtime's tables, so
    its migration stream is applied here.
    """
    home = settings.resolved_home
    home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(
        settings.resolved_database_url,
        pool_size=settings.db_pool_size,
        wait=settings.db_wait_seconds,
    )
    sessions = make_sessionmaker(engine)
    loaded: list[str] = []
    if registry is None:
        migrate.upgrade(engine, CORE_STREAM)
        with sessions() as session:
            loaded = served.activate(session, home)
        environments = {str(environment_dir(home, h)): h for h in loaded}
        registry = Registry.discover(environments=environments)
    return AppState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        readers=make_sessionmaker(engine, read_only=True),
        registry=registry,
        sealer=Sealer.from_home(home, settings.secret_key),
        wheelhouses=loaded,
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
    """Run the reconcile workers and the plugin installer here; returns what stops them."""
    settings = state.settings
    context = ProviderContext(settings.resolved_home, state.sessions, state.sealer)
    reconciler = Reconciler(
        state.sessions,
        state.registry,
        RoutingProvider.of_installed(context, settings.provider),
        state.sealer,
        settings.resolved_public_url,
        notify=state.notifier.notify,
    )
    worker = Worker(
        reconciler,
        concurrency=settings.workers,
        resync_seconds=settings.resync_seconds,
        wakeup=state.wakeup,
        readers=state.readers,
    )
    installer = Installer(
        state.sessions,
        state.readers,
        state.registry,
        settings.resolved_home,
        state.engine.url.render_as_string(hide_password=False),
        wakeup=state.plugin_wakeup,
    )
    packages = {t.slug: t.declaration.debian_packages for t in state.registry.usable()}
    hosts = ssh.monitor(context, settings.host_check_seconds, state.host_wakeup, packages)
    worker.start()
    installer.start()
    hosts.start()

    def stop() -> None:
        hosts.stop()
        installer.stop()
        worker.stop()

    return stop


def start_listener(state: AppState) -> Callable[[], None]:
    """On PostgreSQL, relay other replicas' metadata changes to this process's long-polls."""
    if state.engine.dialect.name != "postgresql":
        return lambda: None
    listener = PostgresListener(state.engine, state.notifier)
    listener.start()
    return listener.stop


def create_app(state: AppState) -> FastAPI:
    """The API. The processes that serve it start the orchestrator beside it (see
    :mod:`metapaas.serving`); tests drive the orchestrator themselves."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Sync handlers run on these threads; the connection pool is sized for them.
        anyio.to_thread.current_default_thread_limiter().total_tokens = state.settings.threads
        yield

    app = FastAPI(
        title="MetaPaaS",
        version=__version__,
        description="One control plane for many managed service types.",
        lifespan=lifespan,
        dependencies=[Depends(boundary.refuse_nul)],
    )
    app.state.metapaas = state
    state.metrics = metrics_registry(state)
    problems.install(app)
    app.openapi = boundary.declare(app, app.openapi)  # type: ignore[method-assign]
    app.add_middleware(Admission, limit=state.settings.max_requests)
    app.add_middleware(RequestIds)  # added last, so outermost: refusals carry an id too
    for router in (
        health.router,
        metrics.router,
        types.router,
        iam.router,
        operations.router,
        plugins.router,
        hosts.router,
        placement.router,
        agent.router,
    ):
        app.include_router(router)
    for loaded in state.registry.usable():
        app.include_router(typed_routes.router_for(loaded))
    console.install(app)
    return app
