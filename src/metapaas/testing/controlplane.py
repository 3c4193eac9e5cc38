"""A real control plane process for end-to-end tests and benchmarks: `metapaas server`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from metapaas import tls
from metapaas.config import Settings
from metapaas.db import make_engine, models


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll until ``condition`` returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class ControlPlane:
    """Starts, kills and restarts `metapaas server` (or `api`, `worker`); keeps its home and
    database. The server runs in a session of its own: its supervisor and the generations
    it runs are one process group, killed together as a crash of the machine would.

    ``netns`` runs it in that network namespace, listening on ``address`` there (the
    control-plane namespace of a :class:`~metapaas.testing.netlab.NetLab`, where the lab's
    machines reach it)."""

    def __init__(
        self,
        home: Path,
        database_url: str,
        *,
        command: str = "server",
        netns: str = "",
        address: str = "127.0.0.1",
        **env: str,
    ) -> None:
        self.home = home
        self.database_url = database_url
        self.command = command
        self.port = free_port()
        self.extra_env = {"METAPAAS_HOST": address, **env}
        # As the server will read them (model_construct reads no environment of this one).
        settings = Settings.model_construct(
            host=address,
            tls=env.get("METAPAAS_TLS") == "true",
            insecure=env.get("METAPAAS_INSECURE") == "true",
        )
        self.url = f"{'https' if settings.serves_tls else 'http'}://{address}:{self.port}"
        self.netns = netns
        self.process: subprocess.Popen[bytes] | None = None
        self.token = ""

    def start(self) -> None:
        env = {
            **os.environ,
            "METAPAAS_HOME": str(self.home),
            "METAPAAS_DATABASE_URL": self.database_url,
            "METAPAAS_PORT": str(self.port),
            "METAPAAS_RESYNC_SECONDS": "2",
            **self.extra_env,
        }
        self.home.mkdir(parents=True, exist_ok=True)
        log = (self.home / "server.log").open("ab")
        inside = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.process = subprocess.Popen(
            [*inside, sys.executable, "-m", "metapaas.cli", self.command],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if self.command == "worker":
            return
        wait_for(self._healthy, 60, "the control plane to answer /healthz")
        token_file = self.home / "admin.token"  # written by the replica that made the admin
        if token_file.exists():
            self.token = token_file.read_text().strip()

    @property
    def ca_file(self) -> Path:
        """The CA certificate an ``https`` control plane leaves in its home, what its
        clients verify it with."""
        return tls.authority_file(self.home)

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What a client of this control plane verifies it with."""
        if not self.url.startswith("https://"):
            return True
        return ssl.create_default_context(cafile=self.ca_file)

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            log = (self.home / "server.log").read_text()[-3000:]
            raise AssertionError(f"server exited with {self.process.returncode}:\n{log}")
        try:
            answer = httpx.get(f"{self.url}/healthz", timeout=1, verify=self.verify)
            return answer.status_code == 200
        except (httpx.HTTPError, OSError):  # OSError: no CA file yet
            return False

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
            verify=self.verify,
        )

    def wait_status(
        self, client: httpx.Client, path: str, status: str, timeout: float = 90
    ) -> dict[str, Any]:
        """Wait until the instance at ``path`` has ``status``; an ``ERROR`` on the way fails."""
        return _wait_instance(
            client, path, lambda body: body.get("status") == status, f"be {status}", timeout
        )

    def create_instance(
        self, client: httpx.Client, slug: str, body: dict[str, Any], timeout: float = 120
    ) -> dict[str, Any]:
        """POST an instance of ``slug`` and wait until it is ``ACTIVE``; return its body."""
        created = client.post(f"/v1/types/{slug}/instances", json=body)
        assert created.status_code == 202, created.text
        path = f"/v1/types/{slug}/instances/{created.json()['id']}"
        return self.wait_status(client, path, "ACTIVE", timeout)

    def wait_converged(
        self, client: httpx.Client, path: str, timeout: float = 90
    ) -> dict[str, Any]:
        """Wait until the instance at ``path`` is ``ACTIVE`` with its newest generation applied
        (after a child resource or spec change)."""

        def converged(body: dict[str, Any]) -> bool:
            active = body.get("status") == "ACTIVE"
            return active and body["observed_generation"] == body["generation"]

        return _wait_instance(client, path, converged, "converge", timeout)

    def node_names(self) -> list[str]:
        """The nodes the local provider keeps under this control plane's home."""
        nodes = self.home / "nodes"
        if not nodes.exists():
            return []
        return sorted(p.name for p in nodes.iterdir() if not p.name.startswith("."))

    def open_operations(self) -> list[tuple[str, str]]:
        """``(kind, state)`` of every operation still pending or running, read from the
        database: after convergence there should be none."""
        engine = make_engine(self.database_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    select(models.Operation.kind, models.Operation.state).where(
                        models.Operation.state.in_(models.OPEN_OPERATIONS)
                    )
                )
                return [(kind, state) for kind, state in rows]
        finally:
            engine.dispose()

    def agent_pids(self) -> list[int]:
        """Every living agent process working under this control plane's nodes, recorded
        or not: after a crash there must be exactly one per node."""
        nodes = str((self.home / "nodes").resolve())
        found = []
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                state = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[0]
            except OSError:  # gone meanwhile
                continue
            if cwd.startswith(nodes + "/") and b"metapaas.agent" in argv and state != "Z":
                found.append(int(entry))
        return sorted(found)

    def kill_leftover_agents(self) -> list[int]:
        """SIGKILL every agent still working under this control plane's nodes, with its
        process group (its services); returns their pids."""
        left = self.agent_pids()
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        return left

    def node_pid(self, name: str) -> int:
        """The pid of a node's agent, as the local provider recorded it."""
        record = json.loads((self.home / "nodes" / name / "node.json").read_text())
        pid: int = record["pid"]
        return pid

    def kill_node(self, name: str) -> None:
        """SIGKILL a node's agent and its services at once, as a crashed machine would be."""
        os.killpg(os.getpgid(self.node_pid(name)), signal.SIGKILL)

    def delete_all_instances(self, timeout: float) -> None:
        """Delete every instance of every usable type and wait until none is left."""
        with self.client() as client:
            slugs = [t["slug"] for t in client.get("/v1/types/").json()["items"]]
            paths = [f"/v1/types/{slug}/instances" for slug in slugs]

            def remaining() -> list[str]:
                left = []
                for path in paths:
                    answer = client.get(path)
                    if answer.status_code == 200:
                        left += [f"{path}/{item['id']}" for item in answer.json()["items"]]
                return left

            for path in remaining():
                client.delete(path)
            wait_for(lambda: not remaining(), timeout, "every instance to be deleted")


def _wait_instance(
    client: httpx.Client,
    path: str,
    done: Callable[[dict[str, Any]], bool],
    what: str,
    timeout: float,
) -> dict[str, Any]:
    """Poll the instance at ``path`` until ``done``; reaching ``ERROR`` instead fails at once
    (unless ``ERROR`` is what ``done`` waits for)."""

    def reached() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(path).json()
        if done(body):
            return body
        if body.get("status") == "ERROR":
            raise AssertionError(f"{path} went ERROR: {body.get('status_reason')}")
        return None

    result: dict[str, Any] = wait_for(reached, timeout, f"{path} to {what}")
    return result
