"""Child resources created together with the instance (the ``initial_resources`` hook):
written in the instance's transaction, audited like a child create, or nothing at all."""

from __future__ import annotations

from typing import Any

import pytest

from metapaas.plugins import Registry
from metapaas.testing import InProcessControlPlane
from tests import sample_plugins
from tests.conftest import MakeApi
from tests.helpers import field_rules, problem

VAULTS = "/v1/types/vaults/instances"


@pytest.fixture
def api(make_api: MakeApi) -> InProcessControlPlane:
    """The control plane with the ``vaults`` types (see tests/sample_plugins/vaults.py)."""
    found = [
        sample_plugins.entry_point("vaults", "vaults:Vaults"),
        sample_plugins.entry_point("misfiled_vaults", "vaults:MisfiledVaults"),
    ]
    return make_api(Registry.discover(found=found))


def test_the_instance_is_created_with_its_initial_resources(api: InProcessControlPlane) -> None:
    created = api.create_instance("v1", slug="vaults", shelves=["top", "low"])
    assert created["generation"] == 1  # they are part of what was asked, not a change after

    listed = api.get(f"{VAULTS}/v1/shelves").json()["items"]
    assert sorted((s["name"], s["capacity"]) for s in listed) == [("low", 1), ("top", 1)]
    assert {s["instance_id"] for s in listed} == {created["id"]}
    audit = [e for e in api.get("/v1/audit").json()["items"] if e["action"].startswith("vaults.")]
    assert sorted((e["action"], e["details"].get("name")) for e in audit) == [
        ("vaults.instances.create", "v1"),
        ("vaults.shelves.create", "low"),
        ("vaults.shelves.create", "top"),
    ]
    assert {e["details"]["instance_id"] for e in audit if e["target_type"] == "shelves"} == {
        created["id"]
    }


def test_an_initial_resource_is_managed_like_any_other(api: InProcessControlPlane) -> None:
    api.create_instance("v1", slug="vaults", shelves=["top"])
    changed = api.patch(f"{VAULTS}/v1/shelves/top", json={"capacity": 5})
    assert changed.status_code == 200, changed.text
    assert api.get(f"{VAULTS}/v1/shelves/top").json()["capacity"] == 5
    assert api.delete(f"{VAULTS}/v1/shelves/top").status_code == 204
    assert api.get(f"{VAULTS}/v1/shelves").json()["items"] == []


@pytest.mark.parametrize(
    ("slug", "body", "status", "errors"),
    [
        pytest.param(
            "vaults",
            {"shelves": ["Not_A_Shelf"]},
            422,
            {("shelves.0.name", "string_pattern_mismatch")},
            id="an initial resource its collection's model refuses is 422 naming where it is",
        ),
        pytest.param(
            "vaults",
            {"shelves": ["a", "b", "c", "d"]},
            422,
            {("shelves", "too_many")},
            id="validate sees the initial resources and may refuse them",
        ),
        pytest.param(
            "vaults",
            {"shelves": ["a", "a"]},
            409,
            {("name", "unique")},
            id="two initial resources of one name are a conflict",
        ),
        pytest.param(
            "misfiled_vaults",
            {},
            422,
            {("drawers", "unknown_collection")},
            id="an initial resource in a collection the type lacks is 422 naming it",
        ),
    ],
)
def test_a_bad_initial_resource_refuses_the_create_and_writes_nothing(
    api: InProcessControlPlane,
    slug: str,
    body: dict[str, Any],
    status: int,
    errors: set[tuple[str, str]],
) -> None:
    before = api.counts()
    refused = problem(api.post(f"/v1/types/{slug}/instances", json={"name": "v1", **body}), status)
    assert field_rules(refused) == errors
    assert api.counts() == before
