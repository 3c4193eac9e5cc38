"""Request and response models derived from a type's declaration.

An instance body is flat: the common fields (``name``, ``version``,
``description``, ``project_id``) beside the type's own spec fields. These
models are what the API validates with and what the OpenAPI document shows.

Node-only secrets are fields of none of them, so no request can set one and
no response can show one. The instance create model therefore copies the
spec's fields (with their constraints) instead of inheriting the spec; the
API validates the complete values through the spec itself, which keeps its
own validators.

A generated secret is typed by the spec as always present (``password: str =
sdk.secret(generate=...)``): the API makes it before the spec validates, so
hooks never see it None; in the create models it is optional.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from metapaas import sdk
from metapaas.sdk import introspect

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$"


class _Forbid(BaseModel):
    """Last base of every request model: its config wins, so unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class InstanceCommon(BaseModel):
    name: str = Field(
        pattern=NAME_PATTERN,
        description="Unique among live instances of the type in the project.",
    )
    description: str = Field(default="", max_length=1000)
    project_id: str | None = Field(
        default=None, description="Project to create in; defaults to the token's project."
    )


class RestoreRequest(BaseModel):
    """Make the new instance from another's backups: one backup, a point in time, or the
    latest point they reach."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(
        alias="from",
        # Names and ids are letters, digits and '-': so a NUL is no part of one either.
        pattern=r"^[A-Za-z0-9-]{1,63}/[A-Za-z0-9-]{1,63}$",
        description="`<project>/<instance>` (names or ids): the instance whose backups are"
        " restored; a deleted one by its id.",
    )
    backup: str | None = Field(default=None, max_length=36, description="A backup's id.")
    point_in_time: datetime | Literal["latest"] | None = Field(
        default=None, description="An RFC 3339 time within the source's recovery window."
    )


class InstanceOutBase(BaseModel):
    id: str
    type: str
    name: str
    project_id: str
    version: str
    description: str
    status: str
    status_reason: str
    generation: int
    observed_generation: int
    endpoints: dict[str, str] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


class ResourceOutBase(BaseModel):
    id: str
    instance_id: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ModelSet:
    """The models of one collection, and the field markers read from its spec."""

    spec: type[BaseModel]
    create: type[BaseModel]
    update: type[BaseModel]
    out: type[BaseModel]
    immutable: frozenset[str]
    secrets: frozenset[str]
    node_only: frozenset[str]
    """Secrets for the nodes alone: in ``secrets`` and in no request or response model."""
    generators: Mapping[str, Callable[[], str]]


@dataclass(frozen=True)
class TypeSchemas:
    instances: ModelSet
    resources: Mapping[str, ModelSet]


def build(paas_type: sdk.PaasType) -> TypeSchemas:
    prefix = _camel(paas_type.slug)
    return TypeSchemas(
        instances=_instance_models(paas_type, prefix),
        resources={
            child.collection: _resource_models(child, prefix + _camel(child.collection))
            for child in paas_type.resources
        },
    )


def _instance_models(paas_type: sdk.PaasType, prefix: str) -> ModelSet:
    spec = paas_type.spec
    all_names = tuple(v.name for v in paas_type.versions)
    node_only = introspect.fields_marked(spec, introspect.NODE_ONLY_KEY)
    create = _instance_create(paas_type, f"{prefix}InstanceCreate", node_only)
    update = _partial(
        f"{prefix}InstanceUpdate",
        spec,
        hidden=node_only,
        extra={
            "name": InstanceCommon.model_fields["name"],
            "description": InstanceCommon.model_fields["description"],
            "version": FieldInfo.from_field(description="Catalog version; see the type's catalog."),
        },
        annotations={"version": Literal[all_names]},
    )
    secrets = introspect.fields_marked(spec, introspect.SECRET_KEY)
    out = _out(f"{prefix}Instance", InstanceOutBase, spec, secrets)
    return ModelSet(
        spec=spec,
        create=create,
        update=update,
        out=out,
        immutable=introspect.fields_marked(spec, introspect.IMMUTABLE_KEY) | {"name"},
        secrets=secrets,
        node_only=node_only,
        generators=introspect.secret_generators(spec),
    )


def _instance_create(
    paas_type: sdk.PaasType, name: str, node_only: frozenset[str]
) -> type[BaseModel]:
    """The common fields, the spec's fields but the node-only ones (constraints kept), and
    the version, a choice among the catalog's versions that are not deprecated."""
    choosable = tuple(v.name for v in paas_type.versions if not v.deprecated)
    default = next((v.name for v in paas_type.versions if v.default), choosable[0])
    generated = introspect.secret_generators(paas_type.spec)
    fields: dict[str, Any] = {
        field: (_optional(info.annotation) if field in generated else info.annotation, info)
        for field, info in paas_type.spec.model_fields.items()
        if field not in node_only
    }
    fields["version"] = (
        Literal[choosable],
        Field(default=default, description="Catalog version; see the type's catalog."),
    )
    if paas_type.backups is not None:
        fields["restore"] = (
            RestoreRequest | None,
            Field(default=None, description="Restore another instance's data into this one."),
        )
    return create_model(
        name,
        __base__=(InstanceCommon, _Forbid),
        __doc__=f"Create a {paas_type.title} instance.",
        **fields,
    )


