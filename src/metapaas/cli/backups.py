"""``metapaas backups``: an instance's backup policy, its backups and recovery window; and
``metapaas restore``, a new instance made from another's backups.

A backup and a restore are operations on an instance, so ``--wait`` follows them as it
follows a create (:mod:`metapaas.cli.waiting`): the instance's events as they come, exit
0 only when the operation succeeded.
"""

from __future__ import annotations

from typing import Annotated

import typer

from metapaas.cli import instances, lookups, repositories, specs, waiting
from metapaas.cli.instances import Name, Slug, TimeoutOpt, WaitOpt, YesOpt, confirm
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
from metapaas.client.models import Backup, BackupStarted

backups_app = typer.Typer(
    help="Backups of instances: policies, backups taken now, recovery windows.",
    no_args_is_help=True,
)
policy_app = typer.Typer(
    help="When an instance is backed up, where to, for how long.", no_args_is_help=True
)
backups_app.add_typer(policy_app, name="policy")
backups_app.add_typer(repositories.app, name="repositories")

BackupArg = Annotated[str, typer.Argument(help="The backup's id (see `backups list`).")]
CronOpt = Annotated[str, typer.Option(help='Cron, in UTC, e.g. "0 3 * * *".')]

BACKUP_COLUMNS: list[Column] = [
    ("ID", lambda b: b.id),
    ("KIND", lambda b: b.kind),
    ("STATE", lambda b: b.state),
    ("STARTED", lambda b: b.started_at),
    ("FINISHED", lambda b: b.finished_at),
    ("BYTES", lambda b: b.size_bytes),
    ("VERIFIED", lambda b: b.verified_at),
    ("REASON", lambda b: b.reason),
]


# -- the policy ---------------------------------------------------------------


@policy_app.command("set")
def set_policy(
    slug: Slug,
    name: Name,
    repository: Annotated[str, typer.Option(help="The repository's name (see `repositories`).")],
    schedule: CronOpt,
    keep_count: Annotated[int | None, typer.Option(help="Full backups kept.")] = None,
    keep_days: Annotated[int | None, typer.Option(help="Days a backup is kept.")] = None,
    continuous: Annotated[
        bool,
        typer.Option("--continuous", help="Archive the engine's log too: point-in-time restore."),
    ] = False,
    verify: Annotated[
        str, typer.Option(help="Cron of restore drills (default: after each backup).")
    ] = "",
    project: lookups.ProjectOpt = None,
    output: OutputOpt = Format.table,
) -> None:
    """Set an instance's backup policy (replacing any it had); shows its next runs.

    Example: metapaas backups policy set postgres shop-db --repository local
    --schedule "0 3 * * *" --keep-count 7 --continuous
    """
    kept = {"count": keep_count, "days": keep_days}
    policy = {
        "repository": repository,
        "schedule": schedule,
        "retention": {k: v for k, v in kept.items() if v is not None},
        "continuous": continuous,
        "verify": verify,
    }
    with connect() as api:
        project_id = lookups.project_id(api, project)
        show_one(api.backups(slug).set_policy(name, policy, project_id=project_id), output)


@policy_app.command("show")
def show_policy(
    slug: Slug, name: Name, project: lookups.ProjectOpt = None, output: OutputOpt = Format.table
) -> None:
    """Show an instance's backup policy and its next runs.

    Example: metapaas backups policy show postgres shop-db
    """
    with connect() as api:
        project_id = lookups.project_id(api, project)
        show_one(api.backups(slug).policy(name, project_id=project_id), output)


# -- backups ------------------------------------------------------------------


@backups_app.command("create")
def create_backup(
    slug: Slug,
    name: Name,
    kind: Annotated[
        str | None,
        typer.Option(help="full, incremental or snapshot (default: the type's usual one)."),
    ] = None,
    project: lookups.ProjectOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
    output: OutputOpt = Format.table,
) -> None:
    """Back an instance up now; with --wait, follow it and show the backup made.

    Example: metapaas backups create postgres shop-db --wait
    """
    with connect() as api:
        project_id = lookups.project_id(api, project)
        started = api.backups(slug).create(name, kind=kind, project_id=project_id)
        if not wait:
            show_one(started, output)
            return
        _follow(api, slug, name, project_id, started, timeout)
        _show_backup(api.backups(slug).get(name, started.backup_id, project_id=project_id), output)


def _follow(
    api: Client,
    slug: str,
    name: str,
    project_id: str | None,
    started: BackupStarted,
    timeout: float,
) -> None:
    """Follow the operation ``started`` names on the instance until it ends well, or fail."""
    instance = api.instances(slug).get(name, project_id=project_id)
    outcome = waiting.follow_operation(api, instance, started.operation, timeout)
    if not outcome.ok:
        raise UserError(outcome.message)


