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
from starlette.staticfiles import StaticFiles

PREFIX = "/ui"

router = APIRouter(include_in_schema=False)


@router.get("/")
def root() -> RedirectResponse:
    """A person who opens the server's address lands on the console."""
    return RedirectResponse(f"{PREFIX}/")


def install(app: FastAPI) -> None:
    """Serve the console's files under :data:`PREFIX` (``/ui`` redirects to ``/ui/``)."""
    app.include_router(router)
    files = StaticFiles(packages=[("metapaas.console", "static")], html=True)
    app.mount(PREFIX, files, name="console")