def _resource_models(child: sdk.ChildResource, prefix: str) -> ModelSet:
    spec = child.spec
    generated: dict[str, Any] = {
        field: (_optional(spec.model_fields[field].annotation), spec.model_fields[field])
        for field in introspect.secret_generators(spec)
    }
    create = create_model(f"{prefix}Create", __base__=(spec, _Forbid), **generated)
    secrets = introspect.fields_marked(spec, introspect.SECRET_KEY)
    return ModelSet(
        spec=spec,
        create=create,
        update=_partial(f"{prefix}Update", spec),
        out=_out(prefix, ResourceOutBase, spec, secrets),
        immutable=introspect.fields_marked(spec, introspect.IMMUTABLE_KEY) | {"name"},
        secrets=secrets,
        node_only=frozenset(),  # discovery refuses them on child resources
        generators=introspect.secret_generators(spec),
    )


def _partial(
    name: str,
    spec: type[BaseModel],
    *,
    hidden: frozenset[str] = frozenset(),
    extra: Mapping[str, FieldInfo] | None = None,
    annotations: Mapping[str, Any] | None = None,
) -> type[BaseModel]:
    """Every field but ``hidden``, and ``extra``, with its type and rules, and none
    required: a field left out keeps its value, and one that is sent (null included, where
    the field cannot be null) is checked as the document states it."""
    given = {field: info for field, info in spec.model_fields.items() if field not in hidden}
    given.update(extra or {})
    fields: dict[str, Any] = {
        field: _left_out_by_default((annotations or {}).get(field, info.annotation), info)
        for field, info in given.items()
    }
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


def _left_out_by_default(annotation: Any, info: FieldInfo) -> tuple[Any, Any]:
    """The field of ``info`` with its type and rules but no default of its own: unset when
    left out (``exclude_unset``), and shown with no default (which would be the current
    value, not the spec's)."""
    extra = info.json_schema_extra

    def document(schema: dict[str, Any]) -> None:
        if isinstance(extra, dict):
            schema.update(extra)
        schema.pop("default", None)

    typed = Annotated[(annotation, *info.metadata)] if info.metadata else annotation
    described = Field(
        default=None, title=info.title, description=info.description, json_schema_extra=document
    )
    return typed, described


def _out(
    name: str, base: type[BaseModel], spec: type[BaseModel], secrets: frozenset[str]
) -> type[BaseModel]:
    fields: dict[str, Any] = {
        field: (_optional(info.annotation), None)
        for field, info in spec.model_fields.items()
        if field not in secrets and field not in base.model_fields
    }
    return create_model(name, __base__=base, **fields)


def _optional(annotation: Any) -> Any:
    return annotation | None


def _camel(slug: str) -> str:
    return "".join(part.capitalize() for part in slug.split("_"))
