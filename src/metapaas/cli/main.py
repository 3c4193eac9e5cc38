"""``metapaas up`` and friends: start the control plane, migrate its database."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from metapaas.cli import plugin

# The server stack loads inside the commands that serve: a client command
# (`metapaas list`) must not pay for FastAPI and SQLAlchemy at start.
if TYPE_CHECKING:
    from metapaas.config import Settings

app = typer.Typer(help="MetaPaaS: one control plane for many managed service types.")
db_app = typer.Typer(help="The shared database.")
app.add_typer(db_app, name="db")
app.add_typer(plugin.app, name="plugin")
console = Console(stderr=True)

HostOpt = Annotated[str | None, typer.Option(help="Address to serve on [env METAPAAS_HOST].")]
PortOpt = Annotated[int | None, typer.Option(help="Port to serve on [env METAPAAS_PORT].")]


def _settings(host: str | None = None, port: int | None = None) -> Settings:
    from metapaas.config import Settings

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    return Settings(**overrides)  # type: ignore[arg-type]


def _supervise(role: str, settings: Settings, *, announce_token: bool = False) -> None:
    """Serve ``role`` in generations under a supervisor (see :mod:`metapaas.serving`)."""
    # The generations read their settings from the environment, as this process did.
    os.environ["METAPAAS_HOST"], os.environ["METAPAAS_PORT"] = settings.host, str(settings.port)
    from metapaas.serving.supervisor import listen, supervise

    listener = None if role == "worker" else listen(settings.host, settings.port)
    first = ["--announce-token"] if announce_token else []
    raise typer.Exit(supervise(["--role", role], listener, first))


@app.command()
def up(host: HostOpt = None, port: PortOpt = None) -> None:
    """Start the embedded default: database, migrations, admin token, API."""
    _supervise("server", _settings(host, port), announce_token=True)


@app.command()
def server(host: HostOpt = None, port: PortOpt = None) -> None:
    """Serve the API and run the orchestrator against the configured database."""
    _supervise("server", _settings(host, port))


@app.command()
def api(host: HostOpt = None, port: PortOpt = None) -> None:
    """Serve only the API; run `metapaas worker` processes beside it (PostgreSQL)."""
    _supervise("api", _settings(host, port))


@app.command()
def worker() -> None:
    """Run only the orchestrator's reconcile workers and the plugin installer."""
    _supervise("worker", _settings())


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def agent(ctx: typer.Context) -> None:
    """Run the node agent (what every data-plane node runs); see `metapaas agent --help`."""
    from metapaas.agent.__main__ import main as agent_main

    raise typer.Exit(agent_main(ctx.args))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the runtime's and every plugin's migration stream."""
    from metapaas.api import build_state, migrate_all

    state = build_state(_settings())
    migrate_all(state)
    for loaded in state.registry:
        console.print(f"{loaded.slug}: {loaded.status} {loaded.reason}".rstrip())
    console.print("migrations applied")
