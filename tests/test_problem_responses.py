"""Errors are problems the document declares: plugin errors, 405s, bodies and bounds.

The defects here were found by schemathesis over ``/openapi.json``
(tests/test_openapi_contract.py) or reported with it; each row failed before its fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from metapaas.api.problems import PROBLEM_TYPE, ProblemDetails
from metapaas.plugins import Registry
from metapaas.testing import InProcessControlPlane
from tests import sample_plugins
from tests.conftest import MakeApi, standard_entry_points
from tests.helpers import field_rules, problem

MOODY = "/v1/types/moody/instances"


@pytest.fixture
def moody_api(make_api: MakeApi) -> InProcessControlPlane:
    """The standard types plus ``moody``, whose ``validate`` raises what its spec asks."""
    return make_api(Registry.discover(found=[*standard_entry_points(), sample_plugins.MOODY]))


@dataclass(frozen=True)
class PluginErrorCase:
    method: str
    path: str
    body: dict[str, Any]
    status: int
    code: str
    retry_after: str | None = None


PLUGIN_ERRORS = {
    "a TemporaryError at create is 503 with Retry-After rounded up": PluginErrorCase(
        "POST",
        MOODY,
        {"name": "new-one", "mood": "temporary", "delay": 2.5},
        503,
        "unavailable",
        "3",
    ),
    "a TemporaryError at update is 503 with Retry-After rounded up": PluginErrorCase(
        "PATCH", f"{MOODY}/calm", {"mood": "temporary", "delay": 0.2}, 503, "unavailable", "1"
    ),
    "a PermanentError at create is 409, not a 500": PluginErrorCase(
        "POST", MOODY, {"name": "new-one", "mood": "permanent"}, 409, "conflict"
    ),
    "a PermanentError at update is 409, not a 500": PluginErrorCase(
        "PATCH", f"{MOODY}/calm", {"mood": "permanent"}, 409, "conflict"
    ),
}


@pytest.mark.parametrize("case", list(PLUGIN_ERRORS.values()), ids=list(PLUGIN_ERRORS))
def test_a_plugin_error_from_validate_is_a_problem_and_writes_nothing(
    moody_api: InProcessControlPlane, case: PluginErrorCase
) -> None:
    moody_api.create_instance("calm", slug="moody")
    before = moody_api.counts()

    response = moody_api.request(case.method, case.path, json=case.body)

    found = problem(response, case.status)
    assert found["type"] == f"urn:metapaas:problem:{case.code}"
    assert response.headers.get("Retry-After") == case.retry_after
    assert moody_api.counts() == before


METHOD_NOT_ALLOWED = {
    "a path served by a route per method allows them all": (
        "OPTIONS",
        "/v1/projects",
        "GET, HEAD, POST",
    ),
    "an instance path allows its four methods": (
        "PUT",
        "/v1/types/demo/instances/anything",
        "DELETE, GET, HEAD, PATCH",
    ),
    "a probe allows GET and HEAD": ("POST", "/healthz", "GET, HEAD"),
}


@pytest.mark.parametrize(
    ("method", "path", "allow"), list(METHOD_NOT_ALLOWED.values()), ids=list(METHOD_NOT_ALLOWED)
)
def test_405_is_a_problem_whose_allow_names_every_method_of_the_path(
    api: InProcessControlPlane, method: str, path: str, allow: str
) -> None:
    response = api.request(method, path)

    problem(response, 405)
    assert response.headers["Allow"] == allow


@dataclass(frozen=True)
class BadInputCase:
    method: str
    path: str
    field: str
    rule: str
    content: bytes | None = None


BAD_INPUT = {
    "a body that is not UTF-8 is 422 naming the body, like any body that is not JSON": (
        BadInputCase("POST", "/v1/projects", "body", "json_invalid", content=b'{"name": "\x80"}')
    ),
    "an audit cursor past the 32-bit ids is 422 naming it, not a 500": BadInputCase(
        "GET", f"/v1/audit?before={2**31}", "before", "less_than_equal"
    ),
    "a NUL in a query parameter is 422 naming it, not a 500 on PostgreSQL": BadInputCase(
        "GET", "/v1/types/demo/instances/x?project_id=%00", "project_id", "no_nul"
    ),
    "a NUL in a path parameter is 422 naming the path, not a 500 on PostgreSQL": BadInputCase(
        "GET", "/v1/projects/a%00b", "path", "no_nul"
    ),
    "a NUL in a body string is 422 naming the body, not a 500 on PostgreSQL": BadInputCase(
        "POST",
        "/v1/projects",
        "body",
        "no_nul",
        content=b'{"name": "nul-inside", "description": "a\\u0000b"}',
    ),
    "a negative audit cursor is 422 naming it, not a 500": BadInputCase(
        "GET", f"/v1/audit?before={-(2**64)}", "before", "greater_than_equal"
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUT.values()), ids=list(BAD_INPUT))
def test_bad_input_the_fuzzer_found_is_a_422_naming_the_field(
    api: InProcessControlPlane, case: BadInputCase
) -> None:
    headers = {"Content-Type": "application/json"}
    response = api.request(case.method, case.path, content=case.content, headers=headers)

    assert (case.field, case.rule) in field_rules(problem(response, 422))


def test_a_nul_in_a_query_parameter_the_route_does_not_read_is_ignored_like_any(
    api: InProcessControlPlane,
) -> None:
    assert api.get("/healthz?unknown=%00", token=None).status_code == 200
    assert api.get("/v1/permissions?unknown=%00").status_code == 200


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


DECLARED = {
    "a project's show declares its missing and forbidden answers": (
        "GET /v1/projects/{project_id}",
        {"401", "403", "404", "422", "503"},
    ),
    "an instance's show adds the 409 of an ambiguous name": (
        "GET /v1/types/demo/instances/{ref}",
        {"401", "403", "404", "409", "422", "503"},
    ),
    "a child's create declares every refusal": (
        "POST /v1/types/demo/instances/{ref}/pages",
        {"401", "403", "404", "409", "422", "503"},
    ),
    "an agent route declares the node credential's 401": (
        "POST /v1/agent/report",
        {"401", "422", "503"},
    ),
    "the type list, which takes no input, declares no 422": ("GET /v1/types/", {"401", "503"}),
    "metrics, read from the database, declare its outage": ("GET /metrics", {"503"}),
}


@pytest.mark.parametrize(("operation", "statuses"), list(DECLARED.values()), ids=list(DECLARED))
def test_an_operation_declares_the_errors_it_answers(
    api: InProcessControlPlane, operation: str, statuses: set[str]
) -> None:
    declared = _operations(api.get("/openapi.json", token=None).json())[operation]["responses"]
    assert {s for s in declared if int(s) >= 400} == statuses


def test_every_declared_error_is_the_problem_schema_and_fastapis_422_is_gone(
    api: InProcessControlPlane,
) -> None:
    document = api.get("/openapi.json", token=None).json()
    problem_ref = {"$ref": "#/components/schemas/ProblemDetails"}

    errors = {
        (name, status): response
        for name, operation in _operations(document).items()
        for status, response in operation["responses"].items()
        if int(status) >= 400 and name != "GET /readyz"  # a probe's 503 is its readiness report
    }

    assert errors
    for (name, status), response in errors.items():
        assert response["content"] == {PROBLEM_TYPE: {"schema": problem_ref}}, (name, status)
        if status == "503":
            assert response["headers"]["Retry-After"]["required"] is True, name
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["ProblemDetails"]["required"]) == {
        name for name, info in ProblemDetails.model_fields.items() if info.is_required()
    }


def test_every_route_behind_a_token_declares_401_and_503(api: InProcessControlPlane) -> None:
    operations = _operations(api.get("/openapi.json", token=None).json())
    secured = {name: op for name, op in operations.items() if op.get("security")}

    assert len(secured) > 20
    for name, operation in secured.items():
        assert {"401", "503"} <= set(operation["responses"]), name
