"""Names a person types, turned into the ids the API takes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, TypeVar, overload

import typer

from metapaas.cli.output import UserError
from metapaas.client import ApiError, Client
from metapaas.client.models import Page, Project

Item = TypeVar("Item")

ProjectOpt = Annotated[
    str | None, typer.Option("--project", help="Project name or id (default: your token's).")
]


def every(fetch: Callable[[str | None], Page[Item]]) -> Iterator[Item]:
    """Every item of a paged list, page after page."""
    marker: str | None = None
    while True:
        page = fetch(marker)
        yield from page.items
        if page.next_marker is None:
            return
        marker = page.next_marker


def projects(api: Client) -> list[Project]:
    return list(every(lambda marker: api.projects.list(marker=marker)))


@overload
def project_id(api: Client, project: str) -> str: ...


@overload
def project_id(api: Client, project: str | None) -> str | None: ...


def project_id(api: Client, project: str | None) -> str | None:
    """The id of the project named (or with the id) ``project``."""
    if project is None:
        return None
    for found in projects(api):
        if project in (found.name, found.id):
            return found.id
    raise UserError(f"no project {project!r} among those you hold a role in")


def user_id(api: Client, user: str) -> str:
    """The id of the user named ``user``; ``me`` and ids pass as they are."""
    if user == "me":
        return user
    try:
        users = list(every(lambda marker: api.users.list(marker=marker)))
    except ApiError as exc:
        if exc.status == 403:  # only admins list users; the server judges the id itself
            return user
        raise
    for found in users:
        if user in (found.name, found.id):
            return found.id
    raise UserError(f"no user {user!r}")
