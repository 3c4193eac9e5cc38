"""Request bodies from ``--file spec.yaml`` and ``--set key=value`` options.

A value is read by the field's JSON Schema: a string field takes the text as
written (``--set message=123`` stays ``"123"``); any other field reads it as a
YAML scalar or flow collection (``replicas=2``, ``versioning=true``,
``tags=[a, b]``). A dotted key sets a nested field (``limits.memory=64mb``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="A field, key=value (repeat it); a dotted key nests."),
]
FileOpt = Annotated[
    Path | None,
    typer.Option(
        "--file", "-f", exists=True, dir_okay=False, help="Fields from a YAML or JSON file."
    ),
]


def body_from(
    settings: list[str] | None, file: Path | None, schema: dict[str, Any]
) -> dict[str, Any]:
    """The fields of ``file`` with each ``--set`` applied on top."""
    body = _read_file(file) if file else {}
    for setting in settings or ():
        key, sep, text = setting.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{setting!r} is not key=value", param_hint="--set")
        path = key.split(".")
        target = body
        for part in path[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise typer.BadParameter(f"{key!r}: {part!r} is not a mapping", param_hint="--set")
        target[path[-1]] = _value(text, _field_schema(schema, path))
    return body


def _read_file(file: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise typer.BadParameter(f"{file}: {exc}", param_hint="--file") from exc
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{file} does not hold a mapping of fields", param_hint="--file")
    return data


def _field_schema(schema: dict[str, Any], path: list[str]) -> dict[str, Any]:
    """The schema of the field at ``path`` (empty when the schema does not say)."""
    node = schema
    for part in path:
        node = resolve(schema, node).get("properties", {}).get(part, {})
    return resolve(schema, node)


def resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with the definition its ``$ref`` names (pydantic puts nested models there)."""
    ref = node.get("$ref", "")
    if ref.startswith("#/$defs/"):
        return {**root.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {}), **node}
    return node


def _types(node: dict[str, Any]) -> set[str]:
    kinds = node.get("type")
    found = set(kinds) if isinstance(kinds, list) else {kinds} if kinds else set()
    for option in node.get("anyOf", []):
        found |= _types(option)
    return found


def _value(text: str, field: dict[str, Any]) -> Any:
    if "string" in _types(field):
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # the server names the field and what it expects
