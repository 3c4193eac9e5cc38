"""A real control plane SIGKILLed at random moments while 50 instances provision converges.

The moments come from a seeded random generator (the seed is printed, so a
failing run can be replayed with ``METAPAAS_KILL_SEED``). Requests that die
with the server are sent again; an instance whose create already landed
answers 409. In the end every instance is ``ACTIVE`` with exactly its
planned node, no node is left without an instance, exactly one agent process
runs per node (a crash between starting an agent and recording it must not
leave a second), and no operation is left open.
"""

from __future__ import annotations

import os
import random
import time

import httpx
import pytest

from metapaas.testing import ControlPlane, wait_for

pytestmark = pytest.mark.e2e

INSTANCES = 50
KILLS = 4
CONVERGE_SECONDS = 300.0
ALL_STATES = "/v1/types/demo/instances"


def test_random_sigkills_during_50_provisions_converge(control_plane: ControlPlane) -> None:
    seed = int(os.environ.get("METAPAAS_KILL_SEED", random.randrange(1 << 30)))
    print(f"METAPAAS_KILL_SEED={seed}")
    chance = random.Random(seed)
    names = [f"kill-{index:02d}" for index in range(INSTANCES)]
    pending = list(names)
    kills = 0
    deadline = time.monotonic() + CONVERGE_SECONDS
    while kills < KILLS:
        assert time.monotonic() < deadline, "the kills never finished"
        kill_at = time.monotonic() + chance.uniform(0.2, 3.0)
        pending = _create_until(control_plane, pending, kill_at)
        control_plane.kill()
        kills += 1
        control_plane.start()
    assert _create_until(control_plane, pending, deadline) == []

    with control_plane.client() as client:
        ids = wait_for(lambda: _all_active(client), CONVERGE_SECONDS, "every instance ACTIVE")
        expected = sorted(f"{instance_id.replace('-', '')}-web-0" for instance_id in ids)
        assert control_plane.node_names() == expected
        recorded = sorted(control_plane.node_pid(name) for name in expected)
        assert control_plane.agent_pids() == recorded, "an agent nobody recorded lives on"
    assert control_plane.open_operations() == []


def _create_until(plane: ControlPlane, names: list[str], until: float) -> list[str]:
    """POST the instances in ``names`` until ``until``; returns those not yet accepted.

    A create the dying server may or may not have committed is sent again: 409
    means it landed.
    """
    left = list(names)
    with plane.client() as client:
        while left and time.monotonic() < until:
            try:
                answer = client.post(ALL_STATES, json={"name": left[0], "message": left[0]})
            except httpx.TransportError:
                return left
            assert answer.status_code in (202, 409), answer.text
            left.pop(0)
    if left:
        time.sleep(max(0.0, until - time.monotonic()))
    return left


def _all_active(client: httpx.Client) -> list[str] | None:
    items = client.get(ALL_STATES, params={"limit": 100}).json()["items"]
    states = {item["status"] for item in items}
    assert "ERROR" not in states, [i["status_reason"] for i in items if i["status"] == "ERROR"]
    if len(items) == INSTANCES and states == {"ACTIVE"}:
        return [item["id"] for item in items]
    return None
