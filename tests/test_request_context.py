"""The caller's context: authenticated in the handler's own thread (one trip to a request
thread per request), and refused wherever it was not opened."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter

from metapaas.api.deps import Ctx
from metapaas.testing import InProcessControlPlane
from tests.conftest import MakeApi
from tests.helpers import problem


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", "/v1/types/demo/instances?limit=0", None, id="a query out of range"),
        pytest.param("POST", "/v1/types/demo/instances", {"nme": "x"}, id="a malformed body"),
    ],
)
def test_no_token_is_401_before_the_request_is_validated(
    api: InProcessControlPlane, method: str, path: str, body: Any
) -> None:
    answer = api.request(method, path, token=None, json=body)

    assert answer.status_code == 401, answer.text
    assert problem(answer, 401)["type"] == "urn:metapaas:problem:unauthorized"


def test_a_handler_whose_router_does_not_open_its_context_cannot_use_it(
    make_api: MakeApi,
) -> None:
    api = make_api()
    plain = APIRouter()  # no InContext: the handler gets a context nobody authenticated

    @plain.get("/v1/unopened")
    def unopened(ctx: Ctx) -> dict[str, Any]:
        return {"caller": ctx.principal.name}

    app: Any = api.client.app
    app.include_router(plain)

    assert api.get("/v1/unopened").status_code == 500