def _show_backup(backup: Backup, output: Format) -> None:
    # Every stored object's digest is for scripts: a table would be pages of them.
    show_one(backup, output, leave_out=("objects",))


@backups_app.command("list")
def list_backups(
    slug: Slug, name: Name, project: lookups.ProjectOpt = None, output: OutputOpt = Format.table
) -> None:
    """An instance's backups, newest first.

    Example: metapaas backups list postgres shop-db
    """
    with connect() as api:
        found = api.backups(slug).list(name, project_id=lookups.project_id(api, project))
        show_list(found.items, output, BACKUP_COLUMNS)


@backups_app.command("show")
def show_backup(
    slug: Slug,
    name: Name,
    backup: BackupArg,
    project: lookups.ProjectOpt = None,
    output: OutputOpt = Format.table,
) -> None:
    """Show a backup: state and why, times, size, the engine's position (its objects'
    digests with -o json).

    Example: metapaas backups show postgres shop-db 3f2a…
    """
    with connect() as api:
        project_id = lookups.project_id(api, project)
        _show_backup(api.backups(slug).get(name, backup, project_id=project_id), output)


@backups_app.command("delete")
def delete_backup(
    slug: Slug,
    name: Name,
    backup: BackupArg,
    yes: YesOpt = False,
    project: lookups.ProjectOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
) -> None:
    """Delete a backup from its repository, unless a later restorable point needs it.

    Example: metapaas backups delete postgres shop-db 3f2a… --yes --wait
    """
    confirm(f"delete backup {backup} of {slug} instance {name}?", yes)
    with connect() as api:
        project_id = lookups.project_id(api, project)
        started = api.backups(slug).delete(name, backup, project_id=project_id)
        if not wait:
            status_console.print(f"deleting backup {backup} (operation {started.operation.id})")
            return
        _follow(api, slug, name, project_id, started, timeout)
    status_console.print(f"deleted backup {backup}")


@backups_app.command("window")
def show_window(
    slug: Slug, name: Name, project: lookups.ProjectOpt = None, output: OutputOpt = Format.table
) -> None:
    """The earliest and latest points an instance can be restored to, and how far the
    latest is behind now.

    Example: metapaas backups window postgres shop-db
    """
    with connect() as api:
        project_id = lookups.project_id(api, project)
        show_one(api.backups(slug).window(name, project_id=project_id), output)


# -- restore ------------------------------------------------------------------


def restore(
    slug: Slug,
    name: instances.NewName,
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help="The instance restored from, [PROJECT/]INSTANCE (a deleted one by its id); "
            "without a project, the instance of that name you can see.",
        ),
    ],
    point_in_time: Annotated[
        str | None,
        typer.Option(help="An RFC 3339 time within the source's recovery window."),
    ] = None,
    backup: Annotated[str | None, typer.Option(help="A backup's id: restore it as it is.")] = None,
    latest: Annotated[
        bool, typer.Option("--latest", help="The latest point the backups reach.")
    ] = False,
    version: instances.VersionOpt = None,
    set_: specs.SetOpt = None,
    file: specs.FileOpt = None,
    project: lookups.ProjectOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
    output: OutputOpt = Format.table,
) -> None:
    """Create an instance from another's backups: at a point in time, from one backup, or
    at the latest point; the other options are create's.

    Example: metapaas restore postgres shop-db-copy --from shop-db
    --point-in-time 2026-05-04T10:41:00Z --wait
    """
    target = _target(point_in_time, backup, latest)
    with connect() as api:
        body = instances.creation_body(api, slug, name, version, set_, file, project)
        source = _source(api, slug, source, body.get("project_id"))
        body["restore"] = {"from": source, **target}
        instances.finish(api, api.instances(slug).create(body), wait, timeout, output)


def _target(point_in_time: str | None, backup: str | None, latest: bool) -> dict[str, str]:
    """The restore's target: exactly one of the three options."""
    given = [
        ("point_in_time", point_in_time),
        ("backup", backup),
        ("point_in_time", "latest" if latest else None),  # the API's name for the latest point
    ]
    chosen = [(key, value) for key, value in given if value is not None]
    if len(chosen) != 1:
        raise typer.BadParameter(
            "give exactly one of them", param_hint="'--point-in-time' / '--backup' / '--latest'"
        )
    return dict(chosen)


def _source(api: Client, slug: str, source: str, project_id: str | None) -> str:
    """``source`` as the API takes it, ``<project>/<instance>``."""
    if "/" in source:
        return source
    found = api.instances(slug).get(source, project_id=project_id)
    return f"{found.project_id}/{found.id}"


def register(app: typer.Typer) -> None:
    app.add_typer(backups_app, name="backups")
    app.command()(restore)
