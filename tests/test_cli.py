"""``metapaas up`` as a user runs it: a real process on a free port (issue 2, point 2)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

METAPAAS = Path(sys.executable).with_name("metapaas")
START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    log: Path

    def stop(self) -> str:
        """Stop the server (bounded) and return what it printed."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        return self.process.stdout.read() if self.process.stdout else ""


class Starter:
    """Starts ``metapaas up`` processes and stops every one it started."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.servers: list[Server] = []

    def start(self, database_url: str | None = None) -> Server:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("METAPAAS_")}
        env["METAPAAS_HOME"] = str(self.home)
        if database_url is not None:
            env["METAPAAS_DATABASE_URL"] = database_url
        log = self.home.parent / f"server-{len(self.servers)}.log"
        process = subprocess.Popen(
            [str(METAPAAS), "up", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )
        server = Server(process, f"http://127.0.0.1:{port}", log)
        self.servers.append(server)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"metapaas up exited {process.returncode}: {log.read_text()}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"metapaas up did not answer within {START_TIMEOUT}s: {log.read_text()}")

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def starter(tmp_path: Path) -> Iterator[Starter]:
    starter = Starter(tmp_path / "home")
    yield starter
    starter.stop_all()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_up_prints_the_admin_token_once_and_keeps_it_in_a_private_file(
    starter: Starter, backend: str, request: pytest.FixtureRequest
) -> None:
    database_url = None
    if backend == "postgresql":
        factory = request.getfixturevalue("database_factory")
        database_url = factory.new("postgresql")
        request.addfinalizer(lambda: factory.drop(database_url))

    first = starter.start(database_url)
    token_file = starter.home / "admin.token"
    token = token_file.read_text().strip()
    assert token.startswith("mpt_")
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    if backend == "sqlite":
        assert (starter.home / "metapaas.db").exists()
    else:
        assert not (starter.home / "metapaas.db").exists()

    headers = {"Authorization": f"Bearer {token}"}
    types = httpx.get(f"{first.url}/v1/types/", headers=headers, timeout=10)
    assert types.status_code == 200
    assert "demo" in {t["slug"] for t in types.json()["items"]}
    assert httpx.get(f"{first.url}/readyz", timeout=10).status_code == 200
    printed = first.stop()
    assert printed.count(token) == 1
    mtime = token_file.stat().st_mtime_ns

    second = starter.start(database_url)
    assert httpx.get(f"{second.url}/v1/types/", headers=headers, timeout=10).status_code == 200
    printed_again = second.stop()
    assert "mpt_" not in printed_again
    assert token_file.read_text().strip() == token
    assert token_file.stat().st_mtime_ns == mtime
