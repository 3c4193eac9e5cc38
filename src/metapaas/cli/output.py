"""How commands print: tables for people, JSON or YAML for scripts; errors in one line.

Answers go to stdout, everything else (progress, confirmations, errors) to
stderr, so ``metapaas show … -o json | jq`` reads only the answer.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any

import typer
import yaml
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console()
# Messages stay on one line whatever the terminal's width (scripts grep them).
status_console = Console(stderr=True, soft_wrap=True)


class Format(enum.StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


OutputOpt = Annotated[
    Format,
    typer.Option(
        "--output",
        "-o",
        envvar="METAPAAS_OUTPUT",
        help="table for people, json or yaml for scripts.",
    ),
]

Column = tuple[str, Callable[[Any], object]]
"""A table column: its header and how to read its cell from an item."""


class UserError(Exception):
    """A request the user can fix; printed as ``error: <message>`` with exit code 1."""


def print_error(message: object) -> None:
    """``error: <message>`` on one line of stderr; the message is never read as markup."""
    status_console.print(Text.assemble(("error:", "red"), f" {message}"), highlight=False)


def plain(value: object) -> Any:
    """What a model, or a list of them, is as JSON data."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def text(value: object) -> str:
    """A value as a person reads it: times to the second, structures as JSON."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dict | list):
        return json.dumps(value) if value else ""
    return str(value)


def cell(value: object) -> Text:
    """A table cell: the text as it is (a pattern's ``[a-z]`` is not Rich markup)."""
    return Text(text(value))


def _dump(data: Any, output: Format) -> None:
    if output is Format.json:
        print(json.dumps(data, indent=2))
    else:
        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")


def show_list(items: Sequence[Any], output: Format, columns: Sequence[Column]) -> None:
    """A list: one row per item, or a JSON / YAML list of them."""
    if output is not Format.table:
        _dump(plain(list(items)), output)
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for header, _ in columns:
        table.add_column(header, overflow="fold")
    for item in items:
        table.add_row(*(cell(read(item)) for _, read in columns))
    console.print(table, highlight=False)


def show_one(item: Any, output: Format, leave_out: Iterable[str] = ()) -> None:
    """One object: a field per row, or JSON / YAML of it."""
    data = plain(item)
    if output is not Format.table:
        _dump(data, output)
        return
    left_out = set(leave_out)
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in data.items():
        if key not in left_out:
            table.add_row(key, cell(value))
    console.print(table, highlight=False)
