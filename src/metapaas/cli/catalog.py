"""``metapaas types``: the installed PaaS types, and each one's fields and rules."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from metapaas.cli.output import (
    Column,
    Format,
    OutputOpt,
    cell,
    console,
    show_list,
    show_one,
    text,
)
from metapaas.cli.profiles import connect
from metapaas.cli.specs import resolve

app = typer.Typer(help="The installed PaaS types.", no_args_is_help=False)

COLUMNS: list[Column] = [
    ("SLUG", lambda t: t.slug),
    ("STATUS", lambda t: t.status),
    ("TITLE", lambda t: t.title),
    (
        "VERSIONS",
        lambda t: ", ".join(v.name + (" (default)" if v.default else "") for v in t.versions),
    ),
    ("COLLECTIONS", lambda t: ", ".join(t.collections)),
    ("ERROR", lambda t: t.error),
]
# JSON Schema keywords that constrain a value, as a person reads them.
RULES = {
    "minimum": ">= {}",
    "maximum": "<= {}",
    "exclusiveMinimum": "> {}",
    "exclusiveMaximum": "< {}",
    "minLength": "length >= {}",
    "maxLength": "length <= {}",
    "minItems": "items >= {}",
    "maxItems": "items <= {}",
    "pattern": "matches {}",
    "format": "format {}",
    "enum": "one of {}",
    "const": "= {}",
}


@app.callback(invoke_without_command=True)
def types(ctx: typer.Context, output: OutputOpt = Format.table) -> None:
    """List the installed types, working or in ERROR.

    Example: metapaas types -o json
    """
    if ctx.invoked_subcommand is not None:
        return
    with connect() as api:
        show_list(api.types.list().items, output, COLUMNS)


@app.command("show")
def show_type(
    slug: Annotated[str, typer.Argument(help="The type, e.g. demo.")],
    output: OutputOpt = Format.table,
) -> None:
    """A type's catalog and the fields of its instances and child resources: type, default, rules.

    Example: metapaas types show demo
    """
    with connect() as api:
        detail = api.types.get(slug)
    if output is not Format.table:
        show_one(detail, output)
        return
    show_one(detail, output, leave_out=("instance_schema", "resource_schemas"))
    _fields_table(f"{slug} instance fields", detail.instance_schema)
    for collection, schema in detail.resource_schemas.items():
        _fields_table(f"{slug} {collection} fields", schema)


def _fields_table(title: str, schema: dict[str, Any]) -> None:
    table = Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False)
    for header in ("FIELD", "TYPE", "DEFAULT", "RULES", "DESCRIPTION"):
        table.add_column(header, overflow="fold")
    required = set(schema.get("required", []))
    for name, field in schema.get("properties", {}).items():
        field = resolve(schema, field)
        default = "(required)" if name in required else json.dumps(field.get("default"))
        row = (name, _kind(schema, field), default, _rules(field), field.get("description", ""))
        table.add_row(*map(cell, row))
    console.print()
    console.print(table, highlight=False)


def _kind(root: dict[str, Any], field: dict[str, Any]) -> str:
    if "anyOf" in field:
        return " | ".join(_kind(root, resolve(root, option)) for option in field["anyOf"])
    kind = field.get("type", "any")
    if kind == "array" and "items" in field:
        return f"array of {_kind(root, resolve(root, field['items']))}"
    return str(kind)


def _rules(field: dict[str, Any]) -> str:
    options = [field, *field.get("anyOf", [])]
    return ", ".join(
        rule.format(text(option[key]))
        for option in options
        for key, rule in RULES.items()
        if key in option
    )
