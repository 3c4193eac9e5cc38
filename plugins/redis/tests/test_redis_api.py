"""The redis type through the API in the test's process, its node simulated: what a user
is refused, what is shown once, and the credentials of an instance that serves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from metapaas.testing import InProcessControlPlane

INSTANCES = "/v1/types/redis/instances"
CACHE = f"{INSTANCES}/cache"


@dataclass(frozen=True)
class Refusal:
    path: str
    body: dict[str, Any]
    error: tuple[str, str]


REFUSALS = {
    "memory below 16 MiB names memory_mb": Refusal(
        INSTANCES, {"name": "tiny", "memory_mb": 8}, ("memory_mb", "greater_than_equal")
    ),
    "an unknown persistence names persistence": Refusal(
        INSTANCES, {"name": "disk", "persistence": "disk"}, ("persistence", "literal_error")
    ),
    "the default user is the platform's": Refusal(
        f"{CACHE}/users", {"name": "default", "keys": ["*"]}, ("name", "reserved")
    ),
    "a key pattern with a space names the pattern": Refusal(
        f"{CACHE}/users", {"name": "spaced", "keys": ["a b"]}, ("keys.0", "string_pattern_mismatch")
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS.values()), ids=list(REFUSALS))
def test_bad_input_is_a_422_naming_field_and_rule_and_writes_nothing(
    api: InProcessControlPlane, case: Refusal
) -> None:
    api.create_instance("cache", slug="redis")
    before = api.counts()
    refused = api.post(case.path, json=case.body)
    assert refused.status_code == 422, refused.text
    assert case.error in {(e["field"], e["rule"]) for e in refused.json()["errors"]}
    assert api.counts() == before


def test_passwords_are_shown_once_and_the_credentials_name_the_serving_node(
    api: InProcessControlPlane,
) -> None:
    created = api.create_instance("cache", slug="redis", memory_mb=32, persistence="aof")
    assert "password" not in api.get(CACHE).json()
    user = api.post(f"{CACHE}/users", json={"name": "app", "keys": ["app:*"]})
    assert user.status_code == 201, user.text
    assert len(user.json()["password"]) >= 16
    assert "password" not in api.get(f"{CACHE}/users/app").json()

    active = api.converge("redis", created["id"])
    credentials = api.get(f"{CACHE}/credentials").json()
    host, port = active["endpoints"]["redis"].rsplit(":", 1)
    assert (credentials["host"], credentials["port"]) == (host, int(port))
    assert credentials["username"] == "default"
    assert credentials["url"].startswith(f"rediss://default:{credentials['password']}@")
    assert credentials["ca_certificate"] == api.get("/v1/ca.pem").text


def test_a_live_resize_is_a_new_generation_the_node_converges_to(
    api: InProcessControlPlane,
) -> None:
    created = api.create_instance("cache", slug="redis", memory_mb=32)
    api.converge("redis", created["id"])
    resized = api.patch(CACHE, json={"memory_mb": 48})
    assert resized.status_code == 202, resized.text
    assert resized.json()["generation"] == created["generation"] + 1
    active = api.converge("redis", created["id"])
    assert (active["memory_mb"], active["observed_generation"]) == (48, active["generation"])
