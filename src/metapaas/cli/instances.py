"""Instances of any type: create, list, show, update, delete, events, credentials, retry."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from metapaas.cli import lookups, specs, waiting
from metapaas.cli.output import (
    Column,
    Format,
    OutputOpt,
    UserError,
    console,
    show_list,
    show_one,
    status_console,
    text,
)
from metapaas.cli.profiles import connect
from metapaas.client import Client, Event, InstanceView

Slug = Annotated[str, typer.Argument(help="The type, e.g. demo (see `metapaas types`).")]
Name = Annotated[str, typer.Argument(help="The instance's name or id.")]
NewName = Annotated[str, typer.Argument(help="A name unique in the project.")]
VersionOpt = Annotated[str | None, typer.Option(help="A version of the type's catalog.")]
WaitOpt = Annotated[bool, typer.Option("--wait", "-w", help="Follow the change until it ends.")]
TimeoutOpt = Annotated[float, typer.Option(help="Seconds --wait waits at most.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]

COLUMNS: list[Column] = [
    ("NAME", lambda i: i.name),
    ("TYPE", lambda i: i.type),
    ("STATUS", lambda i: i.status),
    ("VERSION", lambda i: i.version),
    ("GEN", lambda i: f"{i.observed_generation}/{i.generation}"),
    ("CREATED", lambda i: i.created_at),
]
EVENT_COLUMNS: list[Column] = [
    ("AT", lambda e: e.at),
    ("KIND", lambda e: e.kind),
    ("NODE", lambda e: e.node),
    ("MESSAGE", lambda e: e.message),
]


def finish(api: Client, accepted: InstanceView, wait: bool, timeout: float, output: Format) -> None:
    """Show the accepted change, or with ``--wait`` follow it and show where it ended."""
    if not wait or accepted.operation_id is None:
        show_one(accepted, output)
        return
    outcome = waiting.follow(api, accepted.type, accepted, timeout)
    if outcome.instance is not None:
        show_one(outcome.instance, output)
    if not outcome.ok:
        raise UserError(outcome.message)


def create(
    slug: Slug,
    name: NewName,
    version: VersionOpt = None,
    set_: specs.SetOpt = None,
    file: specs.FileOpt = None,
    project: lookups.ProjectOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
    output: OutputOpt = Format.table,
) -> None:
    """Create an instance; with --wait, follow it until ACTIVE (exit 0) or an error.

    Example: metapaas create demo hello --set message="hi there" --set replicas=2 --wait
    """
    with connect() as api:
        body = creation_body(api, slug, name, version, set_, file, project)
        finish(api, api.instances(slug).create(body), wait, timeout, output)


def creation_body(
    api: Client,
    slug: str,
    name: str,
    version: str | None,
    set_: list[str] | None,
    file: Path | None,
    project: str | None,
) -> dict[str, Any]:
    """The create request of an instance of ``slug`` from the options of `create`."""
    schema = api.types.get(slug).instance_schema
    body = specs.body_from(set_, file, schema) | {"name": name}
    if version is not None:
        body["version"] = version
    if project is not None:
        body["project_id"] = lookups.project_id(api, project)
    return body


def list_(
    slug: Annotated[
        str | None, typer.Argument(help="Only this type (default: every type).")
    ] = None,
    project: lookups.ProjectOpt = None,
    status: Annotated[str | None, typer.Option(help="Only instances in this status.")] = None,
    output: OutputOpt = Format.table,
) -> None:
    """List instances of one type or of all.

    Example: metapaas list demo --status ACTIVE -o json
    """
    with connect() as api:
        slugs = [slug] if slug else [t.slug for t in api.types.list().items if t.status == "ACTIVE"]
        project_id = lookups.project_id(api, project)
        found = [
            instance
            for each in slugs
            for instance in lookups.every(
                lambda marker, each=each: api.instances(each).list(  # type: ignore[misc]
                    project_id=project_id, status=status, marker=marker
                )
            )
        ]
        show_list(found, output, COLUMNS)


def show(
    slug: Slug, name: Name, project: lookups.ProjectOpt = None, output: OutputOpt = Format.table
) -> None:
    """Show an instance: status, spec, endpoints.

    Example: metapaas show demo hello
    """
    with connect() as api:
        show_one(api.instances(slug).get(name, project_id=lookups.project_id(api, project)), output)


def update(
    slug: Slug,
    name: Name,
    set_: specs.SetOpt = None,
    file: specs.FileOpt = None,
    description: Annotated[str | None, typer.Option(help="A new description.")] = None,
    project: lookups.ProjectOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
    output: OutputOpt = Format.table,
) -> None:
    """Change an instance's spec; with --wait, follow it until its nodes converge.

    Example: metapaas update demo hello --set replicas=3 --wait
    """
    with connect() as api:
        schema = api.types.get(slug).instance_schema
        changes = specs.body_from(set_, file, schema)
        if description is not None:
            changes["description"] = description
        if not changes:
            raise UserError("nothing to change: give --set, --file or --description")
        project_id = lookups.project_id(api, project)
        accepted = api.instances(slug).update(name, changes, project_id=project_id)
        finish(api, accepted, wait, timeout, output)


def delete(
    slug: Slug,
    name: Name,
    yes: YesOpt = False,
    project: lookups.ProjectOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
) -> None:
    """Delete an instance, its nodes and its data.

    Example: metapaas delete demo hello --yes --wait
    """
    confirm(f"delete {slug} instance {name} and all its data?", yes)
    with connect() as api:
        accepted = api.instances(slug).delete(name, project_id=lookups.project_id(api, project))
        if wait:
            outcome = waiting.follow(api, slug, accepted, timeout)
            if not outcome.ok:
                raise UserError(outcome.message)
            status_console.print(f"deleted {slug} instance {name}")
        else:
            status_console.print(
                f"deleting {slug} instance {name} (operation {accepted.operation_id})"
            )


def confirm(question: str, yes: bool) -> None:
    """Ask before a destructive change; without a terminal, only --yes goes on."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UserError(f"{question} pass --yes to confirm (no terminal to ask on)")
    typer.confirm(question, abort=True, err=True)


