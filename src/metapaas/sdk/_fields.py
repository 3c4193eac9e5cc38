"""Field markers a plugin puts on its pydantic models.

They live in the JSON Schema (``x-immutable``, ``x-secret``, ``x-node-only``) so
that the runtime, the OpenAPI document and clients all read the same declaration.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

IMMUTABLE_KEY = "x-immutable"
SECRET_KEY = "x-secret"  # noqa: S105 (a schema key, not a secret)
NODE_ONLY_KEY = "x-node-only"


def immutable(default: Any = ..., **kwargs: Any) -> Any:
    """A field that can be set at create and never changed by an update."""
    return Field(default, json_schema_extra={IMMUTABLE_KEY: True}, **kwargs)


def secret(
    default: Any = None,
    *,
    generate: Callable[[], str] | None = None,
    immutable: bool = False,
    node_only: bool = False,
    **kwargs: Any,
) -> Any:
    """A field that is stored encrypted and never shown after the create response.

    With ``generate``, a value is made at create time when the caller gives none;
    with ``immutable``, it cannot change after create (e.g. an encryption key).

    With ``node_only``, the value exists for the type's nodes alone (e.g. an
    engine's internal signing key): ``generate`` is required, because no caller
    can give it; it is in no request or response model, so users can neither
    set, change nor see it (not even in the create response or the
    credentials); the hooks that answer users see it as None; nodes get it in
    their metadata, also when ``node_secrets`` is False. Only the instance
    spec may declare one.
    """
    markers: dict[str, Any] = {SECRET_KEY: True}
    if immutable:
        markers[IMMUTABLE_KEY] = True
    if node_only:
        markers[NODE_ONLY_KEY] = True
    field: FieldInfo = Field(default, json_schema_extra=markers, **kwargs)
    if generate is not None:
        field.metadata.append(_Generator(generate))
    return field


def token(nbytes: int = 24) -> Callable[[], str]:
    """A generator of URL-safe random secrets, for :func:`secret`."""
    return lambda: secrets.token_urlsafe(nbytes)


class _Generator:
    def __init__(self, make: Callable[[], str]) -> None:
        self.make = make


def fields_marked(model: type[BaseModel], key: str) -> frozenset[str]:
    """Names of the model's fields whose schema carries ``key``."""
    found = set()
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and extra.get(key):
            found.add(name)
    return frozenset(found)


def secret_generators(model: type[BaseModel]) -> dict[str, Callable[[], str]]:
    """Secret fields that make their own value when none is given."""
    out = {}
    for name, info in model.model_fields.items():
        for item in info.metadata:
            if isinstance(item, _Generator):
                out[name] = item.make
    return out
