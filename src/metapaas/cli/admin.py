"""Projects, their members (role bindings), users and API tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from metapaas.cli import lookups
from metapaas.cli.instances import YesOpt, confirm
from metapaas.cli.output import Column, Format, OutputOpt, show_list, show_one, status_console
from metapaas.cli.profiles import connect

projects_app = typer.Typer(help="Projects: the tenant boundary.", no_args_is_help=True)
members_app = typer.Typer(help="Who holds which role in a project.", no_args_is_help=True)
users_app = typer.Typer(help="Users (admins manage every user).", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens of a user.", no_args_is_help=True)

ProjectArg = Annotated[str, typer.Argument(help="Project name or id.")]
UserOpt = Annotated[str, typer.Option("--user", help="User name or id; me is you.")]

PROJECT_COLUMNS: list[Column] = [
    ("NAME", lambda p: p.name),
    ("ID", lambda p: p.id),
    ("DESCRIPTION", lambda p: p.description),
    ("CREATED", lambda p: p.created_at),
]
MEMBER_COLUMNS: list[Column] = [
    ("USER", lambda b: b.user),
    ("ROLE", lambda b: b.role),
    ("USER ID", lambda b: b.user_id),
]
USER_COLUMNS: list[Column] = [
    ("NAME", lambda u: u.name),
    ("ID", lambda u: u.id),
    ("ADMIN", lambda u: "yes" if u.is_admin else ""),
    ("CREATED", lambda u: u.created_at),
]
TOKEN_COLUMNS: list[Column] = [
    ("NAME", lambda t: t.name),
    ("ID", lambda t: t.id),
    ("PREFIX", lambda t: t.prefix),
    ("EXPIRES", lambda t: t.expires_at),
    ("LAST USED", lambda t: t.last_used_at),
    ("REVOKED", lambda t: "yes" if t.revoked else ""),
]


# -- projects -----------------------------------------------------------------


@projects_app.command("list")
def list_projects(output: OutputOpt = Format.table) -> None:
    """Projects you hold a role in (every project, for an admin).

    Example: metapaas projects list -o yaml
    """
    with connect() as api:
        show_list(lookups.projects(api), output, PROJECT_COLUMNS)


@projects_app.command("create")
def create_project(
    name: Annotated[str, typer.Argument(help="Lowercase letters, digits and '-'.")],
    description: Annotated[str, typer.Option(help="What the project is for.")] = "",
    output: OutputOpt = Format.table,
) -> None:
    """Create a project (admins).

    Example: metapaas projects create team-a --description "Team A's services"
    """
    with connect() as api:
        show_one(api.projects.create(name, description), output)


@projects_app.command("show")
def show_project(project: ProjectArg, output: OutputOpt = Format.table) -> None:
    """Show a project.

    Example: metapaas projects show team-a
    """
    with connect() as api:
        show_one(api.projects.get(lookups.project_id(api, project)), output)


@projects_app.command("update")
def update_project(
    project: ProjectArg,
    description: Annotated[str, typer.Option(help="The new description.")],
    output: OutputOpt = Format.table,
) -> None:
    """Change a project's description (owners).

    Example: metapaas projects update team-a --description "Team A, production"
    """
    with connect() as api:
        show_one(api.projects.update(lookups.project_id(api, project), description), output)


@projects_app.command("delete")
def delete_project(project: ProjectArg, yes: YesOpt = False) -> None:
    """Delete a project without live instances (admins).

    Example: metapaas projects delete team-a --yes
    """
    confirm(f"delete project {project}?", yes)
    with connect() as api:
        api.projects.delete(lookups.project_id(api, project))
    status_console.print(f"deleted project {project}")


# -- members ------------------------------------------------------------------


@members_app.command("list")
def list_members(project: ProjectArg, output: OutputOpt = Format.table) -> None:
    """Who holds which role in a project.

    Example: metapaas members list team-a
    """
    with connect() as api:
        show_list(
            api.projects.members(lookups.project_id(api, project)).items, output, MEMBER_COLUMNS
        )


@members_app.command("set")
def set_member(
    project: ProjectArg,
    user: Annotated[str, typer.Argument(help="User name or id.")],
    role: Annotated[str, typer.Argument(help="owner, member or viewer.")],
    output: OutputOpt = Format.table,
) -> None:
    """Give a user a role in a project, replacing any role it had (owners).

    Example: metapaas members set team-a alice member
    """
    with connect() as api:
        bound = api.projects.bind(
            lookups.project_id(api, project), lookups.user_id(api, user), role
        )
        show_one(bound, output)


@members_app.command("remove")
def remove_member(
    project: ProjectArg, user: Annotated[str, typer.Argument(help="User name or id.")]
) -> None:
    """Take a user's role in a project away (owners).

    Example: metapaas members remove team-a alice
    """
    with connect() as api:
        api.projects.unbind(lookups.project_id(api, project), lookups.user_id(api, user))
    status_console.print(f"{user} holds no role in {project} any more")


# -- users --------------------------------------------------------------------


@users_app.command("list")
def list_users(output: OutputOpt = Format.table) -> None:
    """Every user (admins).

    Example: metapaas users list
    """
    with connect() as api:
        users = list(lookups.every(lambda marker: api.users.list(marker=marker)))
        show_list(users, output, USER_COLUMNS)


@users_app.command("create")
def create_user(
    name: Annotated[str, typer.Argument(help="Lowercase letters, digits and '-'.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an admin.")] = False,
    default_project: Annotated[
        str | None, typer.Option(help="Project name or id its requests default to.")
    ] = None,
    output: OutputOpt = Format.table,
) -> None:
    """Create a user (admins); give it a token with `metapaas tokens create --user`.

    Example: metapaas users create alice --default-project team-a
    """
    with connect() as api:
        project_id = lookups.project_id(api, default_project)
        show_one(api.users.create(name, is_admin=admin, default_project_id=project_id), output)


@users_app.command("show")
def show_user(
    user: Annotated[str, typer.Argument(help="User name or id.")] = "me",
    output: OutputOpt = Format.table,
) -> None:
    """Show a user and its roles; without a name, you.

    Example: metapaas users show alice
    """
    with connect() as api:
        show_one(api.users.get(lookups.user_id(api, user)), output)


@users_app.command("delete")
def delete_user(
    user: Annotated[str, typer.Argument(help="User name or id.")], yes: YesOpt = False
) -> None:
    """Delete a user (admins).

    Example: metapaas users delete alice --yes
    """
    confirm(f"delete user {user}?", yes)
    with connect() as api:
        api.users.delete(lookups.user_id(api, user))
    status_console.print(f"deleted user {user}")


# -- tokens -------------------------------------------------------------------


@tokens_app.command("list")
def list_tokens(user: UserOpt = "me", output: OutputOpt = Format.table) -> None:
    """A user's tokens (never the secrets).

    Example: metapaas tokens list --user alice
    """
    with connect() as api:
        show_list(api.users.tokens(lookups.user_id(api, user)).items, output, TOKEN_COLUMNS)


@tokens_app.command("create")
def create_token(
    name: Annotated[str, typer.Argument(help="What the token is for.")],
    user: UserOpt = "me",
    project: lookups.ProjectOpt = None,
    expires_in_days: Annotated[int | None, typer.Option(help="Days it is valid.")] = None,
    output: OutputOpt = Format.table,
) -> None:
    """Issue a token; its secret is shown this once.

    Example: metapaas tokens create ci --user alice --project team-a --expires-in-days 90
    """
    with connect() as api:
        token = api.users.create_token(
            name,
            user_id=lookups.user_id(api, user),
            project_id=lookups.project_id(api, project),
            expires_in_days=expires_in_days,
        )
        show_one(token, output)


@tokens_app.command("revoke")
def revoke_token(
    token_id: Annotated[str, typer.Argument(help="The token's id (see `tokens list`).")],
    user: UserOpt = "me",
) -> None:
    """Revoke a token at once.

    Example: metapaas tokens revoke 3f2a… --user alice
    """
    with connect() as api:
        api.users.revoke_token(token_id, user_id=lookups.user_id(api, user))
    status_console.print(f"revoked token {token_id}")


def register(app: typer.Typer) -> None:
    app.add_typer(projects_app, name="projects")
    app.add_typer(members_app, name="members")
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
