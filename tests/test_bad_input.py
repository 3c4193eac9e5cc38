"""Bad input gets a 4xx problem naming the field and the rule, and writes nothing
(issue 2, point 5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from metapaas.testing import InProcessControlPlane
from tests.helpers import field_rules, problem

DEMO = "/v1/types/demo/instances"
WIDGETS = "/v1/types/widgets/instances"


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    body: Any
    status: int
    field: str
    rule: str
    raw: bool = False  # send ``body`` as bytes, not JSON
    as_outsider: bool = False  # a member of another project sends it


CASES = {
    "unknown field is 422 naming it": Case(
        "POST", DEMO, {"name": "new-one", "colour": "x"}, 422, "colour", "extra_forbidden"
    ),
    "wrong type is 422 naming the field": Case(
        "POST", DEMO, {"name": "new-one", "replicas": "many"}, 422, "replicas", "int_type"
    ),
    "a boolean where the document says integer is 422 naming the field": Case(
        "POST", DEMO, {"name": "new-one", "replicas": True}, 422, "replicas", "int_type"
    ),
    "an integer where the document says boolean is 422 naming the field": Case(
        "POST", "/v1/users", {"name": "someone", "is_admin": 0}, 422, "is_admin", "bool_type"
    ),
    "a number where the document says string is 422 naming the field": Case(
        "POST", DEMO, {"name": "new-one", "message": 5}, 422, "message", "string_type"
    ),
    "null where the field cannot be null in an update is 422 naming it": Case(
        "PATCH", f"{WIDGETS}/w-1", {"size": None}, 422, "size", "int_type"
    ),
    "out of range is 422 naming the field": Case(
        "POST", DEMO, {"name": "new-one", "replicas": 9}, 422, "replicas", "less_than_equal"
    ),
    "too long a string is 422 naming the field": Case(
        "POST", DEMO, {"name": "new-one", "message": "x" * 201}, 422, "message", "string_too_long"
    ),
    "version not in catalog is 422 naming version": Case(
        "POST", DEMO, {"name": "new-one", "version": "9.9"}, 422, "version", "literal_error"
    ),
    "deprecated version at create is 422 naming version": Case(
        "POST", WIDGETS, {"name": "new-one", "version": "0.9"}, 422, "version", "literal_error"
    ),
    "duplicate name is 409 naming name": Case(
        "POST", DEMO, {"name": "taken"}, 409, "name", "unique"
    ),
    "bad name pattern is 422 naming name": Case(
        "POST", DEMO, {"name": "Bad_Name"}, 422, "name", "string_pattern_mismatch"
    ),
    "missing required name is 422 naming name": Case(
        "POST", DEMO, {"message": "no name"}, 422, "name", "missing"
    ),
    "malformed JSON is 422 naming the body": Case(
        "POST", DEMO, b'{"name": "x",', 422, "body", "json_invalid", raw=True
    ),
    "a body that is no object is 422 naming the body": Case(
        "POST", DEMO, ["new-one"], 422, "body", "model_type"
    ),
    "project_id where the caller has no role is 422 naming project_id": Case(
        "POST",
        DEMO,
        {"name": "new-one", "project_id": "{admin_project}"},
        422,
        "project_id",
        "not_member",
        as_outsider=True,
    ),
    "project_id of no project is 422 naming project_id": Case(
        "POST",
        DEMO,
        {"name": "new-one", "project_id": "no-such-project"},
        422,
        "project_id",
        "not_found",
    ),
    "immutable field update is 422 naming the field": Case(
        "PATCH", f"{WIDGETS}/w-1", {"color": "green"}, 422, "color", "immutable"
    ),
    "renaming an instance is 422 naming name": Case(
        "PATCH", f"{DEMO}/taken", {"name": "renamed"}, 422, "name", "immutable"
    ),
    "out of range update is 422 naming the field": Case(
        "PATCH", f"{DEMO}/taken", {"replicas": 0}, 422, "replicas", "greater_than_equal"
    ),
    "unknown field in an update is 422 naming it": Case(
        "PATCH", f"{DEMO}/taken", {"colour": "x"}, 422, "colour", "extra_forbidden"
    ),
    "null for a required field in an update is 422 naming it": Case(
        "PATCH", f"{DEMO}/taken", {"message": None}, 422, "message", "string_type"
    ),
    "null version in an update is 422 naming version": Case(
        "PATCH", f"{DEMO}/taken", {"version": None}, 422, "version", "literal_error"
    ),
    "null description in an update is 422 naming description": Case(
        "PATCH", f"{DEMO}/taken", {"description": None}, 422, "description", "string_type"
    ),
    "version not in catalog in an update is 422 naming version": Case(
        "PATCH", f"{DEMO}/taken", {"version": "9.9"}, 422, "version", "literal_error"
    ),
    "moving to a deprecated version is 422 naming version": Case(
        "PATCH", f"{WIDGETS}/w-1", {"version": "0.9"}, 422, "version", "deprecated"
    ),
    "duplicate child name is 409 naming name": Case(
        "POST", f"{DEMO}/taken/pages", {"name": "index", "content": "x"}, 409, "name", "unique"
    ),
    "child without its required field is 422 naming it": Case(
        "POST", f"{DEMO}/taken/pages", {"name": "other"}, 422, "content", "missing"
    ),
    "child with a bad name is 422 naming name": Case(
        "POST",
        f"{DEMO}/taken/pages",
        {"name": "-x", "content": "x"},
        422,
        "name",
        "string_pattern_mismatch",
    ),
    "child immutable field update is 422 naming it": Case(
        "PATCH", f"{WIDGETS}/w-1/parts/p-1", {"serial": "s-2"}, 422, "serial", "immutable"
    ),
    "renaming a child is 422 naming name": Case(
        "PATCH", f"{DEMO}/taken/pages/index", {"name": "home"}, 422, "name", "immutable"
    ),
    "child out of range update is 422 naming the field": Case(
        "PATCH", f"{WIDGETS}/w-1/parts/p-1", {"weight": 101}, 422, "weight", "less_than_equal"
    ),
    "child unknown field is 422 naming it": Case(
        "POST",
        f"{WIDGETS}/w-1/parts",
        {"name": "p-2", "colour": "x"},
        422,
        "colour",
        "extra_forbidden",
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_input_is_a_problem_naming_field_and_rule_and_writes_nothing(
    api: InProcessControlPlane, case: Case
) -> None:
    api.create_instance("taken")
    assert (
        api.post(f"{DEMO}/taken/pages", json={"name": "index", "content": "x"}).status_code == 201
    )
    api.create_instance("w-1", slug="widgets")
    assert api.post(f"{WIDGETS}/w-1/parts", json={"name": "p-1"}).status_code == 201
    token = api.admin_token
    if case.as_outsider:
        token = api.make_user("outsider", api.make_project("elsewhere"), "owner").token
    body = case.body
    if isinstance(body, dict):
        body = {
            k: v.format(admin_project=api.admin_project_id) if isinstance(v, str) else v
            for k, v in body.items()
        }
    before = api.counts()
    sent: dict[str, Any] = (
        {"content": body, "headers": {"Content-Type": "application/json"}}
        if case.raw
        else {"json": body}
    )

    response = api.request(case.method, case.path, token=token, **sent)

    found = problem(response, case.status)
    assert (case.field, case.rule) in field_rules(found), found
    assert api.counts() == before
