"""The postgres type through the API in the test's process, its node simulated: what a user
is refused (nothing written), what is shown once, and the credentials of a serving instance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from metapaas.testing import InProcessControlPlane

INSTANCE = "/v1/types/postgres/instances/shop-db"


@dataclass(frozen=True)
class Refusal:
    method: str
    path: str
    body: dict[str, Any] | None
    error: tuple[str, str]


REFUSALS = {
    "a database name with capitals names name": Refusal(
        "POST", "/databases", {"name": "Bad-Name"}, ("name", "string_pattern_mismatch")
    ),
    "a pg_ database is the server's": Refusal(
        "POST", "/databases", {"name": "pg_x"}, ("name", "reserved")
    ),
    "template1 is the server's": Refusal(
        "POST", "/databases", {"name": "template1"}, ("name", "reserved")
    ),
    "the admin role is the instance's": Refusal(
        "POST", "/roles", {"name": "admin"}, ("name", "reserved")
    ),
    "a grant on a database that does not exist names grants": Refusal(
        "POST",
        "/roles",
        {"name": "ghost", "grants": [{"database": "nowhere"}]},
        ("grants", "not_found"),
    ),
    "a database a grant names cannot be deleted": Refusal(
        "DELETE", "/databases/shop", None, ("grants", "not_found")
    ),
    "max_connections below 10 names it": Refusal(
        "PATCH", "", {"max_connections": 5}, ("max_connections", "greater_than_equal")
    ),
}


@pytest.fixture
def shop(api: InProcessControlPlane) -> dict[str, Any]:
    """``shop-db`` with the database ``shop`` and the role ``app`` granted it."""
    created = api.create_instance("shop-db", slug="postgres")
    assert api.post(f"{INSTANCE}/databases", json={"name": "shop"}).status_code == 201
    role = {"name": "app", "grants": [{"database": "shop", "access": "readwrite"}]}
    made = api.post(f"{INSTANCE}/roles", json=role)
    assert made.status_code == 201, made.text
    return {**created, "app_password": made.json()["password"]}


@pytest.mark.parametrize("case", list(REFUSALS.values()), ids=list(REFUSALS))
def test_bad_input_is_a_422_naming_field_and_rule_and_writes_nothing(
    api: InProcessControlPlane, shop: dict[str, Any], case: Refusal
) -> None:
    before = api.rows()
    refused = api.request(case.method, INSTANCE + case.path, json=case.body)
    assert refused.status_code == 422, refused.text
    assert case.error in {(e["field"], e["rule"]) for e in refused.json()["errors"]}
    assert api.rows() == before


def test_a_roles_password_is_shown_once_and_the_admin_dsn_names_the_serving_node_over_tls(
    api: InProcessControlPlane, shop: dict[str, Any]
) -> None:
    assert len(shop["app_password"]) >= 12
    assert "password" not in api.get(f"{INSTANCE}/roles/app").json()
    assert "admin_password" not in api.get(INSTANCE).json()
    assert [d["name"] for d in api.get(f"{INSTANCE}/databases").json()["items"]] == ["shop"]

    active = api.converge("postgres", shop["id"])
    credentials = api.get(f"{INSTANCE}/credentials").json()
    host, port = active["endpoints"]["postgres"].rsplit(":", 1)
    assert (credentials["host"], credentials["port"], credentials["user"]) == (
        host,
        int(port),
        "admin",
    )
    assert f"@{host}:{port}/" in credentials["dsn"]
    assert credentials["dsn"].endswith("?sslmode=verify-full")
    assert credentials["ca_certificate"] == api.get("/v1/ca.pem").text
