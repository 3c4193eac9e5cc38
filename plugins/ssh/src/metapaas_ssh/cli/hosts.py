"""``metapaas hosts``: the ``ssh`` provider's pool of machines (admins).

A private key is read from a file, never from the command line, where ``ps``
and the shell's history would show it. The server seals it and never shows it
again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.spinner import Spinner

from metapaas.cli.extend import (
    Column,
    Format,
    OutputOpt,
    TimeoutOpt,
    UserError,
    YesOpt,
    confirm,
    connect,
    console,
    show_list,
    show_one,
    status_console,
)
from metapaas_ssh.client import Host, HostNode, Hosts

app = typer.Typer(
    help="Hosts: the machines the ssh provider runs nodes on, reached over SSH (admins).",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="The host's name.")]
POLL_SECONDS = 1.0
PENDING = "PENDING"
READY = "READY"

HOST_COLUMNS: list[Column] = [
    ("NAME", lambda h: h.name),
    ("ADDRESS", lambda h: h.address),
    ("STATE", lambda h: h.state),
    ("NODES", lambda h: f"{h.used.nodes}/{h.capacity.nodes}"),
    ("MEMORY MB", lambda h: f"{h.used.memory_mb}/{h.capacity.memory_mb}"),
    ("DRAINING", lambda h: "yes" if h.draining else ""),
    ("REASON", lambda h: h.state_reason),
]
NODE_COLUMNS: list[Column] = [
    ("NODE", lambda n: n.name),
    ("TYPE", lambda n: n.type),
    ("INSTANCE", lambda n: n.instance_id),
    ("MEMORY MB", lambda n: n.memory_mb),
    ("PORTS", lambda n: ", ".join(f"{name}={port}" for name, port in n.ports.items())),
]


@app.command("list")
def list_hosts(output: OutputOpt = Format.table) -> None:
    """The hosts with their state, what they run of their capacity, and any drain.

    Example: metapaas hosts list
    """
    with connect() as api:
        show_list(Hosts(api).list().items, output, HOST_COLUMNS)


@app.command("show")
def show_host(name: NameArg, output: OutputOpt = Format.table) -> None:
    """Show a host: its state and why, capacity, labels, facts, and the nodes on it.

    Example: metapaas hosts show host1
    """
    with connect() as api:
        show(Hosts(api).get(name), output)


@app.command("add")
def add(
    name: NameArg,
    address: Annotated[
        str,
        typer.Option(
            help="Its IP address or DNS name: where the control plane and clients reach it."
        ),
    ],
    private_key_file: Annotated[
        Path,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="The login's private key (OpenSSH or PEM, unencrypted), read from this file.",
        ),
    ],
    nodes: Annotated[int, typer.Option(help="Nodes it may run at once.")],
    memory_mb: Annotated[int, typer.Option(help="Memory it gives nodes, in MB.")],
    host_key: Annotated[
        str | None,
        typer.Option(help='Its public host key, "ssh-ed25519 AAAA...": pinned, never learnt.'),
    ] = None,
    host_key_file: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Its public host key from a file (a copy of its "
            "/etc/ssh/ssh_host_ed25519_key.pub).",
        ),
    ] = None,
    port: Annotated[int, typer.Option(help="Its SSH port.")] = 22,
    user: Annotated[
        str, typer.Option(help="The login: root, or a user that may run `sudo -n`.")
    ] = "root",
    label: Annotated[
        list[str] | None,
        typer.Option(help="A label placement can ask for, key=value (repeat it)."),
    ] = None,
    install_packages: Annotated[
        bool,
        typer.Option(
            "--install-packages",
            help="Let the control plane apt-install the Debian packages a type's nodes need.",
        ),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", "-w", help="Wait until it is checked; exit 0 only when it is READY."
        ),
    ] = False,
    timeout: TimeoutOpt = 120,
    output: OutputOpt = Format.table,
) -> None:
    """Register a host: PENDING until the control plane has checked it over SSH.

    Example: metapaas hosts add host1 --address 10.0.0.11 --private-key-file ~/.ssh/pool
    --host-key-file host1.pub --nodes 4 --memory-mb 8192 --label zone=a --wait
    """
    private_key = _read(private_key_file, "the private key")
    pinned = _host_key(host_key, host_key_file)
    labels = labels_of(label or ())
    with connect() as api:
        host = Hosts(api).register(
            name,
            address=address,
            private_key=private_key,
            host_key=pinned,
            nodes=nodes,
            memory_mb=memory_mb,
            port=port,
            user=user,
            labels=labels or None,
            install_packages=install_packages or None,
        )
        if wait:
            host = _wait_checked(Hosts(api), host, timeout)
    show(host, output)
    if wait and host.state != READY:
        raise UserError(f"host {name} is {host.state}: {host.state_reason}")


@app.command("drain")
def drain(
    name: NameArg,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", "-w", help="Wait until the host holds no node, showing each that leaves."
        ),
    ] = False,
    timeout: TimeoutOpt = 1800,
    output: OutputOpt = Format.table,
) -> None:
    """Drain a host: its nodes move to other hosts, and it takes no new one.

    The nodes move one at a time, each while the others of its instance serve.

    Example: metapaas hosts drain host1 --wait
    """
    with connect() as api:
        host = Hosts(api).drain(name)
        if wait:
            host = _wait_drained(Hosts(api), host, timeout)
            status_console.print(f"host {name} is drained: it holds no node")
        else:
            status_console.print(f"draining host {name}: {_count(host.nodes)} to move")
    show(host, output)


@app.command("resume")
def resume(name: NameArg, output: OutputOpt = Format.table) -> None:
    """End a drain: the host takes new nodes again (nodes that moved away stay where they are).

    Example: metapaas hosts resume host1
    """
    with connect() as api:
        show(Hosts(api).resume(name), output)


@app.command("remove")
def remove(name: NameArg, yes: YesOpt = False) -> None:
    """Remove a host that holds no node and no volume (drain it first).

    Example: metapaas hosts remove host1 --yes
    """
    confirm(f"remove host {name}?", yes)
    with connect() as api:
        Hosts(api).remove(name)
    status_console.print(f"removed host {name}")


def show(host: Host, output: Format) -> None:
    """A host as a person reads it, then the nodes on it; or all of it as JSON / YAML."""
    if output is not Format.table:
        show_one(host, output)
        return
    summary = {
        "name": host.name,
        "address": f"{host.user}@{host.address}:{host.port}",
        "state": host.state,
        "reason": host.state_reason,
        "draining": "yes" if host.draining else "no",
        "nodes": f"{host.used.nodes} of {host.capacity.nodes}",
        "memory": f"{host.used.memory_mb} of {host.capacity.memory_mb} MB",
        "labels": ", ".join(f"{k}={v}" for k, v in sorted(host.labels.items())),
        "host key": host.host_key,
        "found": _facts(host.facts),
        "checked": host.checked_at,
        "created": host.created_at,
    }
    show_one({k: v for k, v in summary.items() if v != ""}, output)
    if host.nodes:
        console.print()
        show_list(host.nodes, output, NODE_COLUMNS)


def _facts(facts: dict[str, Any]) -> str:
    """What the last check found, in a few words ("" before a host was reached)."""
    if not facts:
        return ""
    said = f"Python {facts.get('python_version', '?')} on {facts.get('machine', '?')}"
    return f"{said}, {facts.get('memory_mb', '?')} MB of memory"


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {what} from {path}: {exc}") from exc


def _host_key(given: str | None, file: Path | None) -> str:
    if file is None and given is not None:
        return given
    if given is None and file is not None:
        return _read(file, "the host key")
    raise typer.BadParameter("give one of --host-key and --host-key-file")


def labels_of(pairs: Iterable[str], option: str = "--label") -> dict[str, str]:
    """``key=value`` options as a mapping; anything else is a usage error naming ``option``."""
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint=option)
        labels[key] = value
    return labels


def _count(nodes: list[HostNode]) -> str:
    return f"{len(nodes)} node{'' if len(nodes) == 1 else 's'}"


def _elapsed(started: float) -> str:
    return f"{time.monotonic() - started:.0f}s"


def _wait_checked(hosts: Hosts[Any], host: Host, timeout: float) -> Host:
    """The host once the host monitor has checked it (its state is no longer PENDING)."""
    started = time.monotonic()
    spinner = Spinner("dots", text=f"checking host {host.name}")
    with Live(Group(spinner), console=status_console, transient=True):
        while host.state == PENDING:
            if time.monotonic() - started > timeout:
                raise UserError(f"host {host.name} is not checked after {timeout:g} s")
            time.sleep(POLL_SECONDS)
            host = hosts.get(host.name)
            spinner.update(text=f"checking host {host.name}  {_elapsed(started)}")
    return host


def _wait_drained(hosts: Hosts[Any], host: Host, timeout: float) -> Host:
    """The host once it holds no node; a line for each node as it leaves."""
    started = time.monotonic()
    spinner = Spinner("dots")
    left = {node.name for node in host.nodes}
    with Live(Group(spinner), console=status_console, transient=True) as live:
        while host.nodes:
            if not host.draining:
                raise UserError(f"host {host.name} was resumed with {_count(host.nodes)} on it")
            if time.monotonic() - started > timeout:
                names = ", ".join(sorted(left))
                raise UserError(
                    f"host {host.name} still holds {_count(host.nodes)} after {timeout:g} s: "
                    f"{names}"
                )
            spinner.update(
                text=f"draining host {host.name}: {_count(host.nodes)} left  {_elapsed(started)}"
            )
            time.sleep(POLL_SECONDS)
            host = hosts.get(host.name)
            now = {node.name for node in host.nodes}
            for gone in sorted(left - now):
                live.console.print(
                    f"  {datetime.now():%H:%M:%S} {gone} left host {host.name} "
                    f"({_count(host.nodes)} left)"
                )
            left = now
    return host
