"""The desired state of an instance or a child resource, from what is stored and what a
request gives: merged, validated, its secrets split off and sealed, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from metapaas.api.problems import invalid_from
from metapaas.db import Sealer
from metapaas.errors import Invalid
from metapaas.plugins import ModelSet


@dataclass(frozen=True)
class Desired:
    """A spec as it is stored: the plain fields, and the secrets apart (``sealed`` for the
    row; ``secrets`` to compare with the stored ones and to show once)."""

    spec: dict[str, Any]
    secrets: dict[str, str]
    sealed: str

    def same_as(self, spec: Mapping[str, Any], secrets: Mapping[str, str]) -> bool:
        return self.spec == spec and self.secrets == secrets


def desired(
    models_: ModelSet,
    sealer: Sealer,
    given: Mapping[str, Any],
    current: Mapping[str, Any] | None = None,
) -> Desired:
    """``given`` over ``current`` (a stored spec with its secrets unsealed), with a value
    made for every generated secret that has none, validated by the spec's model (a
    generated value is checked like a given one), and split into fields and secrets."""
    merged = {**(current or {}), **given}
    made = {f: make() for f, make in models_.generators.items() if merged.get(f) is None}
    try:
        valid = models_.spec.model_validate({**merged, **made}).model_dump(mode="json")
    except ValidationError as exc:
        raise invalid_from(exc) from exc
    spec = {k: v for k, v in valid.items() if k not in models_.secrets}
    secrets = {k: str(v) for k, v in valid.items() if k in models_.secrets and v is not None}
    return Desired(spec, secrets, sealer.seal(secrets))


def refuse_immutable(
    models_: ModelSet, given: Mapping[str, Any], current: Mapping[str, Any]
) -> None:
    for field in sorted(models_.immutable & set(given)):
        if given[field] != current.get(field):
            raise Invalid.field(field, "immutable", "cannot be changed after create")
