"""The CLI's ``--wait`` against the whole control plane in one process: a delete that ends
between two of its reads is a delete that succeeded, not an error."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from metapaas.cli import waiting
from metapaas.client import Client
from tests.orchestrator.rig import Rig


def test_delete_wait_succeeds_when_the_instance_goes_between_its_reads(rig: Rig) -> None:
    instance_id = rig.create("demo", "web")
    rig.settle_status(instance_id, "ACTIVE")

    def purge_once_the_instance_is_read(response: httpx.Response) -> None:
        """The orchestrator ends the delete right after ``--wait`` read the instance,
        before it reads the instance's events."""
        read = response.request.method == "GET" and response.status_code == 200
        if read and response.request.url.path.endswith(f"/instances/{instance_id}"):
            rig.settle(lambda: rig.instance(instance_id).deleted_at is not None, "purged")

    http = TestClient(rig.api.client.app, headers=rig.api.as_admin)
    http.event_hooks = {"response": [purge_once_the_instance_is_read]}
    with Client(str(http.base_url), http=http) as api:
        accepted = api.instances("demo").delete(instance_id)
        outcome = waiting.follow(api, "demo", accepted, timeout=5)

    assert (outcome.ok, outcome.instance, outcome.message) == (True, None, "")