def events(
    slug: Slug,
    name: Name,
    follow: Annotated[
        bool, typer.Option("--follow", "-F", help="Keep printing new events.")
    ] = False,
    limit: Annotated[int, typer.Option(help="How many recent events.")] = 50,
    project: lookups.ProjectOpt = None,
    output: OutputOpt = Format.table,
) -> None:
    """What happened to an instance, oldest first; --follow keeps watching (Ctrl-C stops).

    Example: metapaas events demo hello --follow
    """
    with connect() as api:
        instances = api.instances(slug)
        project_id = lookups.project_id(api, project)
        shown = list(reversed(instances.events(name, limit=limit, project_id=project_id).items))
        if not follow:
            show_list(shown, output, EVENT_COLUMNS)
            return
        _follow_events(lambda: instances.events(name, project_id=project_id).items, shown, output)


def _follow_events(read: Callable[[], list[Event]], shown: list[Event], output: Format) -> None:
    """Print events as they come: table rows, or one JSON / YAML document per event."""
    seen: set[int] = set()
    batch = shown
    try:
        while True:
            for event in batch:
                if output is Format.json:
                    print(event.model_dump_json())  # JSON lines: one event a line
                elif output is Format.yaml:
                    print("---")
                    show_one(event, output)
                else:
                    row = (text(read_cell(event)) for _, read_cell in EVENT_COLUMNS)
                    console.print("  ".join(row), highlight=False, markup=False)
            seen.update(e.id for e in batch)
            time.sleep(waiting.POLL_SECONDS)
            batch = [e for e in reversed(read()) if e.id not in seen]
    except KeyboardInterrupt:
        return


def credentials(
    slug: Slug, name: Name, project: lookups.ProjectOpt = None, output: OutputOpt = Format.table
) -> None:
    """Connection details and secrets of an ACTIVE instance.

    Example: metapaas credentials demo hello -o json
    """
    with connect() as api:
        show_one(
            api.instances(slug).credentials(name, project_id=lookups.project_id(api, project)),
            output,
        )


def retry(
    slug: Slug,
    name: Name,
    project: lookups.ProjectOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
    output: OutputOpt = Format.table,
) -> None:
    """Try an instance in ERROR again.

    Example: metapaas retry demo hello --wait
    """
    with connect() as api:
        accepted = api.instances(slug).retry(name, project_id=lookups.project_id(api, project))
        finish(api, accepted, wait, timeout, output)


def register(app: typer.Typer) -> None:
    app.command()(create)
    app.command("list")(list_)
    for command in (show, update, delete, events, credentials, retry):
        app.command()(command)
