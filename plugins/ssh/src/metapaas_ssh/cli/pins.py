"""``metapaas pins``: where a project's or a type's new nodes go (admins).

A pin names a provider (``local``, ``ssh``, ...) and, for a provider with
hosts, the labels a host must have. A project's pin wins over its type's; with
neither, the server's default provider places. Nodes that exist stay where
they are.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from metapaas.cli.extend import (
    Column,
    Format,
    OutputOpt,
    connect,
    show_list,
    show_one,
    status_console,
)
from metapaas_ssh.cli.hosts import labels_of
from metapaas_ssh.client import Pins

app = typer.Typer(
    help="Placement pins: a project's or a type's new nodes to a provider and a host pool.",
    no_args_is_help=True,
)


class Scope(StrEnum):
    project = "project"
    type = "type"


ScopeArg = Annotated[Scope, typer.Argument(help="What is pinned: a project or a type.")]
TargetArg = Annotated[str, typer.Argument(help="The project's id, or the type's slug.")]

PIN_COLUMNS: list[Column] = [
    ("SCOPE", lambda p: p.scope),
    ("TARGET", lambda p: p.target),
    ("PROVIDER", lambda p: p.provider),
    ("HOST LABELS", lambda p: ", ".join(f"{k}={v}" for k, v in sorted(p.host_labels.items()))),
]


@app.command("list")
def list_pins(output: OutputOpt = Format.table) -> None:
    """The pins.

    Example: metapaas pins list
    """
    with connect() as api:
        show_list(Pins(api).list().items, output, PIN_COLUMNS)


@app.command("set")
def set_pin(
    scope: ScopeArg,
    target: TargetArg,
    provider: Annotated[str, typer.Option(help="An installed provider: local, ssh, ...")],
    host_label: Annotated[
        list[str] | None,
        typer.Option(help="A label the hosts must have, key=value (repeat it)."),
    ] = None,
    output: OutputOpt = Format.table,
) -> None:
    """Pin a project's or a type's new nodes to a provider (and a pool of its hosts).

    Example: metapaas pins set type mail --provider ssh --host-label zone=a
    """
    labels = labels_of(host_label or (), "--host-label")
    with connect() as api:
        pin = Pins(api).set(scope.value, target, provider=provider, host_labels=labels)
    show_one(pin, output)


@app.command("remove")
def remove_pin(scope: ScopeArg, target: TargetArg) -> None:
    """Remove a pin: new nodes go to the default provider again.

    Example: metapaas pins remove type mail
    """
    with connect() as api:
        Pins(api).remove(scope.value, target)
    status_console.print(f"the pin of {scope.value} {target} is removed")
