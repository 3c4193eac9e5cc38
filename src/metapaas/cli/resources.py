"""``metapaas <slug> <collection> create|list|show|update|delete``: child resources.

The groups are made at run time from the server's ``GET /v1/types/``, so a
type installed after this CLI was gets its commands too.
"""

from __future__ import annotations

from typing import Annotated

import typer

from metapaas.cli import lookups, specs
from metapaas.cli.instances import Name, YesOpt, confirm
from metapaas.cli.output import Column, Format, OutputOpt, show_list, show_one, status_console
from metapaas.cli.profiles import connect
from metapaas.client import TypeSummary

COLUMNS: list[Column] = [
    ("NAME", lambda r: r.name),
    ("ID", lambda r: r.id),
    ("SPEC", lambda r: {k: v for k, v in r.spec.items() if k != "name"}),
    ("CREATED", lambda r: r.created_at),
]
Child = Annotated[str, typer.Argument(help="The resource's name or id.")]


def type_group(summary: TypeSummary) -> typer.Typer:
    """The commands of one type's child collections."""
    group = typer.Typer(help=f"{summary.title}: child resources.", no_args_is_help=True)
    for collection in summary.collections:
        group.add_typer(
            collection_group(summary.slug, collection),
            name=collection,
            help=f"The {collection} of a {summary.slug} instance.",
        )
    return group


def collection_group(slug: str, collection: str) -> typer.Typer:
    group = typer.Typer(no_args_is_help=True)
    example = f"Example: metapaas {slug} {collection}"

    @group.command(
        "create",
        help=f"Add one of {collection} to an instance; secrets are shown this once.\n\n"
        f"{example} create INSTANCE NAME --set key=value",
    )
    def create(
        instance: Name,
        name: Annotated[str, typer.Argument(help="The resource's name.")],
        set_: specs.SetOpt = None,
        file: specs.FileOpt = None,
        project: lookups.ProjectOpt = None,
        output: OutputOpt = Format.table,
    ) -> None:
        with connect() as api:
            schema = api.types.get(slug).resource_schemas.get(collection, {})
            body = specs.body_from(set_, file, schema) | {"name": name}
            project_id = lookups.project_id(api, project)
            show_one(
                api.resources(slug, collection).create(instance, body, project_id=project_id),
                output,
            )

    @group.command(
        "list", help=f"List the {collection} of an instance.\n\n{example} list INSTANCE -o json"
    )
    def list_(
        instance: Name, project: lookups.ProjectOpt = None, output: OutputOpt = Format.table
    ) -> None:
        with connect() as api:
            resources = api.resources(slug, collection)
            project_id = lookups.project_id(api, project)
            found = lookups.every(
                lambda marker: resources.list(instance, marker=marker, project_id=project_id)
            )
            show_list(list(found), output, COLUMNS)

    @group.command("show", help=f"Show one of {collection}.\n\n{example} show INSTANCE NAME")
    def show(
        instance: Name,
        child: Child,
        project: lookups.ProjectOpt = None,
        output: OutputOpt = Format.table,
    ) -> None:
        with connect() as api:
            project_id = lookups.project_id(api, project)
            show_one(
                api.resources(slug, collection).get(instance, child, project_id=project_id), output
            )

    @group.command(
        "update",
        help=f"Change one of {collection}.\n\n{example} update INSTANCE NAME --set key=value",
    )
    def update(
        instance: Name,
        child: Child,
        set_: specs.SetOpt = None,
        file: specs.FileOpt = None,
        project: lookups.ProjectOpt = None,
        output: OutputOpt = Format.table,
    ) -> None:
        with connect() as api:
            schema = api.types.get(slug).resource_schemas.get(collection, {})
            changes = specs.body_from(set_, file, schema)
            project_id = lookups.project_id(api, project)
            updated = api.resources(slug, collection).update(
                instance, child, changes, project_id=project_id
            )
            show_one(updated, output)

    @group.command(
        "delete", help=f"Delete one of {collection}.\n\n{example} delete INSTANCE NAME --yes"
    )
    def delete(
        instance: Name, child: Child, yes: YesOpt = False, project: lookups.ProjectOpt = None
    ) -> None:
        confirm(f"delete {collection} {child} of {slug} instance {instance}?", yes)
        with connect() as api:
            project_id = lookups.project_id(api, project)
            api.resources(slug, collection).delete(instance, child, project_id=project_id)
        status_console.print(f"deleted {collection} {child} of {instance}")

    return group
