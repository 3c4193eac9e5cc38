"""The S3 servers an instance can run, one small unit each, chosen per catalog version.

A version's ``engine["server"]`` names its unit. A unit says which ports a
node needs, what it adds to the node's metadata and what the node runs; the
parts every engine shares (the bucket applier, the health probe) are added by
:mod:`metapaas_s3`. Adding MinIO or RustFS is adding one module here and one
entry to ``ENGINES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from metapaas import sdk
from metapaas_s3.engines.seaweedfs import SeaweedFS
from metapaas_s3.spec import S3Spec


class Engine(Protocol):
    """One S3 server's part of a node."""

    @property
    def ports(self) -> tuple[sdk.Port, ...]:
        """Ports every node allocates; ``s3`` (the S3 API) is one of them."""
        ...

    def node_metadata(self, instance: sdk.InstanceView[S3Spec]) -> Mapping[str, Any]:
        """Engine-specific values for the node's templates (e.g. its identity file)."""
        ...

    def data_plane(self, role: str, version: sdk.Version) -> sdk.DataPlane:
        """The engine's config templates, its service and the binaries it needs.

        It must grant anonymous read of the health probe object
        (``spec.PROBE_BUCKET``/``spec.PROBE_KEY``) and nothing else.
        """
        ...


ENGINES: Mapping[str, Engine] = {"seaweedfs": SeaweedFS()}


def engine_for(version: sdk.Version) -> Engine:
    """The unit named by ``version.engine["server"]``."""
    name = version.engine.get("server")
    engine = ENGINES.get(str(name))
    if engine is None:
        raise sdk.PermanentError(
            f"version {version.name!r} asks for S3 server {name!r}; "
            f"this plugin implements {', '.join(sorted(ENGINES))}"
        )
    return engine
