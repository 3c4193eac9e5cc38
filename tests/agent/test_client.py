"""The Agent API client against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from metapaas.agent.client import AgentClient, Report
from metapaas.agent.commands import CommandResult
from metapaas.sdk import PermanentError, TemporaryError

from .helpers import ControlPlane, metadata

REPORT = Report(
    applied_revision=1,
    applied_generation=3,
    state="ready",
    health="healthy",
    message="",
    events=[{"kind": "config_applied", "message": "app.conf changed"}],
    archive=None,
)


def client_for(url: str, node_dir: Path, delays: list[float] | None = None) -> AgentClient:
    record = delays.append if delays is not None else lambda _: None
    return AgentClient(url, node_dir, sleep=record)


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    (tmp_path / "bootstrap.token").write_text(ControlPlane.bootstrap_token + "\n")
    return tmp_path


def test_registration_keeps_the_credential_0600_and_a_restart_reuses_it(
    control_plane: tuple[ControlPlane, str], node_dir: Path
) -> None:
    plane, url = control_plane
    client_for(url, node_dir).ensure_registered()
    credential = node_dir / "agent" / "credential"
    assert credential.read_text() == plane.credential
    assert stat.S_IMODE(credential.stat().st_mode) == 0o600
    (node_dir / "bootstrap.token").unlink()
    restarted = client_for(url, node_dir)
    restarted.ensure_registered()
    restarted.report(REPORT)
    assert plane.registrations == 1
    assert plane.reports == [REPORT]


@pytest.mark.parametrize(
    ("token", "explained"),
    [
        pytest.param("used-or-unknown", "refused", id="a refused bootstrap token is permanent"),
        pytest.param(None, "no bootstrap token", id="no token and no credential is permanent"),
    ],
)
def test_registration_that_cannot_succeed_is_a_permanent_error(
    control_plane: tuple[ControlPlane, str], tmp_path: Path, token: str | None, explained: str
) -> None:
    _, url = control_plane
    if token is not None:
        (tmp_path / "bootstrap.token").write_text(token)
    with pytest.raises(PermanentError, match=explained):
        client_for(url, tmp_path).ensure_registered()
    assert not (tmp_path / "agent" / "credential").exists()


def test_metadata_is_the_newer_document_or_none_after_the_wait(
    control_plane: tuple[ControlPlane, str], node_dir: Path
) -> None:
    plane, url = control_plane
    plane.documents.append(metadata(revision=7))
    client = client_for(url, node_dir)
    client.ensure_registered()
    assert client.metadata(after=0, wait=0.1) == metadata(revision=7)
    assert client.metadata(after=7, wait=0.1) is None


def test_command_results_are_posted_under_their_id(
    control_plane: tuple[ControlPlane, str], node_dir: Path
) -> None:
    plane, url = control_plane
    client = client_for(url, node_dir)
    client.ensure_registered()
    client.command_result("c1", CommandResult(state="failed", exit_code=None, output="timed out"))
    sent = {"state": "failed", "exit_code": None, "output": "timed out", "result": None}
    assert plane.command_results == [("c1", {**sent, "progress": None})]


def test_a_refused_credential_is_a_permanent_error(
    control_plane: tuple[ControlPlane, str], tmp_path: Path
) -> None:
    plane, url = control_plane
    (tmp_path / "agent").mkdir()
    (tmp_path / "agent" / "credential").write_text("revoked")
    client = client_for(url, tmp_path)
    client.ensure_registered()
    with pytest.raises(PermanentError, match="refused this node's credentials"):
        client.report(REPORT)
    assert plane.unauthorized == 1


def test_server_errors_are_retried_until_an_answer(
    control_plane: tuple[ControlPlane, str], node_dir: Path
) -> None:
    plane, url = control_plane
    delays: list[float] = []
    client = client_for(url, node_dir, delays)
    client.ensure_registered()
    plane.failures_to_serve = 2
    client.report(REPORT)
    assert plane.reports == [REPORT]
    assert delays == [0.5, 1.0]


def test_an_unreachable_control_plane_is_a_temporary_error_after_bounded_retries(
    node_dir: Path,
) -> None:
    delays: list[float] = []
    client = client_for("http://127.0.0.1:9", node_dir, delays)
    with pytest.raises(TemporaryError, match="control plane unreachable"):
        client.ensure_registered()
    assert delays == [0.5, 1.0, 2.0]
