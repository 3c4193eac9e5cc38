"""The real agent process: ``python -m metapaas.agent --url URL --dir DIR``."""

from __future__ import annotations

import signal
import socket
import ssl
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from metapaas import tls
from metapaas.db import models
from metapaas.sdk import TLS_AUTHORITY, TLS_KEY
from metapaas.testing import modules_loaded_by
from metapaas_demo import Demo

from .helpers import ControlPlane, metadata

StartAgent = Callable[[], subprocess.Popen[str]]


@pytest.fixture
def agent(control_plane: tuple[ControlPlane, str], tmp_path: Path) -> Iterator[StartAgent]:
    """Starts the agent on demand; stops it with SIGTERM and yields its exit to the test."""
    plane, url = control_plane
    (tmp_path / "bootstrap.token").write_text(plane.bootstrap_token)
    started: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        argv = [sys.executable, "-m", "metapaas.agent", "--url", url, "--dir", str(tmp_path)]
        started.append(subprocess.Popen(argv, stderr=subprocess.PIPE, text=True))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=20)


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    return stderr


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


def test_the_agent_registers_reports_a_missing_plugin_and_exits_0_on_sigterm(
    control_plane: tuple[ControlPlane, str], tmp_path: Path, agent: StartAgent
) -> None:
    plane, _ = control_plane
    plane.documents.append(metadata(revision=3, slug="not_installed"))
    process = agent()
    report = plane.wait_for_report(lambda report: report["applied_revision"] == 3)
    stderr = stop(process)
    assert report is not None, stderr
    assert report["state"] == "failed"
    assert "no installed plugin declares the type 'not_installed'" in report["message"]
    assert (tmp_path / "agent" / "credential").read_text() == plane.credential
    assert "SIGTERM received; stopping" in stderr


@pytest.mark.e2e
def test_the_demo_plugin_becomes_healthy_and_its_service_stops_with_the_agent(
    control_plane: tuple[ControlPlane, str], tmp_path: Path, agent: StartAgent
) -> None:
    plane, _ = control_plane
    port, https = free_port(), free_port()
    authority = tls.Authority.new("test CA", models.utcnow())
    issued = authority.issue(["127.0.0.1"], models.utcnow())
    pem = {"certificate": issued.certificate, "key": issued.key}
    document = metadata(revision=1)
    document["node"] = {
        **document["node"],
        "role": "web",
        "ports": {"http": port, "https": https},
        "pem": {**pem, "authority": authority.certificate_pem},
    }
    document["resources"] = {"pages": [{"name": "about", "content": "hello"}]}
    plane.documents.append(document)
    process = agent()
    report = plane.wait_for_report(lambda report: report["health"] == "healthy")
    trusted = ssl.create_default_context(cafile=tmp_path / TLS_AUTHORITY)
    served = httpx.get(f"https://127.0.0.1:{https}/about", verify=trusted)
    stop(process)
    assert report is not None
    assert (report["state"], report["applied_revision"]) == ("ready", 1)
    assert '"about": "hello"' in (tmp_path / "site.json").read_text()
    assert served.text == "hello", "the node's certificate, as the agent wrote it, serves"
    assert stat.S_IMODE((tmp_path / TLS_KEY).stat().st_mode) == 0o600
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_the_agent_starts_without_httpx_s_command_line_client() -> None:
    """httpx imports its CLI (rich, click, pygments) when they are installed: 10-20 % of
    the agent's import time, paid before a new node can register."""
    loaded = modules_loaded_by("metapaas.agent.__main__")
    assert "httpx" in loaded
    assert not {name.split(".")[0] for name in loaded} & {"rich", "click", "pygments"}


def test_the_demo_service_starts_on_the_standard_library_alone() -> None:
    """Its start is on every demo node's way to ACTIVE: loading the type's declaration
    (pydantic, the SDK) would be half of it."""
    (service,) = Demo().data_plane("web", Demo.versions[0]).services
    started = subprocess.run(
        [service.argv[0], "-X", "importtime", service.argv[1], "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in started.stderr.splitlines()}
    assert "http.server" in imported
    assert not {name.split(".")[0] for name in imported} & {"pydantic", "metapaas"}
