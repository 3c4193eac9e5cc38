"""The FastAPI application: runtime routes plus the routes derived for every usable type."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Iterable
from contextlib import asynccontextmanager
from dataclasses import asdict
from importlib.metadata import EntryPoint

import anyio.to_thread
from fastapi import Depends, FastAPI

from metapaas import __version__, console
from metapaas.api import boundary, problems, typed_routes
from metapaas.api.admission import Admission
from metapaas.api.deps import AppState, RequestIds
from metapaas.api.routes import (
    agent,
    ca,
    health,
    iam,
    metrics,
    operations,
    plugins,
    repositories,
    types,
)
from metapaas.api.routes.metrics import metrics_registry
from metapaas.config import Settings, environment_dir
from metapaas.db import CORE_STREAM, Sealer, make_engine, make_sessionmaker, migrate
from metapaas.iam import ensure_admin
from metapaas.metadata import PostgresListener
from metapaas.orchestrator import Reconciler, Worker, queue
from metapaas.plugins import Registry, served
from metapaas.plugins.installer import Installer
from metapaas.providers.installed import ConsoleFiles, Lent, Providers
from metapaas.providers.routing import RoutingProvider
from metapaas.providers.work import ProviderWork


def build_state(
    settings: Settings,
    registry: Registry | None = None,
    provider_entry_points: Iterable[EntryPoint] | None = None,
) -> AppState:
    """Open the database and find the plugins and the providers.

    Without a ``registry`` the types are discovered, with the plugins installed
    at run time first put on ``sys.path``: that needs the runtime's tables, so
    its migration stream is applied here. The providers are those of
    ``provider_entry_points``, by default every one installed.
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
    state = AppState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        readers=make_sessionmaker(engine, read_only=True),
        registry=registry,
        sealer=Sealer.from_home(home, settings.secret_key),
        wheelhouses=loaded,
    )
    state.providers = Providers.discover(_lent(state), provider_entry_points)
    return state


def _lent(state: AppState) -> Lent:
    """What the runtime lends the providers of ``state``."""

    def type_packages() -> dict[str, tuple[str, ...]]:
        usable = state.registry.usable()
        return {t.slug: tuple(t.declaration.debian_packages) for t in usable}

    def reconcile(instance_ids: Collection[str]) -> None:
        with state.sessions.begin() as session:
            for instance_id in sorted(set(instance_ids)):
                queue.enqueue(session, instance_id, state.clock())
        state.wake()

    return Lent(
        home=state.settings.resolved_home,
        sessions=state.sessions,
        sealer=state.sealer,
        type_packages=type_packages,
        reconcile=reconcile,
    )


def migrate_all(state: AppState) -> None:
    """Apply the runtime's stream, then each provider's and each type's; record what was
    found."""
    migrate.upgrade(state.engine, CORE_STREAM)
    state.providers.migrate(state.engine)
    state.registry.migrate(state.engine)
    with state.sessions.begin() as session:
        state.registry.record(session)


def prepare(state: AppState) -> str | None:
    """Migrate, and make the CA and the admin on first start.

    Returns the admin token when it was just created, else None.
    """
    migrate_all(state)
    state.authority()  # the CA, made now if this is the first start
    with state.sessions.begin() as session:
        return ensure_admin(session)


def start_orchestrator(state: AppState) -> Callable[[], None]:
    """Run the reconcile workers, the plugin installer and the providers' background work
    here; returns what stops them."""
    settings = state.settings
    made = state.providers.make()
    routing = RoutingProvider(
        made, settings.provider, state.providers.routes(), state.providers.broken
    )
    reconciler = Reconciler(
        state.sessions,
        state.registry,
        routing,
        state.sealer,
        settings.resolved_public_url,
        state.authority,
        notify=state.notifier.notify,
        control_plane_ca=_control_plane_ca(state),
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
    work = ProviderWork(state.providers, made, settings.provider, settings.resync_seconds)
    worker.start()
    installer.start()
    work.start()

    def stop() -> None:
        work.stop()
        installer.stop()
        worker.stop()

    return stop


def _control_plane_ca(state: AppState) -> str:
    """What agents verify the control plane with: the CA that signed the API's certificate;
    none over plain HTTP, nor for an operator's certificate (the hosts' trust store)."""
    settings = state.settings
    https = settings.resolved_public_url.startswith("https://")
    return state.authority().certificate_pem if https and settings.tls_cert is None else ""


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
        ca.router,
        metrics.router,
        types.router,
        iam.router,
        operations.router,
        plugins.router,
        repositories.router,
        *state.providers.routers(),
        agent.router,
    ):
        app.include_router(router)
    for loaded in state.registry.usable():
        app.include_router(typed_routes.router_for(loaded))
    console.install(app, [_console_extension(files) for files in state.providers.console_files()])
    return app


def _console_extension(files: ConsoleFiles) -> console.Extension:
    """A provider's console files as the console serves them: the console knows no provider."""
    return console.Extension(files.name, files.directory, [asdict(p) for p in files.pages])
