"""The s3 type through the API, in-process and without nodes: the bucket an instance is
created with is a ``buckets`` resource, and its node-only keys are never shown."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from metapaas.api import AppState, build_state, create_app, migrate_all
from metapaas.config import Settings
from metapaas.db import models
from metapaas.iam import ensure_admin
from metapaas.plugins import Registry
from metapaas.sdk.introspect import ENTRY_POINT_GROUP

INSTANCES = "/v1/types/s3/instances"
PROD = f"{INSTANCES}/s3-prod"


@dataclass
class S3Api:
    client: TestClient
    state: AppState

    def create(self, **body: Any) -> dict[str, Any]:
        made = self.client.post(INSTANCES, json={"name": "s3-prod", **body})
        assert made.status_code == 202, made.text
        answer: dict[str, Any] = made.json()
        return answer

    def buckets(self) -> list[tuple[str, bool]]:
        listed = self.client.get(f"{PROD}/buckets")
        assert listed.status_code == 200, listed.text
        return [(b["name"], b["versioning"]) for b in listed.json()["items"]]

    def forget_bucket_resources(self) -> None:
        """Make the instance look created before bucket_name was a resource."""
        with self.state.sessions.begin() as session:
            session.execute(delete(models.Resource).where(models.Resource.collection == "buckets"))


@pytest.fixture
def api(empty_database_url: str, tmp_path: Path) -> Iterator[S3Api]:
    """The API with the installed s3 type on a fresh database, acting as admin."""
    registry = Registry.discover(found=entry_points(group=ENTRY_POINT_GROUP, name="s3"))
    settings = Settings(home=tmp_path / "home", database_url=empty_database_url)
    state = build_state(settings, registry=registry)
    migrate_all(state)
    with state.sessions.begin() as session:
        token = ensure_admin(session)
    assert token is not None
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(state), headers=headers, raise_server_exceptions=False) as client:
        yield S3Api(client, state)
    state.engine.dispose()


def test_bucket_name_is_a_listed_bucket_whose_versioning_can_change(api: S3Api) -> None:
    created = api.create(bucket_name="data")
    assert api.buckets() == [("data", False)]
    changed = api.client.patch(f"{PROD}/buckets/data", json={"versioning": True})
    assert changed.status_code == 200, changed.text
    assert api.buckets() == [("data", True)]
    assert api.client.get(PROD).json()["generation"] == created["generation"] + 1


def test_the_keys_only_the_engine_needs_are_made_but_never_shown(api: S3Api) -> None:
    created = api.create(bucket_name="data")
    with api.state.sessions() as session:
        instance = session.get(models.Instance, created["id"])
        assert instance is not None
        sealed = api.state.sealer.unseal(instance.sealed_secrets)
    assert len(sealed["sse_kek"]) == len(sealed["internal_signing_key"]) == 64
    assert {"admin_access_key_id", "admin_secret_access_key"} <= set(created)
    assert {"sse_kek", "internal_signing_key"}.isdisjoint(created)
    given = api.client.post(INSTANCES, json={"name": "mine", "sse_kek": "ab" * 32})
    assert given.status_code == 422
    assert [(e["field"], e["rule"]) for e in given.json()["errors"]] == [
        ("sse_kek", "extra_forbidden")
    ]


@dataclass(frozen=True)
class Refusal:
    """A request refused on the instance ``s3-prod`` made with ``spec``; ``legacy``: the
    instance looks created before bucket_name was a resource."""

    spec: dict[str, Any]
    method: str
    path: str
    body: dict[str, Any] | None
    status: int
    error: tuple[str, str]
    legacy: bool = False


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
    "an instance from before must list its bucket before any change": Refusal(
        {"bucket_name": "data"},
        "PATCH",
        PROD,
        {"encryption": "aes256"},
        422,
        ("bucket_name", "not_found"),
        legacy=True,
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS.values()), ids=list(REFUSALS))
def test_refusals_name_the_field_and_rule_and_write_nothing(api: S3Api, case: Refusal) -> None:
    api.create(**case.spec)
    if case.legacy:
        api.forget_bucket_resources()
    before = (api.buckets(), api.client.get(PROD).json()["generation"])
    refused = api.client.request(case.method, case.path, json=case.body)
    assert refused.status_code == case.status, refused.text
    assert [(e["field"], e["rule"]) for e in refused.json()["errors"]] == [case.error]
    assert (api.buckets(), api.client.get(PROD).json()["generation"]) == before


def test_an_instance_from_before_keeps_its_bucket_and_adopts_it_as_a_resource(
    api: S3Api,
) -> None:
    api.create(bucket_name="data")
    api.forget_bucket_resources()
    assert api.buckets() == []
    adopted = api.client.post(f"{PROD}/buckets", json={"name": "data", "versioning": True})
    assert adopted.status_code == 201, adopted.text
    assert api.buckets() == [("data", True)]
    assert api.client.patch(PROD, json={"encryption": "aes256"}).status_code == 202
