"""The bundled demo type end to end: real control plane, real agents, real web service."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from metapaas import tls
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


def test_https_beside_http_verifies_against_the_ca_only(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """The demo's HTTPS port presents the node's certificate, signed by the CA the API
    hands out: a client trusting that CA connects, one trusting another is refused, and
    plain HTTP to the TLS port gets no answer."""
    with control_plane.client() as client:
        created = client.post("/v1/types/demo/instances", json={"name": "secure"})
        assert created.status_code == 202, created.text
        path = f"/v1/types/demo/instances/{created.json()['id']}"
        active = control_plane.wait_status(client, path, "ACTIVE")
        ca = client.get("/v1/ca.pem")
        assert ca.status_code == 200
        assert ca.headers["content-type"].startswith("application/x-pem-file")
    https = next(v for k, v in active["endpoints"].items() if k.endswith(".https"))
    trusted = tmp_path / "ca.pem"
    trusted.write_text(ca.text)
    answer = httpx.get(f"https://{https}/", verify=ssl.create_default_context(cafile=trusted))
    assert answer.text == "hello from metapaas"
    other = tmp_path / "other.pem"
    other.write_text(tls.Authority.new("another CA", models.utcnow()).certificate_pem)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"https://{https}/", verify=ssl.create_default_context(cafile=other))
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{https}/", timeout=5)
