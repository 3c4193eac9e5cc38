"""The ``metapaas`` command: the server's commands, the client's, each provider's and
each type's.

Client commands import no part of the server (``metapaas.cli.main`` loads it
only inside its commands), so ``metapaas list`` starts fast. Each group of
commands lives in its own module with a ``register(app)``, listed in
:func:`build`; the providers' groups come from their declarations
(:mod:`metapaas.providers.declared`, which loads no server either).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import httpx
import typer

from metapaas.cli import admin, backups, catalog, instances, plugins, profiles, resources
from metapaas.cli import main as serving
from metapaas.cli.output import UserError, print_error
from metapaas.client import ApiError, Client
from metapaas.providers.declared import declared

EXIT_ERROR = 1


def _root(
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            envvar="METAPAAS_PROFILE",
            help="Profile to use for this command (see `metapaas profiles`).",
        ),
    ] = None,
) -> None:
    """MetaPaaS: one control plane for many managed service types.

    Start with `metapaas login --url URL --token TOKEN`, then `metapaas types`.
    """
    profiles.choose(profile)


def build() -> typer.Typer:
    """The command tree without the per-type groups."""
    app = serving.app
    app.callback()(_root)
    for module in (profiles, instances, admin, plugins, backups):
        module.register(app)
    app.add_typer(catalog.app, name="types")
    add_provider_groups(app)
    return app


def add_provider_groups(app: typer.Typer) -> None:
    """Each installed provider's command groups, but for a name already taken."""
    taken = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    for provider, plugin in declared().plugins.items():
        try:
            groups = plugin.commands()
        except Exception as exc:  # a broken distribution must not take the command down
            print_error(f"the commands of provider {provider} are not available: {exc}")
            continue
        for name, group in groups.items():
            if name not in taken:
                app.add_typer(group, name=name)
                taken.add(name)


def _command_word(args: list[str]) -> str | None:
    """The first word of ``args`` that is not a root option or its value."""
    words = iter(args)
    for word in words:
        if word in ("--profile", "-p"):
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _profile_in(args: list[str]) -> str | None:
    for i, word in enumerate(args):
        if word in ("--profile", "-p") and i + 1 < len(args):
            return args[i + 1]
        if word.startswith("--profile="):
            return word.partition("=")[2]
    return os.environ.get("METAPAAS_PROFILE")


def add_type_groups(app: typer.Typer, profile: str | None) -> None:
    """A group per type with child collections, read from the server now."""
    taken = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    connection = profiles.resolve(profile)
    with Client(connection.url.rstrip("/"), connection.token, timeout=10) as api:
        summaries = api.types.list().items
    for summary in summaries:
        if summary.status == "ACTIVE" and summary.collections and summary.slug not in taken:
            app.add_typer(resources.type_group(summary), name=summary.slug)


def main() -> None:
    args = sys.argv[1:]
    app = build()
    static = set(typer.main.get_group(app).commands)
    word = _command_word(args)
    completing = any(k.startswith("_METAPAAS_COMPLETE") for k in os.environ)
    try:
        if word not in static:
            _load_type_groups(app, args, must=word is not None and not completing)
        app(prog_name="metapaas")
    except (ApiError, UserError) as exc:
        print_error(exc)
        sys.exit(EXIT_ERROR)
    except httpx.TransportError as exc:
        print_error(f"cannot reach {exc.request.url}: {exc}")
        sys.exit(EXIT_ERROR)


def _load_type_groups(app: typer.Typer, args: list[str], *, must: bool) -> None:
    """Read the type groups; a failure matters only to a command that needs them."""
    try:
        add_type_groups(app, _profile_in(args))
    except (ApiError, httpx.TransportError, profiles.NotConfigured):
        if must:
            raise
