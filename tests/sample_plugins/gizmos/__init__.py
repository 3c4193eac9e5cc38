"""A second well-formed type with its own stream, to show streams stay apart."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from metapaas import sdk


class GizmoSpec(BaseModel):
    label: str = "g"


class Gizmos(sdk.PaasType):
    slug = "gizmos"
    title = "Gizmos"
    versions = (sdk.Version("1.0"),)
    spec = GizmoSpec
    migrations = Path(__file__).parent / "migrations" / "versions"
