"""The node's side of the Agent API: register, long-poll metadata, report.

Connection errors and 5xx answers are retried a few times with backoff and
then raised as ``TemporaryError``; a refused credential or request is a
``PermanentError``. The agent loop catches both, so a control plane that is
away never takes the node's services down with it.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypedDict

import httpx

from metapaas import sdk
from metapaas.agent.commands import CommandResult
from metapaas.agent.health import Health
from metapaas.config import is_loopback
from metapaas.sdk import PermanentError, TemporaryError

NodeState = Literal["applying", "ready", "failed"]

MAX_WAIT = 30.0
ATTEMPTS = 4
FIRST_RETRY_DELAY = 0.5

log = logging.getLogger(__name__)


class Event(TypedDict):
    kind: str
    message: str


class Report(TypedDict):
    """The body of ``POST /v1/agent/report``, also sent as the heartbeat."""

    applied_revision: int
    applied_generation: int
    state: NodeState
    health: Health
    message: str
    events: list[Event]
    archive: dict[str, Any] | None
    """What the engine's archive step last recorded (``sdk.ArchiveStatus``), if it has."""


class Refused(PermanentError):
    """The control plane refused the bootstrap token or the credential (401)."""


class Untrusted(PermanentError):
    """The server's certificate is not signed by the CA this node was given: it is not
    this node's control plane, and asking again cannot make it so."""


CONTROL_PLANE_CA = "control-plane-ca.pem"
"""The CA certificate the provider leaves in the node directory, beside the bootstrap
token: what an ``https`` control plane's certificate must be signed by."""


def verification(base_url: str, node_dir: Path) -> ssl.SSLContext | bool:
    """How the agent checks the control plane it talks to.

    ``https``: against ``<dir>/control-plane-ca.pem`` when the provider left one, else
    the system's trust store (an operator's publicly trusted certificate). Plain
    ``http`` only to a loopback address: a credential never crosses a network in clear.
    """
    url = httpx.URL(base_url)
    if url.scheme == "http":
        if not is_loopback(url.host):
            raise PermanentError(
                f"the control plane {base_url} is plain HTTP on a network address: this "
                "agent sends its credential only over HTTPS there (serve with TLS, the "
                "default of `metapaas up` off loopback)"
            )
        return True
    authority = node_dir / CONTROL_PLANE_CA
    if authority.is_file() and authority.stat().st_size:
        return ssl.create_default_context(cafile=str(authority))
    return True


class AgentClient:
    """HTTP client of one node; its credential lives in ``<dir>/agent/credential`` (0600)."""

    def __init__(
        self,
        base_url: str,
        node_dir: Path,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        verify = verification(base_url, node_dir)
        self._http = httpx.Client(
            base_url=base_url, transport=transport, timeout=10.0, verify=verify
        )
        self._node_dir = node_dir
        self._sleep = sleep
        self._credential = ""

    @property
    def credential_path(self) -> Path:
        return self._node_dir / "agent" / "credential"

    def ensure_registered(self) -> None:
        """Exchange ``<dir>/bootstrap.token`` for a credential, or use the saved one.

        A provider leaves a fresh token at every start of the node, and to the control
        plane each start is a new incarnation of the node, whose credential the token
        gets. A token the control plane refuses (this agent restarted on its own, after
        it exchanged it) leaves the saved credential in use.
        """
        if self._credential:
            return
        token_path = self._node_dir / "bootstrap.token"
        saved = self.credential_path.exists()
        if token_path.exists():
            try:
                self.register(token_path.read_text(encoding="utf-8").strip())
            except Refused:
                if not saved:
                    raise
                log.info("bootstrap token refused; using the saved credential")
            else:
                return
        elif not saved:
            raise PermanentError(f"no credential and no bootstrap token in {self._node_dir}")
        self._credential = self.credential_path.read_text(encoding="utf-8").strip()

    def register(self, bootstrap_token: str) -> str:
        """Exchange the one-time bootstrap token for a credential; returns the node name."""
        request = {"bootstrap_token": bootstrap_token}
        body = self._call("POST", "/v1/agent/register", json=request).json()
        self.credential_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        sdk.write_private(self.credential_path, body["credential"].encode())
        self._credential = body["credential"]
        log.info("registered as node %s", body["node"])
        return str(body["node"])

    def metadata(self, after: int, wait: float) -> dict[str, Any] | None:
        """The metadata document newer than revision ``after``; None when ``wait`` passed."""
        wait = min(wait, MAX_WAIT)
        response = self._call(
            "GET",
            "/v1/agent/metadata",
            params={"after": after, "wait": wait},
            timeout=wait + 10.0,
        )
        if response.status_code == httpx.codes.NO_CONTENT:
            return None
        document: dict[str, Any] = response.json()
        return document

    def report(self, report: Report) -> None:
        """Send the node's state; this is also the heartbeat."""
        self._call("POST", "/v1/agent/report", json=report)

    def command_result(self, command_id: str, result: CommandResult) -> None:
        """Send a lifecycle command's state (``running`` or its result)."""
        self._call("POST", f"/v1/agent/commands/{command_id}", json=result.as_json())

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._with_retries(method, path, **kwargs)
        if response.status_code == httpx.codes.UNAUTHORIZED:
            raise Refused(f"the control plane refused this node's credentials ({path})")
        if response.is_error:
            status = response.status_code
            raise PermanentError(f"{method} {path} answered {status}: {response.text}")
        return response

    def _with_retries(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Retry connection errors and 5xx, then give up with a ``TemporaryError``."""
        headers = {"Authorization": f"Bearer {self._credential}"} if self._credential else {}
        delay = FIRST_RETRY_DELAY
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = self._http.request(method, path, headers=headers, **kwargs)
            except httpx.ConnectError as exc:
                if _verification_failed(exc):
                    raise Untrusted(f"{method} {path}: {exc}; nothing was sent") from exc
                problem = f"{type(exc).__name__}: {exc}"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if not response.is_server_error:
                    return response
                problem = f"answered {response.status_code}"
            if attempt < ATTEMPTS:
                log.info("%s %s failed (%s); retrying in %g s", method, path, problem, delay)
                self._sleep(delay)
                delay *= 2
        raise TemporaryError(f"control plane unreachable ({method} {path}): {problem}")


def _verification_failed(error: BaseException) -> bool:
    """Whether the TLS handshake failed on the server's certificate (httpx wraps the
    ``ssl`` error in its own)."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False
