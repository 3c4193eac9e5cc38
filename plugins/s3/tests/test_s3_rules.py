"""Input rules of the s3 type, without a server: field rules and rules across resources."""

from __future__ import annotations

from typing import Any

import pytest
from metapaas_s3 import S3, declared_buckets
from metapaas_s3.spec import AccessKeySpec, BucketSpec, S3Spec
from pydantic import BaseModel, ValidationError

from metapaas import sdk
from metapaas.sdk import introspect
from metapaas.testing import instance_view

ADMIN_ID = "ADMINADMINADMINADMIN"


def view(spec: dict[str, Any], **resources: list[dict[str, Any]]) -> sdk.InstanceView:
    return instance_view(S3(), {"admin_access_key_id": ADMIN_ID, **spec}, resources=resources)


def key(name: str, buckets: list[str], key_id: str = "KEYKEYKEYKEYKEYKEY01") -> dict[str, Any]:
    return {"name": name, "access_key_id": key_id, "buckets": buckets, "access": "read-only"}


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        pytest.param(BucketSpec, {"name": "ab"}, "name", id="a bucket name of 2 characters"),
        pytest.param(BucketSpec, {"name": "a" * 64}, "name", id="a bucket name of 64 characters"),
        pytest.param(BucketSpec, {"name": "Data"}, "name", id="upper case in a bucket name"),
        pytest.param(BucketSpec, {"name": "my_data"}, "name", id="an underscore in a bucket name"),
        pytest.param(BucketSpec, {"name": "-data"}, "name", id="a bucket name starting with -"),
        pytest.param(BucketSpec, {"name": "a..b"}, "name", id="two adjacent periods"),
        pytest.param(BucketSpec, {"name": "192.168.1.1"}, "name", id="a bucket name like an IP"),
        pytest.param(BucketSpec, {"name": "xn--data"}, "name", id="the reserved prefix xn--"),
        pytest.param(BucketSpec, {"name": "data-s3alias"}, "name", id="the reserved -s3alias"),
        pytest.param(S3Spec, {"bucket_name": "A"}, "bucket_name", id="a bad initial bucket"),
        pytest.param(S3Spec, {"encryption": "aes128"}, "encryption", id="an unknown encryption"),
        pytest.param(S3Spec, {"sse_kek": "zz"}, "sse_kek", id="a KEK that is not 64 hex"),
        pytest.param(
            AccessKeySpec, {"name": "k", "buckets": []}, "buckets", id="a key naming no bucket"
        ),
        pytest.param(
            AccessKeySpec,
            {"name": "k", "buckets": ["data"], "access": "admin"},
            "access",
            id="an access level that does not exist",
        ),
        pytest.param(
            AccessKeySpec,
            {"name": "k", "buckets": ["data"], "access_key_id": "lower"},
            "access_key_id",
            id="a lower-case access key id",
        ),
    ],
)
def test_a_bad_field_is_refused_naming_it(
    model: type[BaseModel], body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    assert {str(error["loc"][0]) for error in caught.value.errors()} == {field}


@pytest.mark.parametrize("name", ["data", "my-bucket.v2", "a1b", "x" * 63])
def test_s3_bucket_names_are_accepted(name: str) -> None:
    assert BucketSpec(name=name).name == name


def test_an_access_key_gets_a_visible_generated_id_and_a_secret_once() -> None:
    first = AccessKeySpec.model_validate({"name": "k", "buckets": ["data"]})
    second = AccessKeySpec.model_validate({"name": "k", "buckets": ["data"]})
    assert len(first.access_key_id) == 20
    assert first.access_key_id.isupper()
    assert first.access_key_id != second.access_key_id
    assert introspect.fields_marked(AccessKeySpec, introspect.SECRET_KEY) == {"secret_access_key"}
    assert "access_key_id" in introspect.fields_marked(AccessKeySpec, introspect.IMMUTABLE_KEY)
    assert set(introspect.secret_generators(AccessKeySpec)) == {"secret_access_key"}


def test_the_engine_keys_are_node_only_generated_secrets() -> None:
    node_only = introspect.fields_marked(S3Spec, introspect.NODE_ONLY_KEY)
    assert node_only == {"sse_kek", "internal_signing_key"}
    assert node_only <= introspect.fields_marked(S3Spec, introspect.SECRET_KEY)
    assert set(introspect.secret_generators(S3Spec)) == introspect.fields_marked(
        S3Spec, introspect.SECRET_KEY
    )
    assert len(introspect.secret_generators(S3Spec)["sse_kek"]()) == 64


DATA = {"name": "data", "versioning": False}


@pytest.mark.parametrize(
    ("instance", "field", "rule"),
    [
        pytest.param(
            view({"bucket_name": "data"}),
            "bucket_name",
            "not_found",
            id="the bucket bucket_name names cannot be deleted",
        ),
        pytest.param(
            view(
                {"bucket_name": "metapaas-health"},
                buckets=[{"name": "metapaas-health", "versioning": False}],
            ),
            "bucket_name",
            "reserved",
            id="the health probe bucket is reserved as bucket_name",
        ),
        pytest.param(
            view({}, buckets=[{"name": "metapaas-health", "versioning": False}]),
            "name",
            "reserved",
            id="the health probe bucket is reserved as a bucket resource",
        ),
        pytest.param(
            view({"bucket_name": "data"}, buckets=[DATA], access_keys=[key("k", ["data", "logs"])]),
            "buckets",
            "not_found",
            id="a key naming a missing bucket (or one being deleted) is refused",
        ),
        pytest.param(
            view(
                {"bucket_name": "data"},
                buckets=[DATA],
                access_keys=[key("a", ["data"]), key("b", ["data"])],
            ),
            "access_key_id",
            "unique",
            id="two keys with one id are refused",
        ),
        pytest.param(
            view(
                {"bucket_name": "data"}, buckets=[DATA], access_keys=[key("a", ["data"], ADMIN_ID)]
            ),
            "access_key_id",
            "unique",
            id="a key reusing the admin id is refused",
        ),
    ],
)
def test_rules_across_resources(instance: sdk.InstanceView, field: str, rule: str) -> None:
    with pytest.raises(sdk.Invalid) as caught:
        S3().validate(instance)
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_a_consistent_instance_is_accepted() -> None:
    instance = view(
        {"bucket_name": "data"},
        buckets=[{"name": "logs", "versioning": True}, DATA],
        access_keys=[key("a", ["data", "logs"])],
    )
    S3().validate(instance)
    assert declared_buckets(instance) == [
        {"name": "data", "versioning": False},
        {"name": "logs", "versioning": True},
    ]


@pytest.mark.parametrize(
    ("spec", "buckets", "declared"),
    [
        pytest.param(
            {"bucket_name": "data"},
            [{"name": "data", "versioning": True}],
            [{"name": "data", "versioning": True}],
            id="the bucket bucket_name names is its resource, with the resource's versioning",
        ),
        pytest.param(
            {},
            [{"name": "logs", "versioning": False}],
            [{"name": "logs", "versioning": False}],
            id="an instance without bucket_name declares its resources only",
        ),
    ],
)
def test_the_nodes_are_told_every_bucket_once(
    spec: dict[str, Any], buckets: list[dict[str, Any]], declared: list[dict[str, Any]]
) -> None:
    assert declared_buckets(view(spec, buckets=buckets)) == declared


@pytest.mark.parametrize(
    ("spec", "initial"),
    [
        pytest.param(
            {"bucket_name": "data"},
            {"buckets": [{"name": "data"}]},
            id="bucket_name becomes a bucket resource (versioning off by default)",
        ),
        pytest.param({}, {}, id="no bucket_name, no resource"),
    ],
)
def test_bucket_name_is_created_as_a_bucket_resource(
    spec: dict[str, Any], initial: dict[str, Any]
) -> None:
    assert S3().initial_resources(view(spec)) == initial
