"""Probes and the API's own description (issue 2, point 8)."""

from __future__ import annotations

from metapaas.db import make_engine
from metapaas.plugins import Registry
from metapaas.testing import InProcessControlPlane
from tests import sample_plugins
from tests.conftest import MakeApi, standard_entry_points


def test_healthz_answers_without_a_token(api: InProcessControlPlane) -> None:
    response = api.get("/healthz", token=None)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_when_every_stream_is_current(api: InProcessControlPlane) -> None:
    response = api.get("/readyz", token=None)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok"},
    }


def test_readyz_is_503_pending_when_a_plugin_stream_is_not_applied(make_api: MakeApi) -> None:
    # gizmos ships a stream that the shared test database never applied.
    registry = Registry.discover(found=[*standard_entry_points(), sample_plugins.GIZMOS])
    api = make_api(registry)

    response = api.get("/readyz", token=None)

    assert response.status_code == 503, response.text
    assert response.json()["checks"] == {"database": "ok", "migrations": "pending"}
    assert api.get("/healthz", token=None).status_code == 200


def test_readyz_is_503_when_the_database_does_not_answer(api: InProcessControlPlane) -> None:
    api.state.engine.dispose()
    api.state.engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = api.get("/readyz", token=None)
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("error")


def test_openapi_describes_the_derived_routes_with_their_schemas(
    api: InProcessControlPlane,
) -> None:
    response = api.get("/openapi.json", token=None)

    assert response.status_code == 200
    document = response.json()
    paths = document["paths"]
    for path in (
        "/v1/types/demo/instances",
        "/v1/types/demo/instances/{ref}",
        "/v1/types/demo/instances/{ref}/pages",
        "/v1/types/demo/instances/{ref}/pages/{child}",
        "/v1/types/widgets/instances/{ref}/parts",
    ):
        assert path in paths, sorted(paths)
    assert set(paths["/v1/types/demo/instances"]) == {"get", "post"}
    assert set(paths["/v1/types/demo/instances/{ref}"]) == {"get", "patch", "delete"}
    create = paths["/v1/types/demo/instances"]["post"]["requestBody"]["content"]
    ref = create["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"name", "version", "message", "replicas"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False
    assert "DemoPagesCreate" in document["components"]["schemas"]


def test_docs_page_answers(api: InProcessControlPlane) -> None:
    response = api.get("/docs", token=None)
    assert response.status_code == 200
    assert "swagger" in response.text.lower()
