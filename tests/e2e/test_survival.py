"""Crashes: the control plane killed mid-flight converges; a killed or silent node heals."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from metapaas.testing import ControlPlane, wait_for

pytestmark = pytest.mark.e2e


def test_sigkill_mid_flight_converges_without_duplicates_or_orphans(
    control_plane: ControlPlane,
) -> None:
    with control_plane.client() as client:
        ids = []
        for index, replicas in enumerate((1, 2, 1)):
            response = client.post(
                "/v1/types/demo/instances",
                json={"name": f"crash-{index}", "message": f"m{index}", "replicas": replicas},
            )
            assert response.status_code == 202
            ids.append(response.json()["id"])
        time.sleep(0.5)  # let some node starts be under way when the crash comes
    control_plane.kill()
    control_plane.start()
    with control_plane.client() as client:
        for instance_id in ids:
            control_plane.wait_status(client, f"/v1/types/demo/instances/{instance_id}", "ACTIVE")
        expected = sorted(
            f"{instance_id.replace('-', '')}-web-{ordinal}"
            for instance_id, replicas in zip(ids, (1, 2, 1), strict=True)
            for ordinal in range(replicas)
        )
        assert control_plane.node_names() == expected


def test_killed_node_is_degraded_then_replaced_and_active_again(
    control_plane: ControlPlane,
) -> None:
    with control_plane.client() as client:
        created = client.post("/v1/types/demo/instances", json={"name": "heal", "message": "up"})
        path = f"/v1/types/demo/instances/{created.json()['id']}"
        active = control_plane.wait_status(client, path, "ACTIVE")
        url = f"http://{next(iter(active['endpoints'].values()))}"
        (node,) = control_plane.node_names()
        control_plane.kill_node(node)

        control_plane.wait_status(client, path, "DEGRADED", timeout=60)
        control_plane.wait_status(client, path, "ACTIVE", timeout=90)
        assert httpx.get(url, timeout=5).text == "up"
        kinds = [e["kind"] for e in client.get(f"{path}/events").json()["items"]]
        assert "node_down" in kinds


def test_a_silent_node_is_replaced_after_unreachable_after(control_plane: ControlPlane) -> None:
    """The agent is frozen (SIGSTOP): its processes live but heartbeats stop."""
    with control_plane.client() as client:
        created = client.post("/v1/types/demo/instances", json={"name": "mute", "message": "up"})
        path = f"/v1/types/demo/instances/{created.json()['id']}"
        control_plane.wait_status(client, path, "ACTIVE")
        (node,) = control_plane.node_names()
        frozen = control_plane.node_pid(node)
        os.kill(frozen, signal.SIGSTOP)
        try:
            wait_for(lambda: _replaced(control_plane, node, frozen), 60, "a new agent")
            active = control_plane.wait_status(client, path, "ACTIVE", timeout=90)
        finally:
            if _alive(frozen):
                os.kill(frozen, signal.SIGCONT)
        assert not _alive(frozen), "the frozen agent outlived its replacement"
        assert "node_replaced" in _event_kinds(client, path)
        url = f"http://{next(iter(active['endpoints'].values()))}"
        assert httpx.get(url, timeout=5).text == "up"


def _replaced(plane: ControlPlane, node: str, old_pid: int) -> bool:
    try:
        return plane.node_pid(node) != old_pid
    except FileNotFoundError:  # between the old node's removal and the new one's record
        return False


def _event_kinds(client: httpx.Client, path: str) -> list[str]:
    return [e["kind"] for e in client.get(f"{path}/events").json()["items"]]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
