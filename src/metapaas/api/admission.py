"""Admission control: past a cap of requests in flight, an immediate 503.

A request the server cannot serve soon is better refused at once, with
``Retry-After``, than queued behind work it cannot finish in time: the queue
would grow, every answer would come late, and the waits would end in
timeouts. API requests and agents' reports have a budget each, so a flood of
API clients does not fail the heartbeats (the nodes would look gone and be
replaced) and many nodes do not crowd out the API. An agent's metadata
long-poll is not counted: it waits for a change without a thread or a
database connection, and its reads are short.
"""

from __future__ import annotations

from prometheus_client import Counter
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from metapaas import console
from metapaas.api.problems import problem_response
from metapaas.errors import Unavailable

REFUSED = Counter(
    "metapaas_requests_refused", "Requests answered 503 at once: too many in flight", ["budget"]
)
UNCOUNTED = frozenset({"/healthz", "/v1/agent/metadata"})
"""Liveness must answer under load; long-polls wait without holding anything."""
CONSOLE_FILES = console.PREFIX + "/"
"""The console's static files read no database; a console that loads under load can
show the 503s of its API calls instead of a blank page."""


def budget_of(path: str) -> str | None:
    """Which budget a request to ``path`` spends; None for one that is not counted."""
    if path in UNCOUNTED or path.startswith(CONSOLE_FILES):
        return None
    return "agent" if path.startswith("/v1/agent/") else "api"


class Admission:
    """ASGI middleware: at most ``limit`` requests in flight per budget."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = {"api": 0, "agent": 0}  # touched only on the event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        budget = budget_of(scope["path"]) if scope["type"] == "http" else None
        if budget is None:
            await self.app(scope, receive, send)
            return
        if self.in_flight[budget] >= self.limit:
            REFUSED.labels(budget).inc()
            refusal = problem_response(
                Request(scope),
                Unavailable.status,
                Unavailable.code,
                Unavailable.title,
                f"the server has {self.limit} requests in flight; try again shortly",
                headers={"Retry-After": "1"},
            )
            await refusal(scope, receive, send)
            return
        self.in_flight[budget] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight[budget] -= 1
