"""A type whose migration creates a table without its ``stray_`` prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from metapaas import sdk


class StraySpec(BaseModel):
    note: str = ""


class Stray(sdk.PaasType):
    slug = "stray"
    title = "Stray"
    versions = (sdk.Version("1.0"),)
    spec = StraySpec
    migrations = Path(__file__).parent / "migrations" / "versions"
