"""Declarations that each break one rule of the plugin contract."""

from __future__ import annotations

from pydantic import BaseModel

from metapaas import sdk


class _Spec(BaseModel):
    size: int = 1


class _Named(BaseModel):
    name: str


class BadSlug(sdk.PaasType):
    slug = "Bad-Slug"
    title = "Bad slug"
    versions = (sdk.Version("1.0"),)
    spec = _Spec


class DuplicateWidgets(sdk.PaasType):
    slug = "widgets"
    title = "Widgets again"
    versions = (sdk.Version("1.0"),)
    spec = _Spec


class NotAType:
    slug = "notatype"


class _ClashSpec(BaseModel):
    version: str = "mine"


class SpecClash(sdk.PaasType):
    slug = "clash"
    title = "Spec clash"
    versions = (sdk.Version("1.0"),)
    spec = _ClashSpec


class _Unnamed(BaseModel):
    size: int = 1


class ChildWithoutName(sdk.PaasType):
    slug = "unnamed"
    title = "Child without name"
    versions = (sdk.Version("1.0"),)
    spec = _Spec
    resources = (sdk.ChildResource("things", _Unnamed),)


class ReservedCollection(sdk.PaasType):
    slug = "reserved"
    title = "Reserved collection"
    versions = (sdk.Version("1.0"),)
    spec = _Spec
    resources = (sdk.ChildResource("operations", _Named),)
