"""Admission control: past the cap of requests in flight, an immediate 503."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from metapaas.api.admission import Admission

LIMIT = 2
BUSY = ("/v1/types/demo/instances", "/v1/projects")
"""The API requests that fill the API budget, held open until the test lets them go."""


def _held_app(release: asyncio.Event) -> Starlette:
    """Answers every path; the paths in BUSY wait for ``release`` first."""

    async def answer(request: Request) -> PlainTextResponse:
        if request.url.path in BUSY:
            await release.wait()
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST"])])


CASES = [
    pytest.param("GET", "/v1/operations/x", 503, id="another API request is refused at once"),
    pytest.param("POST", "/v1/agent/report", 200, id="an agent's report has a budget of its own"),
    pytest.param("GET", "/v1/agent/metadata", 200, id="an agent's long-poll is not counted"),
    pytest.param("GET", "/healthz", 200, id="liveness is not counted"),
    pytest.param("GET", "/ui/js/app.js", 200, id="the console's static files are not counted"),
]


@pytest.mark.parametrize(("method", "path", "status"), CASES)
def test_with_the_api_budget_full(method: str, path: str, status: int) -> None:
    async def scenario() -> None:
        release = asyncio.Event()
        app = Admission(_held_app(release), limit=LIMIT)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            busy = [asyncio.create_task(client.get(path)) for path in BUSY]
            async with asyncio.timeout(10):
                while app.in_flight["api"] < LIMIT:
                    await asyncio.sleep(0.001)
            answer = await asyncio.wait_for(client.request(method, path), timeout=10)
            assert answer.status_code == status, answer.text
            if status == 503:
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.headers["Retry-After"] == "1"
                assert answer.json()["type"] == "urn:metapaas:problem:unavailable"
            release.set()
            assert [(await task).status_code for task in busy] == [200, 200]
            assert (await client.get("/v1/operations/x")).status_code == 200, "room again"

    asyncio.run(scenario())
