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


TlsOpt = Annotated[
    bool,
    typer.Option("--tls", help="Serve HTTPS on loopback too (any other address always is)."),
]
InsecureOpt = Annotated[
    bool,
    typer.Option(
        "--insecure",
        help="Serve plain HTTP on a network address: clients' tokens and agents' "
        "credentials would cross it in clear, so agents refuse it.",
    ),
]


def _settings(
    host: str | None = None, port: int | None = None, *, tls: bool = False, insecure: bool = False
) -> Settings:
    from pydantic import ValidationError

    from metapaas.config import Settings

    given = {"host": host, "port": port, "tls": tls or None, "insecure": insecure or None}
    overrides = {k: v for k, v in given.items() if v is not None}
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        for error in exc.errors():
            console.print(f"[red]{error['msg'].removeprefix('Value error, ')}[/]")
        raise typer.Exit(2) from exc


def _supervise(role: str, settings: Settings, *, announce_token: bool = False) -> None:
    """Serve ``role`` in generations under a supervisor (see :mod:`metapaas.serving`)."""
    # The generations read their settings from the environment, as this process did.
    os.environ["METAPAAS_HOST"], os.environ["METAPAAS_PORT"] = settings.host, str(settings.port)
    os.environ["METAPAAS_TLS"] = str(settings.tls).lower()
    os.environ["METAPAAS_INSECURE"] = str(settings.insecure).lower()
    if settings.insecure:
        console.print(
            f"[yellow]serving plain HTTP on {settings.host} (--insecure):[/] tokens cross the "
            "network in clear, and agents on other machines refuse to register"
        )
    from metapaas.serving.supervisor import listen, supervise

    listener = None if role == "worker" else listen(settings.host, settings.port)
    first = ["--announce-token"] if announce_token else []
    raise typer.Exit(supervise(["--role", role], listener, first))


@app.command()
def up(
    host: HostOpt = None, port: PortOpt = None, tls: TlsOpt = False, insecure: InsecureOpt = False
) -> None:
    """Start the embedded default: database, migrations, admin token, API.

    On loopback it serves plain HTTP; on any other address HTTPS, with a certificate
    from its own CA (`metapaas ca` shows it) or the operator's (METAPAAS_TLS_*).
    """
    settings = _settings(host, port, tls=tls, insecure=insecure)
    _supervise("server", settings, announce_token=True)


@app.command()
def server(
    host: HostOpt = None, port: PortOpt = None, tls: TlsOpt = False, insecure: InsecureOpt = False
) -> None:
    """Serve the API and run the orchestrator against the configured database."""
    _supervise("server", _settings(host, port, tls=tls, insecure=insecure))


@app.command()
def api(
    host: HostOpt = None, port: PortOpt = None, tls: TlsOpt = False, insecure: InsecureOpt = False
) -> None:
    """Serve only the API; run `metapaas worker` processes beside it (PostgreSQL)."""
    _supervise("api", _settings(host, port, tls=tls, insecure=insecure))


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
