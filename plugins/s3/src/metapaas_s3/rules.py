"""Rules across an instance's resources, judged before the API commits a change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from metapaas import sdk
from metapaas_s3.spec import PROBE_BUCKET, S3Spec


def bucket_names(instance: sdk.InstanceView) -> list[str]:
    """Every bucket the instance declares: ``bucket_name`` first, then the children."""
    spec = instance.spec
    assert isinstance(spec, S3Spec)
    initial = [spec.bucket_name] if spec.bucket_name else []
    return initial + [str(bucket["name"]) for bucket in instance.resources.get("buckets", ())]


def check(instance: sdk.InstanceView) -> None:
    """Raise ``sdk.Invalid`` for the first rule the proposed state breaks."""
    names = bucket_names(instance)
    _check_buckets(names)
    spec = instance.spec
    assert isinstance(spec, S3Spec)
    keys = instance.resources.get("access_keys", ())
    _check_key_ids(keys, spec.admin_access_key_id)
    _check_key_buckets(keys, set(names))


def _check_buckets(names: Sequence[str]) -> None:
    if PROBE_BUCKET in names:
        raise sdk.Invalid(
            "name", "reserved", f"bucket {PROBE_BUCKET!r} is reserved for health checks"
        )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise sdk.Invalid("name", "unique", f"bucket {name!r} already exists")
        seen.add(name)


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
