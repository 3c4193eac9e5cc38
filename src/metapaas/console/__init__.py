"""The web console: static pages and scripts served at ``/ui/``.

The console holds no logic of the control plane: its pages call the same
public REST API a user or the CLI calls (``fetch('/v1/...')`` with the
token the user typed, kept in the browser's ``sessionStorage``), so it
shows exactly what the API lets that token see. Nothing here is an API
operation: the routes stay out of ``/openapi.json``.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

PREFIX = "/ui"
SECURITY_HEADERS = {
    # The page holds a token: only its own scripts run, nothing is framed or sent elsewhere.
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def root() -> RedirectResponse:
    """A person who opens the server's address lands on the console."""
    return RedirectResponse(f"{PREFIX}/")


class ConsoleFiles(StaticFiles):
    """The package's ``static`` directory, every answer with :data:`SECURITY_HEADERS`."""

    def __init__(self) -> None:
        super().__init__(packages=[("metapaas.console", "static")], html=True)

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def install(app: FastAPI) -> None:
    """Serve the console's files under :data:`PREFIX` (``/ui`` redirects to ``/ui/``)."""
    app.include_router(router)
    app.mount(PREFIX, ConsoleFiles(), name="console")
