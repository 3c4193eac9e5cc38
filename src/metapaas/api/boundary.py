"""What every request must be before its route reads it, and the document that says so.

Two rules hold for every route, so they are checked once, here (:func:`refuse_nul` is
every route's first dependency, :func:`typed_body` runs once the caller's token is
checked: the API's request context, the agent router), and declared once, in
``/openapi.json``, where generated clients validate what the server validates:

- **No NUL character** anywhere: PostgreSQL cannot store one in text or JSON (it was a
  500 there, while SQLite kept it), and no name, id or setting has a use for one. Every
  string the document describes without a pattern of its own gets one that excludes it.
- **JSON types as the document states them**: a body is validated as JSON against its
  model in pydantic's strict mode, so ``0`` is no boolean, ``"5"`` and ``false`` are no
  integers and ``5`` is no string, as JSON Schema says (FastAPI's own validation would
  coerce them). Strings in JSON that stand for other values (a date, an enum member) are
  read as JSON Schema reads them, and so is ``3.0``: an integer.

The document also says what pydantic enforces but does not write down: the keys of a
mapping whose keys have a pattern (pydantic declares ``patternProperties`` and refuses
any other key) are those keys only.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.routing import compile_path

from metapaas.errors import FieldError, Invalid

NUL_FREE = "^[^\\u0000]*$"
"""The pattern of a string without a NUL character, as JSON Schema (ECMA 262) writes it."""
NO_NUL_MESSAGE = "must not contain a NUL character"
_CLOSED_STRING = frozenset({"pattern", "format", "enum", "const"})
_VALUE_SCHEMAS = ("items", "additionalProperties")
_SHAPED = frozenset({"type", "$ref", "anyOf", "oneOf", "allOf", "not", "enum", "const"})
"""A schema with none of these keys admits any JSON value."""
NUL_FREE_VALUE = "NulFreeValue"
NUL_FREE_VALUE_REF = f"#/components/schemas/{NUL_FREE_VALUE}"
_NUL_FREE_VALUE_SCHEMA = {
    "description": "Any JSON value with no NUL character in a string or a key.",
    "anyOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "number"},
        {"type": "string", "pattern": NUL_FREE},
        {"type": "array", "items": {"$ref": NUL_FREE_VALUE_REF}},
        {
            "type": "object",
            "propertyNames": {"pattern": NUL_FREE},
            "additionalProperties": {"$ref": NUL_FREE_VALUE_REF},
        },
    ],
}
"""A string schema with one of these admits no NUL already (a format names none that does)."""
# In JSON text a NUL can only be the escape ``\u0000``; it is one when its backslash is not
# itself escaped, that is when an even number of backslashes precedes it.
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


async def refuse_nul(request: Request) -> None:
    """Refuse a NUL anywhere in the request, as a 422 naming where (every route's first
    dependency)."""
    _refuse_nul(request, await request.body())


async def typed_body(request: Request) -> None:
    """Refuse a body whose JSON types are not the document's, with the 422 FastAPI's own
    validation gives (each field and rule). A route's dependency after the caller's token
    is checked, so a request without one is a 401 whatever its body."""
    body = await request.body()
    route = request.scope.get("route")
    field = route.body_field if isinstance(route, APIRoute) else None
    if body and field is not None and field.field_info.annotation is not None:
        _validate_strictly(_strict_adapter(cast(Hashable, field.field_info.annotation)), body)


def _refuse_nul(request: Request, body: bytes) -> None:
    with_nul = {name for name, value in request.query_params.multi_items() if "\x00" in value}
    # A parameter the route does not read is ignored, as FastAPI ignores it.
    where = sorted(with_nul & _query_parameters(request)) if with_nul else []
    if "\x00" in request.url.path:
        where.append("path")
    if _ESCAPED_NUL.search(body):
        where.append("body")
    if where:
        raise Invalid(
            f"{', '.join(where)}: {NO_NUL_MESSAGE}",
            errors=tuple(FieldError(field, "no_nul", NO_NUL_MESSAGE) for field in where),
        )


def _validate_strictly(adapter: TypeAdapter[Any], body: bytes) -> None:
    try:
        adapter.validate_json(body, strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(_integral_float(error) for error in errors):
            # JSON Schema's integers include 3.0, which pydantic's strict mode refuses.
            _validate_strictly(adapter, _integral_floats_as_integers(body))
            return
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in errors], body=body
        ) from exc


def _integral_float(error: Mapping[str, Any]) -> bool:
    value = error.get("input")
    return error["type"] == "int_type" and isinstance(value, float) and value.is_integer()


def _integral_floats_as_integers(body: bytes) -> bytes:
    def number(text: str) -> int | float:
        value = float(text)
        return int(value) if value.is_integer() else value

    return json.dumps(json.loads(body, parse_float=number)).encode()


@functools.cache
def _strict_adapter(model: Hashable) -> TypeAdapter[Any]:
    """A route's body model as a validator of JSON text, made once per model."""
    adapter: TypeAdapter[Any] = TypeAdapter(cast(Any, model))
    return adapter


def _query_parameters(request: Request) -> set[str]:
    """The query parameters the document declares for the request's operation."""
    return {
        parameter["name"]
        for item in path_items(request)
        for parameter in item.get(request.method.lower(), {}).get("parameters", [])
        if parameter["in"] == "query"
    }


def path_items(request: Request) -> Iterator[dict[str, Any]]:
    """The document's path items whose template matches the request's path."""
    for template, item in request.app.openapi()["paths"].items():
        if _path_regex(template).match(request.url.path):
            yield item


@functools.cache
def _path_regex(template: str) -> re.Pattern[str]:
    regex, _, _ = compile_path(template)
    return regex


def declare(app: FastAPI, build: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Wrap ``app.openapi`` so the document it builds (and caches) states the NUL rule on
    every string of a parameter or schema that has no pattern of its own."""

    declared: list[dict[str, Any]] = []  # the document built, once its strings are

    def openapi() -> dict[str, Any]:
        document = build()
        if not declared or declared[0] is not document:
            for path_item in document.get("paths", {}).values():
                for operation in path_item.values():
                    for parameter in operation.get("parameters", []):
                        _nul_free(parameter.get("schema", {}))
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for schema in schemas.values():
                _nul_free(schema)
            schemas[NUL_FREE_VALUE] = _NUL_FREE_VALUE_SCHEMA
            declared[:] = [document]
        return document

    return openapi


def _nul_free(schema: Any) -> None:
    """Give every string schema within ``schema`` the NUL rule, unless it already has a
    pattern, a format or a fixed set of values (none of which admits a NUL); every
    object's keys the same; and every value the schema leaves open (any JSON: an extra
    property, an item or a field of no given type) the rule at every depth."""
    if isinstance(schema, list):
        for item in schema:
            _nul_free(item)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and not _CLOSED_STRING & set(schema):
        schema["pattern"] = NUL_FREE
    if schema.get("type") == "object":
        if "patternProperties" in schema:
            schema.setdefault("additionalProperties", False)
        if schema.get("additionalProperties", True) is True:
            schema["additionalProperties"] = {}
        schema.setdefault("propertyNames", {"pattern": NUL_FREE})
    values = [schema[key] for key in _VALUE_SCHEMAS if isinstance(schema.get(key), dict)]
    values += list(schema.get("properties", {}).values())
    for value in values:
        if not _SHAPED & set(value):  # any JSON: a field or an extra of no given type
            value["$ref"] = NUL_FREE_VALUE_REF
    for value in schema.values():
        _nul_free(value)
