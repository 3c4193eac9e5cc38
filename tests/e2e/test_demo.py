"""The bundled demo type end to end: real control plane, real agents, real web service."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from metapaas import tls
from metapaas.agent.client import CONTROL_PLANE_CA, AgentClient, Untrusted
from metapaas.db import models
from metapaas.testing import ControlPlane, wait_for

pytestmark = pytest.mark.e2e


def _endpoint(instance: dict[str, object]) -> str:
    endpoints = instance["endpoints"]
    assert isinstance(endpoints, dict), instance
    assert endpoints, instance
    return f"http://{next(iter(endpoints.values()))}"


def _answer(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def test_create_serve_update_delete_leaves_nothing(control_plane: ControlPlane) -> None:
    with control_plane.client() as client:
        created = client.post(
            "/v1/types/demo/instances", json={"name": "hello", "message": "first words"}
        )
        assert created.status_code == 202, created.text
        path = f"/v1/types/demo/instances/{created.json()['id']}"
        active = control_plane.wait_status(client, path, "ACTIVE")
        url = _endpoint(active)
        first = httpx.get(url)
        assert first.text == "first words"

        patched = client.patch(path, json={"message": "second words"})
        assert patched.status_code == 202
        wait_for(
            lambda: (r := _answer(url)) is not None and r.text == "second words",
            60,
            "the service to answer the new message",
        )
        after = httpx.get(url)
        assert after.headers["X-Served-By-Pid"] == first.headers["X-Served-By-Pid"], (
            "the service process was restarted for a config change"
        )
        control_plane.wait_status(client, path, "ACTIVE")
        operation = client.get(f"/v1/operations/{patched.json()['operation_id']}").json()
        wait_for(
            lambda: client.get(f"/v1/operations/{operation['id']}").json()["state"] == "SUCCEEDED",
            30,
            "the update operation to succeed",
        )

        page = client.post(f"{path}/pages", json={"name": "about", "content": "a page"})
        assert page.status_code == 201
        wait_for(
            lambda: (r := _answer(f"{url}/about")) is not None and r.text == "a page",
            60,
            "the new page to be served",
        )
        kinds = {e["kind"] for e in client.get(f"{path}/events").json()["items"]}
        assert {"node_planned", "node_started", "agent_registered", "status_changed"} <= kinds

        deleted = client.delete(path)
        assert deleted.status_code == 202
        wait_for(lambda: client.get(path).status_code == 404, 60, "the instance to be gone")
        assert _answer(url) is None, "the web service still answers after delete"
        nodes_dir = control_plane.home / "nodes"
        leftover = [p.name for p in nodes_dir.iterdir() if not p.name.startswith(".")]
        assert leftover == []


@pytest.fixture
def tls_plane(tmp_path: Path, e2e_database_url: str) -> Iterator[ControlPlane]:
    """A control plane serving HTTPS on loopback, as it does on any other address."""
    plane = ControlPlane(tmp_path / "home", e2e_database_url, METAPAAS_TLS="true")
    plane.start()
    yield plane
    try:
        plane.delete_all_instances(60)
    finally:
        plane.stop()
        plane.kill_leftover_agents()


def test_over_https_agents_and_clients_verify_against_the_ca_only(
    tls_plane: ControlPlane, tmp_path: Path
) -> None:
    """Agents reach an https control plane verifying it with the CA their provider left
    them, and refuse one their CA did not sign; the demo's HTTPS port presents the node's
    certificate: a client trusting the CA the API hands out connects, one trusting another
    is refused, and plain HTTP to the TLS port gets no answer."""
    assert tls_plane.url.startswith("https://")
    with tls_plane.client() as client:
        created = client.post("/v1/types/demo/instances", json={"name": "secure"})
        assert created.status_code == 202, created.text
        path = f"/v1/types/demo/instances/{created.json()['id']}"
        active = tls_plane.wait_status(client, path, "ACTIVE")  # its agent registered
        ca = client.get("/v1/ca.pem")
        assert ca.headers["content-type"].startswith("application/x-pem-file")
        credentials = client.get(f"{path}/credentials").json()
    assert credentials["ca_certificate"] == ca.text
    assert ca.text == tls_plane.ca_file.read_text()
    https = next(v for k, v in active["endpoints"].items() if k.endswith(".https"))
    trusted = tmp_path / "ca.pem"
    trusted.write_text(ca.text)
    answer = httpx.get(f"https://{https}/", verify=ssl.create_default_context(cafile=trusted))
    assert answer.text == "hello from metapaas"
    other = tls.Authority.new("another CA", models.utcnow()).certificate_pem
    (tmp_path / "other.pem").write_text(other)
    elsewhere = ssl.create_default_context(cafile=tmp_path / "other.pem")
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"https://{https}/", verify=elsewhere)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{https}/", timeout=5)

    node_dir = tmp_path / "stray-node"
    node_dir.mkdir()
    (node_dir / CONTROL_PLANE_CA).write_text(other)
    (node_dir / "bootstrap.token").write_text("mpb_never_sent")
    agent = AgentClient(tls_plane.url, node_dir, sleep=lambda _seconds: None)
    with pytest.raises(Untrusted, match="CERTIFICATE_VERIFY_FAILED"):
        agent.ensure_registered()
    agent.close()
