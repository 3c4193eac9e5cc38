"""Helpers of the agent's tests: a fake clock, a metadata document,
short-lived real processes and a tiny real Agent API."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from metapaas.agent.client import Report
from metapaas.agent.commands import CommandResult


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def python(code: str, *args: str) -> tuple[str, ...]:
    """An argv that runs ``code`` with this interpreter: a real process, no shell."""
    return (sys.executable, "-c", code, *args)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie waiting for its reaper counts as dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def metadata(revision: int = 1, **instance: Any) -> dict[str, Any]:
    """A metadata document as the contract shows it."""
    return {
        "revision": revision,
        "reset": False,
        "instance": {
            "id": "1a2b3c4d-0000",
            "slug": "demo",
            "name": "hello",
            "project_id": "p1",
            "generation": 3,
            "spec": {"message": "hi"},
            "secrets": {"password": "s3cret"},
            **instance,
        },
        "version": {"name": "1.0", "engine": {}},
        "node": {
            "name": "1a2b3c4d-main-0",
            "role": "main",
            "ordinal": 0,
            "address": "127.0.0.1",
            "ports": {"http": 41231},
        },
        "peers": {"main": []},
        "resources": {},
        "extra": {},
        "commands": [],
    }


class Recorder:
    """The control plane as the node sees it: it only listens."""

    def __init__(self) -> None:
        self.reports: list[Report] = []
        self.command_results: list[tuple[str, str]] = []
        self.results: dict[str, CommandResult] = {}
        """The last result sent of each command."""
        self.progress: list[dict[str, Any]] = []
        """Every progress sent with a ``running`` result, in order."""

    def report(self, report: Report) -> None:
        self.reports.append(report)

    def command_result(self, command_id: str, result: CommandResult) -> None:
        self.command_results.append((command_id, result.state))
        self.results[command_id] = result
        if result.progress is not None:
            self.progress.append(result.progress)


class ControlPlane:
    """The Agent API as the contract describes it, with what each call received."""

    bootstrap_token = "bootstrap-1"
    credential = "credential-1"

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []
        self.registrations = 0
        self.reports: list[dict[str, Any]] = []
        self.command_results: list[tuple[str, dict[str, Any]]] = []
        self.failures_to_serve = 0
        self.unauthorized = 0
        self.changed = threading.Condition()

    def newest_after(self, after: int) -> dict[str, Any] | None:
        newer = [d for d in self.documents if d["revision"] > after]
        return newer[-1] if newer else None

    def record(self, kind: str, item: Any) -> None:
        with self.changed:
            getattr(self, kind).append(item)
            self.changed.notify_all()

    def wait_for_report(
        self, wanted: Callable[[dict[str, Any]], bool], timeout: float = 20.0
    ) -> dict[str, Any] | None:
        """The first report ``wanted`` accepts, waiting up to ``timeout`` for it."""

        def found() -> dict[str, Any] | None:
            return next((report for report in self.reports if wanted(report)), None)

        with self.changed:
            self.changed.wait_for(lambda: found() is not None, timeout=timeout)
            return found()


def handler_for(plane: ControlPlane) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self._failing():
                return
            path = urlparse(self.path).path
            if path == "/v1/agent/register":
                self._register(body)
            elif self._authorized():
                if path == "/v1/agent/report":
                    plane.record("reports", body)
                else:
                    plane.record("command_results", (path.rsplit("/", 1)[1], body))
                self._answer(204)

        def do_GET(self) -> None:
            if self._failing() or not self._authorized():
                return
            query = parse_qs(urlparse(self.path).query)
            document = plane.newest_after(int(query.get("after", ["0"])[0]))
            if document is None:
                with plane.changed:
                    plane.changed.wait(timeout=min(float(query["wait"][0]), 0.2))
                self._answer(204)
            else:
                self._answer(200, document)

        def _register(self, body: dict[str, Any]) -> None:
            if body.get("bootstrap_token") != plane.bootstrap_token:
                self._answer(401, {"detail": "unknown token"})
                return
            plane.registrations += 1
            self._answer(200, {"node": "1a2b3c4d-main-0", "credential": plane.credential})

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {plane.credential}":
                return True
            plane.unauthorized += 1
            self._answer(401, {"detail": "bad credential"})
            return False

        def _failing(self) -> bool:
            if plane.failures_to_serve <= 0:
                return False
            plane.failures_to_serve -= 1
            self._answer(503, {"detail": "try later"})
            return True

        def _answer(self, status: int, body: Any = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
