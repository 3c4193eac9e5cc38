"""``metapaas plugins``: install, upgrade and remove PaaS types in a running control plane."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.spinner import Spinner

from metapaas.cli.instances import TimeoutOpt, WaitOpt, YesOpt, confirm
from metapaas.cli.output import (
    Column,
    Format,
    OutputOpt,
    UserError,
    show_list,
    show_one,
    status_console,
)
from metapaas.cli.profiles import connect
from metapaas.client import Client
from metapaas.client.models import PluginChange

plugins_app = typer.Typer(
    help="Plugins: each adds PaaS types to the running control plane (admins).",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="The plugin's distribution name.")]
PackageArg = Annotated[
    str, typer.Argument(help="A requirement, a wheel or sdist path on the server, or a URL.")
]
Sha256Opt = Annotated[
    str | None, typer.Option(help="The SHA-256 the plugin's own wheel must have.")
]
IndexOpt = Annotated[str | None, typer.Option(help="Resolve from this package index.")]
POLL_SECONDS = 0.5

PLUGIN_COLUMNS: list[Column] = [
    ("NAME", lambda p: p.name),
    ("VERSION", lambda p: p.version),
    ("STATE", lambda p: p.state),
    ("TYPES", lambda p: ", ".join(p.types)),
    ("SOURCE", lambda p: "bundled" if p.bundled else "installed"),
    ("PROGRESS", lambda p: p.error or p.progress),
]


@plugins_app.command("list")
def list_plugins(output: OutputOpt = Format.table) -> None:
    """Plugins installed at run time and those bundled with the runtime.

    Example: metapaas plugins list
    """
    with connect() as api:
        show_list(api.plugins.list().items, output, PLUGIN_COLUMNS)


@plugins_app.command("show")
def show_plugin(name: NameArg, output: OutputOpt = Format.table) -> None:
    """Show a plugin: version, hash, state, last error, its types.

    Example: metapaas plugins show metapaas-hello
    """
    with connect() as api:
        show_one(api.plugins.get(name), output)


@plugins_app.command("install")
def install(
    package: PackageArg,
    sha256: Sha256Opt = None,
    index_url: IndexOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
) -> None:
    """Install a plugin; its types serve once every control-plane process loaded it.

    Example: metapaas plugins install ./dist/metapaas_hello-0.1.0-py3-none-any.whl --wait
    """
    with connect() as api:
        accepted = api.plugins.install(package, sha256=sha256, index_url=index_url)
        _finish(api, accepted, "installing", wait, timeout)


@plugins_app.command("upgrade")
def upgrade(
    name: NameArg,
    package: PackageArg,
    sha256: Sha256Opt = None,
    index_url: IndexOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
) -> None:
    """Upgrade a plugin; the last good version serves until the new one passed every check,
    then each instance's nodes roll to it one at a time.

    Example: metapaas plugins upgrade metapaas-hello 'metapaas-hello==0.2.0' --wait
    """
    with connect() as api:
        accepted = api.plugins.upgrade(name, package, sha256=sha256, index_url=index_url)
        _finish(api, accepted, "upgrading", wait, timeout)


@plugins_app.command("remove")
def remove(
    name: NameArg,
    purge: Annotated[bool, typer.Option(help="Also drop the tables of its types.")] = False,
    yes: YesOpt = False,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
) -> None:
    """Remove a plugin that has no instances left; its tables stay unless --purge.

    Example: metapaas plugins remove metapaas-hello --yes --wait
    """
    confirm(f"remove plugin {name}{' and its tables' if purge else ''}?", yes)
    with connect() as api:
        _finish(api, api.plugins.remove(name, purge=purge), "removing", wait, timeout)


def _finish(api: Client, accepted: PluginChange, doing: str, wait: bool, timeout: float) -> None:
    """Follow the change's operation with --wait (exit 0 only if it succeeded)."""
    operation = accepted.operation
    if not wait:
        status_console.print(f"{doing} {accepted.name} (operation {operation.id})")
        return
    deadline = time.monotonic() + timeout
    spinner = Spinner("dots", text=f"{doing} {accepted.name}")
    with Live(Group(spinner), console=status_console, transient=True):
        while operation.state not in ("SUCCEEDED", "FAILED"):
            if time.monotonic() > deadline:
                raise UserError(f"{doing} {accepted.name}: not done after {timeout:g} s")
            time.sleep(POLL_SECONDS)
            operation = api.operations.get(operation.id)
            spinner.update(text=f"{doing} {accepted.name}: {operation.progress or 'queued'}")
    if operation.state == "FAILED":
        raise UserError(f"{doing} {accepted.name} failed: {operation.error}")
    status_console.print(f"{accepted.name}: {operation.progress or 'done'}")


def register(app: typer.Typer) -> None:
    app.add_typer(plugins_app, name="plugins")
