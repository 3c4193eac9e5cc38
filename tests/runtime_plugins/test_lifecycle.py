"""Plugins installed, upgraded and removed in a running control plane, end to end.

A real ``metapaas server`` (supervisor and generations), real wheels built
with pip from a project written by the test, real nodes running the version
they were given; a client loop runs across every change and no request may
fail.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, inspect

from metapaas.testing import ControlPlane, wait_for

pytestmark = pytest.mark.e2e

PLUGIN = "/v1/plugins/metapaas-hello"
INSTALL_SECONDS = 180.0


@dataclass
class ClientLoop:
    """Requests, one after another on one kept-alive connection, until stopped."""

    plane: ControlPlane
    failures: list[str] = field(default_factory=list)
    answered: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        paths = ["/v1/types/", "/v1/projects", "/v1/plugins", "/v1/users/me"]
        with self.plane.client() as client:
            for index in range(100_000):  # bounded; stopped long before
                if self.stop.is_set():
                    return
                path = paths[index % len(paths)]
                try:
                    status = client.get(path).status_code
                except httpx.HTTPError as exc:
                    self.failures.append(f"GET {path}: {type(exc).__name__}: {exc}")
                    continue
                self.answered += 1
                if status != 200:
                    self.failures.append(f"GET {path}: {status}")
                time.sleep(0.02)


@contextmanager
def client_loop(plane: ControlPlane) -> Iterator[ClientLoop]:
    loop = ClientLoop(plane)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.stop.set()
        thread.join(30)


def change(client: httpx.Client, method: str, wheel: Path | None = None) -> str:
    """Ask for a change of the plugin; returns its operation's id."""
    url = "/v1/plugins" if method == "POST" else PLUGIN
    body = {"package": str(wheel)} if wheel is not None else None
    answer = client.request(method, url, json=body)
    assert answer.status_code == 202, answer.text
    operation: dict[str, Any] = answer.json()["operation"]
    assert operation["kind"].startswith("plugin.")
    return str(operation["id"])


def settle(client: httpx.Client, operation_id: str, state: str) -> dict[str, Any]:
    """Wait for the operation to end; the plugin must then be in ``state``."""

    def ended() -> bool:
        op = client.get(f"/v1/operations/{operation_id}").json()
        return op["state"] in ("SUCCEEDED", "FAILED")

    wait_for(ended, INSTALL_SECONDS, f"operation {operation_id} to end")
    body: dict[str, Any] = client.get(PLUGIN).json()
    assert body["state"] == state, body
    return body


def greeting(instance: dict[str, Any]) -> str:
    (address,) = instance["endpoints"].values()
    return httpx.get(f"http://{address}/", timeout=5).text


def _answer(instance: dict[str, Any]) -> str:
    """The greeting, or "" while the node restarts."""
    try:
        return greeting(instance)
    except httpx.HTTPError:
        return ""


def columns(plane: ControlPlane, table: str) -> set[str]:
    engine = create_engine(plane.database_url)
    try:
        return {c["name"] for c in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_install_upgrade_remove_while_clients_see_no_failed_request(
    control_plane: ControlPlane, wheels: Mapping[str, Path]
) -> None:
    plane = control_plane
    with plane.client() as client, client_loop(plane) as loop:
        installed = settle(client, change(client, "POST", wheels["1"]), "ACTIVE")
        assert installed["version"] == "1.0.0"
        assert installed["types"] == ["hello"]
        assert "hello" in {t["slug"] for t in client.get("/v1/types/").json()["items"]}
        assert "/v1/types/hello/instances" in client.get("/openapi.json").json()["paths"]

        instance = plane.create_instance(client, "hello", {"name": "hi", "greeting": "bonjour"})
        assert greeting(instance) == "bonjour, world (v1.0.0)"
        assert columns(plane, "hello_notes") == {"id"}

        upgraded = settle(client, change(client, "PATCH", wheels["2"]), "ACTIVE")
        assert upgraded["version"] == "2.0.0"
        assert columns(plane, "hello_notes") == {"id", "text"}  # only the new migration ran
        path = f"/v1/types/hello/instances/{instance['id']}"
        # Its node rolls to the new version: restarted in place, on the same port.
        wait_for(lambda: _answer(instance) == "bonjour, planet (v2.0.0)", 120, "the node to roll")
        rolled = plane.wait_status(client, path, "ACTIVE")
        assert rolled["endpoints"] == instance["endpoints"]
        assert client.get(PLUGIN).json()["rollout"] == {"nodes": 1, "on_served_version": 1}
        kinds = [e["kind"] for e in client.get(f"{path}/events").json()["items"]]
        assert {"rollout", "node_rolling"} <= set(kinds)

        refused = client.delete(PLUGIN)
        assert refused.status_code == 409, refused.text
        assert "1 instance of hello exists" in refused.json()["detail"]

        assert client.delete(path).status_code == 202
        wait_for(lambda: client.get(path).status_code == 404, 120, "the instance to go")
        removal = change(client, "DELETE")
        wait_for(lambda: client.get(PLUGIN).status_code == 404, INSTALL_SECONDS, "the removal")
        assert client.get(f"/v1/operations/{removal}").json()["state"] == "SUCCEEDED"
        wait_for(
            lambda: client.get("/v1/types/hello/instances").status_code == 404,
            30,
            "the routes of the removed type to go",
        )
        assert columns(plane, "hello_notes") == {"id", "text"}  # tables stay without purge
    assert loop.answered > 100, loop.answered
    assert loop.failures == []


def test_a_broken_version_ends_in_error_and_the_last_good_one_keeps_serving(
    control_plane: ControlPlane, wheels: Mapping[str, Path]
) -> None:
    plane = control_plane
    expected = {
        "import": "metapaas_no_such_module",
        "migration": "hello_no_such_table",
        "contract": "is not a metapaas.sdk.PaasType",
        "conflict": "dependency conflict",
    }
    with plane.client() as client:
        settle(client, change(client, "POST", wheels["1"]), "ACTIVE")
        instance = plane.create_instance(client, "hello", {"name": "hi", "greeting": "hej"})
        for broken, message in expected.items():
            failed = settle(client, change(client, "PATCH", wheels[broken]), "ERROR")
            assert message in failed["error"], failed
            if broken == "conflict":  # pip's own words say which requirements clash
                assert "pydantic" in failed["error"], failed
            assert failed["version"] == "1.0.0", failed
            op = client.get(f"/v1/operations/{failed['operation_id']}").json()
            assert op["state"] == "FAILED"
            assert message in op["error"]
            listed = client.get("/v1/types/hello/instances").json()["items"]
            assert [i["name"] for i in listed] == ["hi"]
        assert greeting(instance) == "hej, world (v1.0.0)"
        assert columns(plane, "hello_notes") == {"id"}  # the failed migration left nothing

        pinned = {"package": str(wheels["2"]), "sha256": "0" * 64}
        answer = client.patch(PLUGIN, json=pinned)
        assert answer.status_code == 202, answer.text
        failed = settle(client, answer.json()["operation"]["id"], "ERROR")
        assert f"not the pinned {'0' * 64}" in failed["error"]

        pinned["sha256"] = hashlib.sha256(wheels["2"].read_bytes()).hexdigest()
        answer = client.patch(PLUGIN, json=pinned)
        upgraded = settle(client, answer.json()["operation"]["id"], "ACTIVE")
        assert upgraded["version"] == "2.0.0"  # a good version after the bad ones
        assert upgraded["sha256"] == pinned["sha256"]
