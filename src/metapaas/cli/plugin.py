"""``metapaas plugin``: tools for plugin authors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from metapaas import scaffold
from metapaas.cli.output import print_error

app = typer.Typer(help="Write and package PaaS type plugins.")
console = Console(stderr=True)


@app.command()
def new(
    slug: Annotated[str, typer.Argument(help="The type's slug, e.g. hello.")],
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Where to write the project [default: ./metapaas-<slug>]."),
    ] = None,
) -> None:
    """Create a working plugin project: package, entry point, typed spec, a child
    resource, a data-plane template and service, a migration, README and tests."""
    target = directory or Path(f"metapaas-{slug.replace('_', '-')}")
    try:
        written = scaffold.new_project(slug, target)
    except scaffold.ScaffoldError as exc:
        print_error(exc)  # one line, however long the path
        raise typer.Exit(2) from exc
    console.print(f"wrote {len(written)} files to {target}")
    console.print(f"next: cd {target} && pip install -e '.[test]' && pytest", markup=False)
