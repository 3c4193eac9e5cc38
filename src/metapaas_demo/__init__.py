"""The bundled ``demo`` type: a tiny web service whose answers come from metadata.

It is discovered through the same entry point as any installed plugin and
uses nothing but :mod:`metapaas.sdk`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from metapaas import sdk

SERVER = Path(__file__).with_name("server.py")
"""The node's web service; it needs nothing but the standard library."""


class DemoSpec(BaseModel):
    message: str = Field(default="hello from metapaas", max_length=200)
    replicas: int = Field(default=1, ge=1, le=3, description="Nodes serving the message.")


class PageSpec(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="Served at /<name>.")
    content: str = Field(max_length=10_000)


class Demo(sdk.PaasType[DemoSpec]):
    slug = "demo"
    title = "Demo web service"
    description = "Serves a message and pages rendered from the instance's metadata."
    versions = (sdk.Version("1.0", default=True),)
    spec = DemoSpec
    resources = (sdk.ChildResource("pages", PageSpec, title="Pages served by the instance"),)

    def node_plan(self, instance: sdk.InstanceView[DemoSpec]) -> Sequence[sdk.NodeGroup]:
        ports = (sdk.Port("http", 80), sdk.Port("https", 443, tls=True))
        return (sdk.NodeGroup("web", count=instance.spec.replicas, ports=ports),)

    def data_plane(self, role: str, version: sdk.Version) -> sdk.DataPlane:
        # The server loads a renewed certificate by itself (it checks the file per
        # connection): no ``tls_reload``.
        port = "{{ node.ports.http }}"
        return sdk.DataPlane(
            templates=(sdk.Template.from_package(__name__, "site.json.j2", "site.json"),),
            services=(
                sdk.Service(
                    "web",
                    # The file, not ``-m metapaas_demo.server``: the package would load
                    # this declaration (pydantic, the SDK), half of the service's start.
                    argv=(
                        sys.executable,
                        str(SERVER),
                        "--host",
                        "{{ node.address }}",
                        "--port",
                        port,
                        "--config",
                        "{{ node.dir }}/site.json",
                        "--https-port",
                        "{{ node.ports.https }}",
                        "--certificate",
                        "{{ node.tls.certificate }}",
                        "--key",
                        "{{ node.tls.key }}",
                    ),
                ),
            ),
            health=(
                sdk.HealthCheck(
                    "http", target=f"http://{{{{ node.address }}}}:{port}/healthz", interval=1.0
                ),
            ),
        )
