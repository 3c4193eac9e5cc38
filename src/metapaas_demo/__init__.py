"""The bundled ``demo`` type: a tiny web service whose answers come from metadata.

It is discovered through the same entry point as any installed plugin and
uses nothing but :mod:`metapaas.sdk`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from metapaas import sdk


class DemoSpec(BaseModel):
    message: str = Field(default="hello from metapaas", max_length=200)
    replicas: int = Field(default=1, ge=1, le=3, description="Nodes serving the message.")


class PageSpec(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="Served at /<name>.")
    content: str = Field(max_length=10_000)


class Demo(sdk.PaasType):
    slug = "demo"
    title = "Demo web service"
    description = "Serves a message and pages rendered from the instance's metadata."
    versions = (sdk.Version("1.0", default=True),)
    spec = DemoSpec
    resources = (sdk.ChildResource("pages", PageSpec, title="Pages served by the instance"),)
