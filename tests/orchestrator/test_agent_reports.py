"""What a node may report: bounded values, refused with a 422 naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from metapaas.db import models
from metapaas.orchestrator import node_name
from tests.helpers import field_rules, problem
from tests.orchestrator.rig import Rig

READY: dict[str, Any] = {
    "applied_revision": 1,
    "applied_generation": 1,
    "state": "ready",
    "health": "healthy",
}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        pytest.param(
            "/v1/agent/report",
            {**READY, "applied_revision": 2**31},
            "applied_revision",
            id="a revision past what the database holds is 422 naming it",
        ),
        pytest.param(
            "/v1/agent/report",
            {**READY, "applied_generation": 2**63},
            "applied_generation",
            id="a generation past what the database holds is 422 naming it",
        ),
        pytest.param(
            "/v1/agent/commands/{command}",
            {"state": "failed", "exit_code": 2**40},
            "exit_code",
            id="an exit code no process has is 422 naming it",
        ),
    ],
)
def test_out_of_range_reports_are_refused(
    rig: Rig, path: str, body: dict[str, Any], field: str
) -> None:
    instance_id = rig.create("clusters", "c1", replicas=0)
    rig.settle_status(instance_id, "ACTIVE")
    primary = node_name(instance_id, "primary", 0)
    (command,) = [c.id for c in rig.rows(models.NodeCommand, instance_id=instance_id)]
    headers = {"Authorization": f"Bearer {rig.agents.credential(primary)}"}

    answer = rig.api.client.post(path.format(command=command), json=body, headers=headers)

    assert (field, "less_than_equal") in field_rules(problem(answer, 422))
