"""A real control plane per e2e test, on each database, that leaves no node behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from metapaas.testing import ControlPlane, wait_for


@pytest.fixture
def control_plane(tmp_path: Path, empty_database_url: str) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path / "home", empty_database_url)
    plane.start()
    yield plane
    if plane.process is None or plane.process.poll() is not None:
        plane.start()  # a test that killed it still gets its nodes cleaned up
    with plane.client() as client:
        for item in client.get("/v1/types/demo/instances").json()["items"]:
            client.delete(f"/v1/types/demo/instances/{item['id']}")
        wait_for(lambda: not client.get("/v1/types/demo/instances").json()["items"], 90, "cleanup")
    plane.stop()
