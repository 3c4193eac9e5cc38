"""What a request handler gets injected: the app's state and the caller's context."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from metapaas.config import Settings
from metapaas.db import Sealer, models
from metapaas.iam import Principal, audit, authenticate
from metapaas.metadata import Notifier
from metapaas.plugins import Registry


@dataclass
class AppState:
    """Long-lived parts shared by every request of one process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    registry: Registry
    sealer: Sealer
    notifier: Notifier = field(default_factory=Notifier)
    wakeup: threading.Event = field(default_factory=threading.Event)
    metrics: Any = None  # this app's prometheus CollectorRegistry, set by create_app
    #: When reports arrive and requests are queued; tests give the orchestrator's fake clock.
    clock: Callable[[], datetime] = models.utcnow

    def wake(self) -> None:
        """Tell this process's workers that work was queued."""
        self.wakeup.set()


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.metapaas
    return state


def db_session(state: Annotated[AppState, Depends(app_state)]) -> Iterator[Session]:
    """A session per request; handlers commit, anything else rolls back."""
    with state.sessions() as session:
        yield session


_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer mpt_...`")


@dataclass
class Context:
    """The caller and the means to act for it, in one transaction."""

    session: Session
    principal: Principal
    request_id: str
    state: AppState

    @property
    def registry(self) -> Registry:
        return self.state.registry

    def commit(self) -> None:
        """Commit the request's change, then wake the workers for any work it queued."""
        self.session.commit()
        self.state.wake()

    def audit(
        self,
        action: str,
        target_type: str,
        target_id: str,
        project_id: str | None = None,
        **details: Any,
    ) -> None:
        audit.record(
            self.session,
            self.principal,
            action,
            target_type=target_type,
            target_id=target_id,
            project_id=project_id,
            request_id=self.request_id,
            details=details,
        )


def context(
    request: Request,
    session: Annotated[Session, Depends(db_session)],
    state: Annotated[AppState, Depends(app_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Context:
    principal = authenticate(session, credentials.credentials if credentials else None)
    return Context(
        session=session,
        principal=principal,
        request_id=request.state.request_id,
        state=state,
    )


Ctx = Annotated[Context, Depends(context)]


def install_request_ids(app: FastAPI) -> None:
    """Every response carries ``X-Request-ID``; a caller's own id is kept if it sends one."""

    @app.middleware("http")
    async def _request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        given = request.headers.get("x-request-id", "")
        request.state.request_id = given[:64] if given else uuid.uuid4().hex
        response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        return response
