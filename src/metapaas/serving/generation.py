"""One generation of the control plane, run by the supervisor: API, orchestrator, or both.

``python -m metapaas.serving.generation --role server|api|worker``. It loads
the plugins served at its start and never others; when they change its
watcher asks the supervisor for a hand-over, and when told to ``drain`` it:

1. stops accepting (the next generation accepts on the same socket already),
   stops its orchestrator and installer, and takes itself off the process
   record, so the installer counts only the new generation;
2. answers every request still reaching it with ``Connection: close`` and
   every agent long-poll at once, so clients come back on a new connection,
   which the new generation accepts;
3. exits when its connections are done, or after ``DRAIN_SECONDS``.

It keeps idle connections open longer than clients do (``KEEP_ALIVE_SECONDS``,
against httpx's 5 s), so it is the client that closes an idle connection: a
server closing one races a request the client sends on it at that moment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import uvicorn
from rich.console import Console
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from metapaas.api import build_state, create_app, prepare
from metapaas.api.app import start_listener, start_orchestrator
from metapaas.api.deps import AppState
from metapaas.config import Settings
from metapaas.plugins.served import Watcher
from metapaas.serving.supervisor import CHANNEL_FD_ENV, LISTEN_FD_ENV
from metapaas.tls import CertificateError, ServerCertificate

log = logging.getLogger(__name__)
console = Console(stderr=True)

KEEP_ALIVE_SECONDS = 30.0
DRAIN_SECONDS = 35.0
SHUTDOWN_GRACE_SECONDS = 2
"""Seconds a stopping generation gives open requests (agents' long-polls) before it closes them."""
ROLES = ("server", "api", "worker")
_PR_SET_PDEATHSIG = 1
CERTIFICATE_CHECK_SECONDS = 3600.0
"""How often a serving generation checks its certificate: renewal is due a month ahead."""


class Channel:
    """This generation's end of the supervisor's socket pair."""

    def __init__(self, fd: int) -> None:
        self.sock = socket.socket(fileno=fd)
        self._send_lock = threading.Lock()

    def send(self, message: str) -> None:
        with self._send_lock, contextlib.suppress(OSError):
            self.sock.sendall(message.encode() + b"\n")

    def listen(self, on_message: Callable[[str], None]) -> None:
        """Read messages on a thread; the supervisor gone means this process goes too."""

        def read() -> None:
            with self.sock.makefile("rb") as lines:
                for line in lines:
                    on_message(line.decode().strip())
            log.error("the supervisor is gone: exiting at once, as it did")
            os._exit(1)

        threading.Thread(target=read, name="supervisor-channel", daemon=True).start()


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the supervisor dies, however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class CloseWhenDraining:
    """ASGI middleware: once ``draining``, every answer says ``Connection: close``."""

    def __init__(self, app: ASGIApp, draining: threading.Event) -> None:
        self.app = app
        self.draining = draining

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and self.draining.is_set():
                MutableHeaders(scope=message)["connection"] = "close"
            await send(message)

        await self.app(scope, receive, send_closing)


class GenerationServer(uvicorn.Server):
    """uvicorn, saying ``ready`` once it accepts and draining when told to."""

    def __init__(
        self,
        config: uvicorn.Config,
        channel: Channel,
        draining: threading.Event,
        on_drain: Callable[[], None],
    ) -> None:
        super().__init__(config)
        self.channel = channel
        self.draining = draining
        self.on_drain = on_drain

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            self.channel.send("ready")

    def drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called from any thread: start draining on the server's loop."""
        loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        if self.draining.is_set():
            return
        self.draining.set()
        for server in self.servers:
            server.close()  # this process's copy of the socket; the next one keeps its own
        threading.Thread(target=self.on_drain, name="drain", daemon=True).start()
        asyncio.get_running_loop().create_task(self._exit_when_idle())

    async def _exit_when_idle(self) -> None:
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.server_state.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        self.should_exit = True


def _announce(state: AppState, token: str | None, announce_token: bool) -> None:
    for loaded in state.registry:
        if not loaded.usable:
            console.print(f"[yellow]type {loaded.slug} is in ERROR:[/] {loaded.reason}")
    if token is not None:
        path = write_token_file(state.settings.resolved_home, token)
        if announce_token:
            console.print(f"[bold]admin token (shown once, also in {path}):[/]")
            print(token, flush=True)


def write_token_file(home: Path, token: str) -> Path:
    """Keep the admin token where only its owner can read it (mode 0600)."""
    path = home / "admin.token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    os.chmod(path, 0o600)
    return path


class Background:
    """What runs beside the API in this generation; stopped once, at drain or at exit."""

    def __init__(self, state: AppState, role: str, channel: Channel) -> None:
        self.stops: list[Callable[[], None]] = []
        self.watcher = Watcher(
            state.sessions,
            state.readers,
            state.settings.resolved_home,
            role,
            state.wheelhouses,
            on_change=lambda: channel.send("reload"),
        )
        self.watcher.start()
        self.stops.append(self.watcher.stop)
        if role in ("server", "worker"):
            self.stops.append(start_orchestrator(state))
        if role in ("server", "api"):
            self.stops.append(start_listener(state))
        self._lock = threading.Lock()

    def stop(self) -> None:
        with self._lock:
            stops, self.stops = self.stops, []
        for stop in stops:
            stop()


def run(role: str, announce_token: bool) -> None:
    channel = Channel(int(os.environ[CHANNEL_FD_ENV]))
    die_with_parent()
    settings = Settings()
    state = build_state(settings)
    _announce(state, prepare(state), announce_token)
    background = Background(state, role, channel)
    if role == "worker":
        _run_worker(channel, background)
    else:
        _run_api(state, channel, background)


def _run_worker(channel: Channel, background: Background) -> None:
    done = threading.Event()
    channel.listen(lambda message: done.set() if message == "drain" else None)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    channel.send("ready")
    console.print("worker running; SIGTERM stops it")
    done.wait()
    background.stop()


def _run_api(state: AppState, channel: Channel, background: Background) -> None:
    settings = state.settings

    def drained() -> None:
        state.notifier.close()  # long-polls answer now and come back to the next generation
        background.stop()

    draining = threading.Event()
    certificate = _server_certificate(state)
    certificate_file, key_file = certificate.files if certificate is not None else (None, None)
    config = uvicorn.Config(
        CloseWhenDraining(create_app(state), draining),
        log_level="info",
        timeout_keep_alive=int(KEEP_ALIVE_SECONDS),
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        ssl_certfile=certificate_file,
        ssl_keyfile=key_file,
    )
    if certificate is not None:
        background.stops.append(_keep_current(certificate, config))
    server = GenerationServer(config, channel, draining, drained)
    loop_box: list[asyncio.AbstractEventLoop] = []

    def on_message(message: str) -> None:
        if message == "drain" and loop_box:
            server.drain(loop_box[0])
        elif message.startswith("reload-failed "):
            background.watcher.handover_failed(message.removeprefix("reload-failed "))

    async def serve() -> None:
        loop_box.append(asyncio.get_running_loop())
        channel.listen(on_message)
        listener = socket.socket(fileno=int(os.environ[LISTEN_FD_ENV]))
        scheme = "https" if certificate is not None else "http"
        console.print(
            f"MetaPaaS on {scheme}://{settings.host}:{settings.port} (home "
            f"{settings.resolved_home}, database {state.engine.url.render_as_string()})"
        )
        if certificate is not None:
            fingerprint = certificate.authority.fingerprint  # ":AB:" is no emoji here
            message = f"CA certificate {fingerprint} at /v1/ca.pem"
            console.print(message, emoji=False, soft_wrap=True)  # one line, to copy whole
        await server.serve(sockets=[listener])

    try:
        asyncio.run(serve())
    finally:
        background.stop()


def _server_certificate(state: AppState) -> ServerCertificate | None:
    """The listener's certificate, issued now (None: it serves plain HTTP)."""
    if not state.settings.serves_tls:
        return None
    certificate = ServerCertificate(state.settings, state.authority())
    certificate.refresh()
    return certificate


def _keep_current(certificate: ServerCertificate, config: uvicorn.Config) -> Callable[[], None]:
    """Renew the listener's certificate in its live context while this generation serves
    (the operator's files are read again); returns what stops it."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(CERTIFICATE_CHECK_SECONDS):
            if isinstance(config.ssl, ssl.SSLContext):
                try:
                    certificate.refresh(config.ssl)
                except CertificateError as exc:
                    log.error("the API's certificate was not renewed: %s", exc)

    threading.Thread(target=renew, name="certificate", daemon=True).start()
    return stop.set


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m metapaas.serving.generation")
    parser.add_argument("--role", choices=ROLES, required=True)
    parser.add_argument("--announce-token", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    run(args.role, args.announce_token)


if __name__ == "__main__":
    main()
