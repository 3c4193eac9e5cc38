"""Several control-plane processes on one database all load a plugin installed through one.

Two `metapaas api` replicas and a `metapaas worker`, each with a home of its own
(as on separate machines: each installs the plugin's environment from the
wheelhouse in the database): the install finishes only when all three have
loaded it, and both replicas then serve the new type's routes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from metapaas.testing import ControlPlane, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def replicas(tmp_path: Path, empty_database_url: str) -> Iterator[list[ControlPlane]]:
    # Replicas of one control plane share its secret key: each opens the CA's sealed key.
    shared = {"command": "api", "METAPAAS_SECRET_KEY": Fernet.generate_key().decode()}
    first = ControlPlane(tmp_path / "api-1", empty_database_url, **shared)
    second = ControlPlane(tmp_path / "api-2", empty_database_url, **shared)
    worker = ControlPlane(tmp_path / "worker", empty_database_url, **shared | {"command": "worker"})
    started: list[ControlPlane] = []
    try:
        for plane in (first, second, worker):
            plane.start()
            started.append(plane)
        second.token = first.token  # the first one made the admin
        yield [first, second]
    finally:
        for plane in started:
            plane.stop()


def test_every_replica_serves_a_type_installed_through_one(
    replicas: list[ControlPlane], wheels: Mapping[str, Path]
) -> None:
    first, second = replicas
    with first.client() as client:
        answer = client.post("/v1/plugins", json={"package": str(wheels["1"])})
        assert answer.status_code == 202, answer.text

        def ended() -> dict[str, object] | None:
            body: dict[str, object] = client.get("/v1/plugins/metapaas-hello").json()
            return None if body["state"] == "INSTALLING" else body

        installed = wait_for(ended, 180, "the install to end")
    assert installed["state"] == "ACTIVE", installed
    assert installed["progress"] == "loaded by 3 control-plane processes"
    for plane in (first, second):
        with plane.client() as client:
            assert client.get("/v1/types/hello/instances").status_code == 200
            assert "/v1/types/hello/instances" in client.get("/openapi.json").json()["paths"]
            installed_here = sorted(p.name for p in (plane.home / "plugins").iterdir())
            assert installed_here == [installed["wheelhouse"]]
