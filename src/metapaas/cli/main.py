"""``metapaas up`` and friends: start the control plane, migrate its database."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from metapaas.api import build_state, create_app, migrate_all, prepare
from metapaas.api.app import start_orchestrator
from metapaas.cli import plugin
from metapaas.config import Settings

app = typer.Typer(help="MetaPaaS: one control plane for many managed service types.")
db_app = typer.Typer(help="The shared database.")
app.add_typer(db_app, name="db")
app.add_typer(plugin.app, name="plugin")
console = Console(stderr=True)
SHUTDOWN_GRACE_SECONDS = 2
"""Seconds a stopping server gives open requests (agents' long-polls) before it closes them."""

HostOpt = Annotated[str | None, typer.Option(help="Address to serve on [env METAPAAS_HOST].")]
PortOpt = Annotated[int | None, typer.Option(help="Port to serve on [env METAPAAS_PORT].")]


def _settings(host: str | None = None, port: int | None = None) -> Settings:
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    return Settings(**overrides)  # type: ignore[arg-type]


def write_token_file(home: Path, token: str) -> Path:
    """Keep the admin token where only its owner can read it (mode 0600)."""
    path = home / "admin.token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    os.chmod(path, 0o600)
    return path


def _serve(settings: Settings, *, announce_token: bool, orchestrate: bool = True) -> None:
    state = build_state(settings)
    token = prepare(state)
    for loaded in state.registry:
        if not loaded.usable:
            console.print(f"[yellow]type {loaded.slug} is in ERROR:[/] {loaded.reason}")
    if token is not None:
        path = write_token_file(settings.resolved_home, token)
        if announce_token:
            console.print(f"[bold]admin token (shown once, also in {path}):[/]")
            print(token, flush=True)
    console.print(
        f"MetaPaaS on http://{settings.host}:{settings.port} "
        f"(home {settings.resolved_home}, database {state.engine.url.render_as_string()})"
    )
    app_ = create_app(state, orchestrate=orchestrate)
    # Agents hold metadata long-polls open for up to 30 s; a stop should not wait them out.
    uvicorn.run(
        app_,
        host=settings.host,
        port=settings.port,
        log_level="info",
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )


@app.command()
def up(host: HostOpt = None, port: PortOpt = None) -> None:
    """Start the embedded default: database, migrations, admin token, API."""
    _serve(_settings(host, port), announce_token=True)


@app.command()
def server(host: HostOpt = None, port: PortOpt = None) -> None:
    """Serve the API against the configured database (migrations applied at start)."""
    _serve(_settings(host, port), announce_token=False)


@app.command()
def api(host: HostOpt = None, port: PortOpt = None) -> None:
    """Serve only the API; run `metapaas worker` processes beside it (PostgreSQL)."""
    _serve(_settings(host, port), announce_token=False, orchestrate=False)


@app.command()
def worker() -> None:
    """Run only the orchestrator's reconcile workers against the configured database."""
    state = build_state(_settings())
    migrate_all(state)
    stop = start_orchestrator(state)
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    console.print("worker running; SIGTERM stops it")
    done.wait()
    stop()


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def agent(ctx: typer.Context) -> None:
    """Run the node agent (what every data-plane node runs); see `metapaas agent --help`."""
    from metapaas.agent.__main__ import main as agent_main

    raise typer.Exit(agent_main(ctx.args))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the runtime's and every plugin's migration stream."""
    state = build_state(_settings())
    migrate_all(state)
    for loaded in state.registry:
        console.print(f"{loaded.slug}: {loaded.status} {loaded.reason}".rstrip())
    console.print("migrations applied")


def main() -> None:
    app()
