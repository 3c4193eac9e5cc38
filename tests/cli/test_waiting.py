"""How ``--wait`` judges an operation and its instance, read after read: a table of cases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from metapaas.cli import waiting
from metapaas.client import InstanceView, Operation

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def operation(kind: str, state: str, error: str = "") -> Operation:
    return Operation(id="op-1", kind=kind, state=state, error=error, created_at=NOW, updated_at=NOW)


def instance(status: str, reason: str = "") -> InstanceView:
    return InstanceView(
        id="i-1",
        type="redis",
        name="cache",
        project_id="p-1",
        version="7",
        status=status,
        status_reason=reason,
        generation=2,
        observed_generation=2,
        created_at=NOW,
        updated_at=NOW,
    )


CASES = {
    "a backup under way goes on": (operation("backup", "RUNNING"), instance("ACTIVE"), None),
    "a backup that succeeded ends well": (
        operation("backup", "SUCCEEDED"),
        instance("ACTIVE"),
        (True, ""),
    ),
    "a backup that succeeded on a DEGRADED instance ends well: it serves": (
        operation("backup", "SUCCEEDED"),
        instance("DEGRADED", "continuous archiving fails"),
        (True, ""),
    ),
    "a failed backup ends with its error": (
        operation("backup", "FAILED", "repository is gone"),
        instance("ACTIVE"),
        (False, "backup failed: repository is gone"),
    ),
    "an instance in ERROR ends the wait": (
        operation("create", "RUNNING"),
        instance("ERROR", "the restore failed"),
        (False, "cache is in ERROR: the restore failed"),
    ),
    "a create that succeeded before the instance reads ACTIVE goes on": (
        operation("create", "SUCCEEDED"),
        instance("IN_PROGRESS"),
        None,
    ),
    "a delete ends well once the instance is gone": (
        operation("delete", "RUNNING"),
        None,
        (True, ""),
    ),
}


@pytest.mark.parametrize(("op", "seen", "expected"), CASES.values(), ids=CASES.keys())
def test_a_wait_ends_as_the_operation_and_the_instance_say(
    op: Operation, seen: InstanceView | None, expected: tuple[bool, str] | None
) -> None:
    outcome = waiting.judge(op, seen)
    assert (None if outcome is None else (outcome.ok, outcome.message)) == expected
