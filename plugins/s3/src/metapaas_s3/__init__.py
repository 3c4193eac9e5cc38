"""The ``s3`` type: S3-compatible object storage whose objects live on the node's disk.

The declaration here is engine-neutral: buckets, access keys, endpoints and
credentials. What a node runs comes from the engine unit its catalog version
names (:mod:`metapaas_s3.engines`), plus the parts every engine shares: the
bucket applier (:mod:`metapaas_s3.node.buckets`) and a health check that
reads an object through S3 (over HTTPS, as every node program).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from metapaas import sdk
from metapaas_s3 import rules
from metapaas_s3.engines import engine_for
from metapaas_s3.node import AUTHORITY, CLIENT_ARGS, ENDPOINT
from metapaas_s3.spec import (
    PROBE_BUCKET,
    PROBE_KEY,
    REGION,
    AccessKeySpec,
    BucketSpec,
    S3Spec,
)

ROLE = "main"
INIT_WAIT_SECONDS = 100.0
"""The applier waits this long for a first-started engine (about 3 s is usual)."""


def declared_buckets(instance: sdk.InstanceView[S3Spec]) -> list[dict[str, Any]]:
    """Every bucket the instance declares (its ``buckets`` resources, ``bucket_name``'s
    among them), with its versioning, sorted by name."""
    buckets = sorted(instance.children(BUCKETS), key=lambda bucket: bucket.name)
    return [{"name": bucket.name, "versioning": bucket.versioning} for bucket in buckets]


def _shared_data_plane() -> sdk.DataPlane:
    """What every engine's node runs besides the engine: buckets and the health probe."""
    applier = (sys.executable, "-m", "metapaas_s3.node.buckets", "buckets.json", *CLIENT_ARGS)
    probe = sdk.HealthCheck(
        "http",
        target=f"{ENDPOINT}/{PROBE_BUCKET}/{PROBE_KEY}",
        authority=AUTHORITY,
        interval=2.0,
        timeout=2.0,
    )
    return sdk.DataPlane(
        templates=(
            sdk.Template.from_package(__name__, "buckets.json.j2", "buckets.json", reload=applier),
        ),
        health=(probe,),
        commands=(
            sdk.Command(
                "init",
                (*applier, "--wait", f"{INIT_WAIT_SECONDS:g}"),
                timeout=INIT_WAIT_SECONDS + 20,
            ),
        ),
    )


BUCKETS = sdk.ChildResource("buckets", BucketSpec, title="Buckets")


class S3(sdk.PaasType[S3Spec]):
    slug = "s3"
    title = "S3 object storage"
    description = (
        "An S3-compatible object store on one node, objects kept on its disk; buckets and "
        "bucket-scoped access keys are managed through the API."
    )
    versions = (sdk.Version("0.0.1", engine={"server": "seaweedfs"}, default=True),)
    spec = S3Spec
    resources = (
        BUCKETS,
        sdk.ChildResource("access_keys", AccessKeySpec, title="Access keys scoped to buckets"),
    )

    def initial_resources(
        self, instance: sdk.InstanceView[S3Spec]
    ) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        """``bucket_name`` is a bucket resource like any other (versioning off)."""
        bucket = instance.spec.bucket_name
        return {"buckets": [{"name": bucket}]} if bucket else {}

    def validate(self, instance: sdk.InstanceView[S3Spec]) -> None:
        rules.check(instance)

    def node_plan(self, instance: sdk.InstanceView[S3Spec]) -> Sequence[sdk.NodeGroup]:
        return (sdk.NodeGroup(ROLE, ports=engine_for(instance.version).ports),)

    def node_metadata(self, instance: sdk.InstanceView[S3Spec]) -> Mapping[str, Any]:
        return {
            "buckets": declared_buckets(instance),
            "probe": {"bucket": PROBE_BUCKET, "key": PROBE_KEY},
            **engine_for(instance.version).node_metadata(instance),
        }

    def endpoints(
        self, instance: sdk.InstanceView[S3Spec], nodes: Sequence[sdk.NodeView]
    ) -> Mapping[str, str]:
        main = [node for node in nodes if node.role == ROLE]
        # HTTPS alone: the node's certificate verifies with the ``ca_certificate`` of the
        # credentials (the control plane's CA, also at /v1/ca.pem).
        return {"s3": f"https://{main[0].address}:{main[0].ports['s3']}"} if main else {}

    def credentials(
        self, instance: sdk.InstanceView[S3Spec], nodes: Sequence[sdk.NodeView]
    ) -> Mapping[str, Any]:
        spec = instance.spec
        return {
            "endpoint_url": self.endpoints(instance, nodes).get("s3", ""),
            "region": REGION,
            "addressing_style": "path",
            "access_key_id": spec.admin_access_key_id,
            "secret_access_key": spec.admin_secret_access_key,
        }

    def data_plane(self, role: str, version: sdk.Version) -> sdk.DataPlane:
        engine = engine_for(version).data_plane(role, version)
        shared = _shared_data_plane()
        return sdk.DataPlane(
            # The engine's files first: a rotated admin key must reach the engine
            # before the applier signs with it.
            templates=(*engine.templates, *shared.templates),
            services=engine.services,
            health=(*engine.health, *shared.health),
            commands=(*engine.commands, *shared.commands),
            required_binaries=engine.required_binaries,
            tls_reload=engine.tls_reload,
        )
