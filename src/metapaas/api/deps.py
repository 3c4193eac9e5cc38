"""What a request handler gets injected: the app's state and the caller's context."""

from __future__ import annotations

import functools
import inspect
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from metapaas import tls
from metapaas.api import boundary
from metapaas.config import Settings
from metapaas.db import Sealer, models
from metapaas.iam import Principal, audit, authenticate, given_bearer, note_use
from metapaas.metadata import Notifier
from metapaas.plugins import Registry
from metapaas.providers.installed import Providers


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
    #: The provider distributions and the context each is lent (set by ``build_state``).
    providers: Providers = field(default_factory=Providers.none)
    #: The wheelhouses of the plugins installed at run time that this process loaded.
    wheelhouses: list[str] = field(default_factory=list)
    metrics: Any = None  # this app's prometheus CollectorRegistry, set by create_app
    #: When reports arrive and requests are queued; tests give the orchestrator's fake clock.
    clock: Callable[[], datetime] = models.utcnow
    _authority: tls.Authority | None = field(default=None, repr=False)
    _authority_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def authority(self) -> tls.Authority:
        """The CA this control plane signs with, loaded (or made) once per process, after
        the migrations made its table."""
        with self._authority_lock:
            if self._authority is None:
                self._authority = tls.load_authority(
                    self.sessions, self.sealer, self.settings.operator_authority, self.clock
                )
            return self._authority

    def wake(self) -> None:
        """Tell this process's workers that work was queued."""
        self.wakeup.set()

    def wake_installer(self) -> None:
        """Tell this process's plugin installer that a plugin change was requested."""
        self.plugin_wakeup.set()


async def app_state(request: Request) -> AppState:
    """Async, so it costs no trip to a worker thread."""
    state: AppState = request.app.state.metapaas
    return state


READ_METHODS = frozenset({"GET", "HEAD"})


_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer mpt_...`")


@dataclass
class Context:
    """The caller and the means to act for it, in one transaction.

    Made by the :data:`Ctx` dependency without any I/O; its route (:class:`InContext`)
    opens it in the handler's own thread, so that authentication, the handler's session
    and the handler cost one trip to a request thread.
    """

    state: AppState
    request_id: str
    bearer: str
    read_only: bool = False
    _opened: tuple[Session, Principal] | None = field(default=None, repr=False)

    @property
    def session(self) -> Session:
        return self._open()[0]

    @property
    def principal(self) -> Principal:
        return self._open()[1]

    def _open(self) -> tuple[Session, Principal]:
        if self._opened is None:  # a handler on a router without InContext: refused
            raise RuntimeError("the request's context is opened by its route (InContext)")
        return self._opened

    @contextmanager
    def opened(self) -> Iterator[None]:
        """Authenticate, then hold a session until the handler returns: for GET and HEAD
        the read-only one that found the token (one transaction for both), else a
        writing one, opened once the reading one is closed. Handlers commit; anything
        else rolls back when the session closes."""
        state = self.state
        with state.readers() as reading:
            principal = authenticate(reading, self.bearer)
            note_use(state.sessions, principal)
            if self.read_only:
                with self._serving(reading, principal):
                    yield
                return
        with state.sessions() as session, self._serving(session, principal):
            yield

    @contextmanager
    def _serving(self, session: Session, principal: Principal) -> Iterator[None]:
        self._opened = (session, principal)
        try:
            yield
        finally:
            self._opened = None

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


async def context(
    request: Request,
    state: Annotated[AppState, Depends(app_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Context:
    """The caller's context, not yet opened. Async and without I/O (but for the body,
    which the request has read): a sync dependency would cost a trip to a request thread
    to enter and another to exit, and its session would hold a connection while the
    request waits for the handler's thread. A request without a token is refused here,
    before its parameters and its body are validated."""
    bearer = given_bearer(credentials.credentials if credentials else None)
    await boundary.typed_body(request)
    return Context(
        state=state,
        request_id=request.state.request_id,
        bearer=bearer,
        read_only=request.method in READ_METHODS,
    )


Ctx = Annotated[Context, Depends(context)]


class InContext(APIRoute):
    """A route whose sync handler opens the :class:`Context` it is given in its own thread
    (every router of the API uses this class)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _opening_contexts(endpoint), **kwargs)


def _opening_contexts(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint``, opening each :class:`Context` argument around it; FastAPI reads the
    wrapped signature. An async handler is left alone: it would open a session on the
    event loop, so a context given to one stays closed and refuses to be used."""
    if inspect.iscoroutinefunction(endpoint):
        return endpoint

    @functools.wraps(endpoint)
    def handle(*args: Any, **kwargs: Any) -> Any:
        with ExitStack() as stack:
            for value in kwargs.values():
                if isinstance(value, Context):
                    stack.enter_context(value.opened())
            return endpoint(*args, **kwargs)

    return handle


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
