"""The web console: static pages and scripts served at ``/ui/``.

The console holds no logic of the control plane: its pages call the same
public REST API a user or the CLI calls (``fetch('/v1/...')`` with the
token the user typed, kept in the browser's ``sessionStorage``), so it
shows exactly what the API lets that token see. Nothing here is an API
operation: the routes stay out of ``/openapi.json``.

Distributions add pages (a provider's, e.g. ``ssh``'s Hosts page): each
:class:`Extension`'s files are served at ``/ui/ext/<name>/`` and its pages
listed by ``/ui/extensions.json``, which the console's shell reads when it
starts, so the console stays static files with no build step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

PREFIX = "/ui"
EXTENSIONS = f"{PREFIX}/ext"
SECURITY_HEADERS = {
    # The page holds a token: only its own scripts run, nothing is framed or sent elsewhere.
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class Extension:
    """A distribution's console files (``directory``) and the pages among them: each page a
    mapping of ``route``, ``label``, ``module`` (a file of ``directory``) and ``admin``."""

    name: str
    directory: Path
    pages: Sequence[Mapping[str, Any]]


class ConsoleFiles(StaticFiles):
    """Static files, every answer with :data:`SECURITY_HEADERS`."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def _router(extensions: Sequence[Extension]) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    listed = [
        {**page, "module": f"{EXTENSIONS}/{extension.name}/{page['module']}"}
        for extension in extensions
        for page in extension.pages
    ]

    @router.get("/")
    def root() -> RedirectResponse:
        """A person who opens the server's address lands on the console."""
        return RedirectResponse(f"{PREFIX}/")

    @router.get(f"{PREFIX}/extensions.json")
    def pages() -> JSONResponse:
        """The distributions' pages, for the shell's navigation and routes (no secret in it:
        it is read before the user signs in)."""
        return JSONResponse({"pages": listed}, headers=SECURITY_HEADERS)

    return router


def install(app: FastAPI, extensions: Sequence[Extension] = ()) -> None:
    """Serve the console's files under :data:`PREFIX` (``/ui`` redirects to ``/ui/``) and each
    extension's under ``/ui/ext/<name>/``."""
    app.include_router(_router(extensions))
    for extension in extensions:  # before the console's own mount, which would take the path
        files = ConsoleFiles(directory=extension.directory)
        app.mount(f"{EXTENSIONS}/{extension.name}", files, name=f"console-{extension.name}")
    app.mount(PREFIX, ConsoleFiles(packages=[("metapaas.console", "static")], html=True), "console")
