"""The catalog of installed types at ``/v1/types/`` (issue 2, point 3)."""

from __future__ import annotations

from importlib.metadata import version

from metapaas.db import models
from metapaas.plugins import Registry
from metapaas.testing import InProcessControlPlane
from tests import sample_plugins
from tests.conftest import MakeApi
from tests.helpers import problem

BROKEN = [
    sample_plugins.demo_entry_point(),
    sample_plugins.entry_point("broken", "raises_on_import:Anything"),
    sample_plugins.entry_point("badslug", "contracts:BadSlug"),
]


def test_list_shows_each_type_with_its_catalog(api: InProcessControlPlane) -> None:
    response = api.get("/v1/types/")

    assert response.status_code == 200
    types = {t["slug"]: t for t in response.json()["items"]}
    assert sorted(types) == ["demo", "widgets"]
    demo = types["demo"]
    assert demo["title"] == "Demo web service"
    assert demo["status"] == "ACTIVE"
    assert demo["error"] == ""
    assert demo["distribution"] == "metapaas"
    assert demo["distribution_version"] == version("metapaas")
    assert demo["versions"] == [{"name": "1.0", "default": True, "deprecated": False}]
    assert demo["collections"] == ["pages"]
    assert "instance_schema" not in demo
    assert [v["name"] for v in types["widgets"]["versions"]] == ["1.0", "2.0", "0.9"]


def test_show_gives_the_json_schema_of_the_spec_and_of_each_child(
    api: InProcessControlPlane,
) -> None:
    response = api.get("/v1/types/demo/")

    assert response.status_code == 200
    shown = response.json()
    spec = shown["instance_schema"]
    assert set(spec["properties"]) >= {"name", "version", "description", "project_id"}
    assert spec["properties"]["replicas"]["maximum"] == 3
    version_schema = spec["properties"]["version"]
    assert version_schema.get("enum", [version_schema.get("const")]) == ["1.0"]
    assert version_schema["default"] == "1.0"
    assert spec["required"] == ["name"]
    assert spec["additionalProperties"] is False
    pages = shown["resource_schemas"]["pages"]
    assert set(pages["properties"]) == {"name", "content"}
    assert sorted(pages["required"]) == ["content", "name"]


def test_show_marks_immutable_and_secret_fields(api: InProcessControlPlane) -> None:
    shown = api.get("/v1/types/widgets/").json()
    assert shown["instance_schema"]["properties"]["color"]["x-immutable"] is True
    assert shown["instance_schema"]["properties"]["password"]["x-secret"] is True
    parts = shown["resource_schemas"]["parts"]["properties"]
    assert parts["serial"]["x-immutable"] is True
    assert parts["key"]["x-secret"] is True


def test_unknown_type_is_404_problem(api: InProcessControlPlane) -> None:
    problem(api.get("/v1/types/nope/"), 404)
    problem(api.get("/v1/types/nope/instances"), 404)


def test_types_need_a_token(api: InProcessControlPlane) -> None:
    problem(api.get("/v1/types/", token=None), 401)


def test_a_broken_plugin_is_listed_as_error_and_the_others_still_serve(
    make_api: MakeApi,
) -> None:
    api = make_api(Registry.discover(found=BROKEN))

    types = {t["slug"]: t for t in api.get("/v1/types/").json()["items"]}

    assert types["demo"]["status"] == "ACTIVE"
    assert types["broken"]["status"] == "ERROR"
    assert "sample plugin fails at import" in types["broken"]["error"]
    assert types["badslug"]["status"] == "ERROR"
    assert "slug" in types["badslug"]["error"]
    assert types["badslug"]["versions"] == []
    shown = api.get("/v1/types/broken/")
    assert shown.status_code == 200
    assert shown.json()["status"] == "ERROR"
    assert "instance_schema" not in shown.json()
    problem(api.get("/v1/types/broken/instances"), 404)
    assert api.create_instance("still-works")["status"] == "NEW"


def test_the_registry_is_recorded_for_other_replicas(make_api: MakeApi) -> None:
    api = make_api(Registry.discover(found=BROKEN))
    with api.session() as session:
        rows = {r.slug: r for r in session.query(models.PaasTypeRecord)}
    assert rows["demo"].status == "ACTIVE"
    assert rows["demo"].distribution == "metapaas"
    assert rows["broken"].status == "ERROR"
    assert "sample plugin fails at import" in rows["broken"].error


def test_a_duplicate_slug_is_listed_as_error_beside_the_one_served(make_api: MakeApi) -> None:
    duplicate = sample_plugins.entry_point("widgets", "contracts:DuplicateWidgets")
    api = make_api(Registry.discover(found=[sample_plugins.WIDGETS, duplicate]))

    listed = [(t["slug"], t["status"]) for t in api.get("/v1/types/").json()["items"]]

    assert sorted(listed) == [("widgets", "ACTIVE"), ("widgets", "ERROR")]
    assert api.create_instance("w-1", slug="widgets")["status"] == "NEW"
