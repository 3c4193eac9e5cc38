"""What a request handler gets injected: the app's state and the caller's context."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from metapaas.config import Settings
from metapaas.db import Sealer
from metapaas.iam import Principal, audit, authenticate, note_use
from metapaas.metadata import Notifier
from metapaas.plugins import Registry


@dataclass
class AppState:
    """Long-lived parts shared by every request of one process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    readers: sessionmaker[Session]  # read-only: they never wait for a writer
    registry: Registry
    sealer: Sealer
    notifier: Notifier = field(default_factory=Notifier)
    wakeup: threading.Event = field(default_factory=threading.Event)
    metrics: Any = None  # this app's prometheus CollectorRegistry, set by create_app

    def wake(self) -> None:
        """Tell this process's workers that work was queued."""
        self.wakeup.set()


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.metapaas
    return state


READ_METHODS = frozenset({"GET", "HEAD"})


def db_session(
    request: Request, state: Annotated[AppState, Depends(app_state)]
) -> Iterator[Session]:
    """A session per request, read-only for GET and HEAD; handlers commit, anything else
    rolls back. It closes when the handler returns, before the answer is sent."""
    sessions = state.readers if request.method in READ_METHODS else state.sessions
    with sessions() as session:
        yield session


_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer mpt_...`")


@dataclass
class Context:
    """The caller and the means to act for it, in one transaction."""

    session: Session
    principal: Principal
    request_id: str
    state: AppState
    read_only: bool = False

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
        """Record an entry with the request's change; a read (``GET …/credentials``)
        changes nothing, so its entry is a short write transaction of its own."""
        with self._audit_session() as session:
            audit.record(
                session,
                self.principal,
                action,
                target_type=target_type,
                target_id=target_id,
                project_id=project_id,
                request_id=self.request_id,
                details=details,
            )

    @contextmanager
    def _audit_session(self) -> Iterator[Session]:
        if not self.read_only:
            yield self.session
            return
        with self.state.sessions.begin() as session:
            yield session


def context(
    request: Request,
    session: Annotated[Session, Depends(db_session, scope="function")],
    state: Annotated[AppState, Depends(app_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Context:
    read_only = request.method in READ_METHODS
    bearer = credentials.credentials if credentials else None
    if read_only:
        principal = authenticate(session, bearer)
    else:  # in a read session of its own: the request's write transaction has not begun
        with state.readers() as reading:
            principal = authenticate(reading, bearer)
    note_use(state.sessions, principal)
    return Context(
        session=session,
        principal=principal,
        request_id=request.state.request_id,
        state=state,
        read_only=read_only,
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
