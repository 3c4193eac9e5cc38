"""The s3 type through the API, in-process and without nodes: the bucket an instance is
created with is a ``buckets`` resource, and its node-only keys are never shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from metapaas.db import models
from metapaas.testing import InProcessControlPlane

INSTANCES = "/v1/types/s3/instances"
PROD = f"{INSTANCES}/s3-prod"


def create(api: InProcessControlPlane, **spec: Any) -> dict[str, Any]:
    return api.create_instance("s3-prod", slug="s3", **spec)


def buckets(api: InProcessControlPlane) -> list[tuple[str, bool]]:
    listed = api.get(f"{PROD}/buckets")
    assert listed.status_code == 200, listed.text
    return [(b["name"], b["versioning"]) for b in listed.json()["items"]]


def test_bucket_name_is_a_listed_bucket_whose_versioning_can_change(
    api: InProcessControlPlane,
) -> None:
    created = create(api, bucket_name="data")
    assert buckets(api) == [("data", False)]
    changed = api.patch(f"{PROD}/buckets/data", json={"versioning": True})
    assert changed.status_code == 200, changed.text
    assert buckets(api) == [("data", True)]
    assert api.get(PROD).json()["generation"] == created["generation"] + 1


def test_the_keys_only_the_engine_needs_are_made_but_never_shown(
    api: InProcessControlPlane,
) -> None:
    created = create(api, bucket_name="data")
    with api.state.sessions() as session:
        instance = session.get(models.Instance, created["id"])
        assert instance is not None
        sealed = api.state.sealer.unseal(instance.sealed_secrets)
    assert len(sealed["sse_kek"]) == len(sealed["internal_signing_key"]) == 64
    assert {"admin_access_key_id", "admin_secret_access_key"} <= set(created)
    assert {"sse_kek", "internal_signing_key"}.isdisjoint(created)
    given = api.post(INSTANCES, json={"name": "mine", "sse_kek": "ab" * 32})
    assert given.status_code == 422
    assert [(e["field"], e["rule"]) for e in given.json()["errors"]] == [
        ("sse_kek", "extra_forbidden")
    ]


@dataclass(frozen=True)
class Refusal:
    """A request refused on the instance ``s3-prod`` made with ``spec``."""

    spec: dict[str, Any]
    method: str
    path: str
    body: dict[str, Any] | None
    status: int
    error: tuple[str, str]


REFUSALS = {
    "the bucket bucket_name names cannot be deleted": Refusal(
        {"bucket_name": "data"},
        "DELETE",
        f"{PROD}/buckets/data",
        None,
        422,
        ("bucket_name", "not_found"),
    ),
    "a second bucket named like bucket_name is a conflict": Refusal(
        {"bucket_name": "data"},
        "POST",
        f"{PROD}/buckets",
        {"name": "data"},
        409,
        ("name", "unique"),
    ),
    "bucket_name cannot be the health probe's bucket": Refusal(
        {},
        "POST",
        INSTANCES,
        {"name": "probe", "bucket_name": "metapaas-health"},
        422,
        ("bucket_name", "reserved"),
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS.values()), ids=list(REFUSALS))
def test_refusals_name_the_field_and_rule_and_write_nothing(
    api: InProcessControlPlane, case: Refusal
) -> None:
    create(api, **case.spec)
    before = (buckets(api), api.get(PROD).json()["generation"])
    refused = api.request(case.method, case.path, json=case.body)
    assert refused.status_code == case.status, refused.text
    assert [(e["field"], e["rule"]) for e in refused.json()["errors"]] == [case.error]
    assert (buckets(api), api.get(PROD).json()["generation"]) == before


def test_credentials_give_the_endpoint_of_the_node_once_it_serves(
    api: InProcessControlPlane,
) -> None:
    created = create(api, bucket_name="data")
    refused = api.get(f"{PROD}/credentials")
    assert refused.status_code == 409, refused.text  # not ACTIVE yet
    active = api.converge("s3", "s3-prod")
    credentials = api.get(f"{PROD}/credentials").json()
    assert credentials["endpoint_url"] == active["endpoints"]["s3"]
    assert credentials["endpoint_url"].startswith("https://")
    assert credentials["ca_certificate"] == api.get("/v1/ca.pem").text  # verifies the node
    assert (credentials["region"], credentials["addressing_style"]) == ("us-east-1", "path")
    assert credentials["access_key_id"] == created["admin_access_key_id"]
    assert credentials["secret_access_key"] == created["admin_secret_access_key"]
