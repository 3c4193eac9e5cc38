"""What a request handler gets injected: the app's state and the caller's context."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from metapaas.config import Settings
from metapaas.db import Sealer, models
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
    plugin_wakeup: threading.Event = field(default_factory=threading.Event)
    host_wakeup: threading.Event = field(default_factory=threading.Event)
    #: The wheelhouses of the plugins installed at run time that this process loaded.
    wheelhouses: list[str] = field(default_factory=list)
    metrics: Any = None  # this app's prometheus CollectorRegistry, set by create_app
    #: When reports arrive and requests are queued; tests give the orchestrator's fake clock.
    clock: Callable[[], datetime] = models.utcnow

    def wake(self) -> None:
        """Tell this process's workers that work was queued."""
        self.wakeup.set()

    def wake_installer(self) -> None:
        """Tell this process's plugin installer that a plugin change was requested."""
        self.plugin_wakeup.set()

    def wake_host_monitor(self) -> None:
        """Tell this process's host monitor that a host was registered or changed (a
        monitor of another process finds it at its next check)."""
        self.host_wakeup.set()


async def app_state(request: Request) -> AppState:
    """Async, so it costs no trip to a worker thread."""
    state: AppState = request.app.state.metapaas
    return state


READ_METHODS = frozenset({"GET", "HEAD"})


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
    state: Annotated[AppState, Depends(app_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Iterator[Context]:
    """The caller's context, with a session read-only for GET and HEAD. Handlers commit,
    anything else rolls back; the session closes when the handler returns.

    Authentication reads in a short session of its own, closed before the handler's
    thread is had: a request waiting for a thread holds no connection.
    """
    with state.readers() as reading:
        principal = authenticate(reading, credentials.credentials if credentials else None)
    note_use(state.sessions, principal)
    read_only = request.method in READ_METHODS
    with (state.readers if read_only else state.sessions)() as session:
        yield Context(
            session=session,
            principal=principal,
            request_id=request.state.request_id,
            state=state,
            read_only=read_only,
        )


Ctx = Annotated[Context, Depends(context, scope="function")]


class RequestIds:
    """ASGI middleware: every response carries ``X-Request-ID``; a caller's own id is kept
    if it sends one. Plain ASGI: it runs on every request, so it stays cheap."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id", "")
        request_id = given[:64] if given else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)
