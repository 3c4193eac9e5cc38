"""Rules across an instance's resources, judged before the API commits a change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from metapaas import sdk
from metapaas_s3.spec import PROBE_BUCKET, S3Spec


def check(instance: sdk.InstanceView[S3Spec]) -> None:
    """Raise ``sdk.Invalid`` for the first rule the proposed state breaks."""
    spec = instance.spec
    resources = [str(bucket["name"]) for bucket in instance.resources.get("buckets", ())]
    _check_bucket_name(spec.bucket_name, resources)
    _check_reserved(resources)
    keys = instance.resources.get("access_keys", ())
    _check_key_ids(keys, spec.admin_access_key_id)
    _check_key_buckets(keys, set(resources))


def _check_bucket_name(bucket_name: str | None, resources: Sequence[str]) -> None:
    """The bucket the instance is created with is one of its bucket resources, so it cannot
    be deleted while the instance names it."""
    if bucket_name == PROBE_BUCKET:
        raise sdk.Invalid(
            "bucket_name", "reserved", f"bucket {PROBE_BUCKET!r} is reserved for health checks"
        )
    if bucket_name and bucket_name not in resources:
        raise sdk.Invalid(
            "bucket_name",
            "not_found",
            f"bucket {bucket_name!r} is the instance's bucket_name, so it must be one of its "
            "buckets and cannot be deleted",
        )


def _check_reserved(names: Sequence[str]) -> None:
    if PROBE_BUCKET in names:
        raise sdk.Invalid(
            "name", "reserved", f"bucket {PROBE_BUCKET!r} is reserved for health checks"
        )


def _check_key_ids(keys: Sequence[Mapping[str, Any]], admin_id: str | None) -> None:
    taken = {admin_id}
    for key in keys:
        if key["access_key_id"] in taken:
            raise sdk.Invalid(
                "access_key_id", "unique", f"access key id {key['access_key_id']!r} is taken"
            )
        taken.add(key["access_key_id"])


def _check_key_buckets(keys: Sequence[Mapping[str, Any]], buckets: set[str]) -> None:
    """A key names only buckets that exist, so a bucket named by a key cannot be deleted."""
    for key in keys:
        missing = sorted(set(key["buckets"]) - buckets)
        if missing:
            raise sdk.Invalid(
                "buckets",
                "not_found",
                f"access key {key['name']!r} names bucket {missing[0]!r}, which does not exist "
                "(create the bucket first; to delete a bucket, first change or delete its keys)",
            )
