"""Retention as a table: which backups a policy keeps, which expire, which a user may
not delete; on catalogues written out by hand, at a fixed time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from metapaas.db import models
from metapaas.orchestrator.backups import retention
from metapaas.orchestrator.backups.retention import Rule

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
State = models.BackupState


def backup(
    name: str,
    days_ago: float,
    kind: str = "full",
    on: str = "",
    state: models.BackupState = State.COMPLETED,
) -> models.Backup:
    ended = NOW - timedelta(days=days_ago)
    return models.Backup(
        id=name,
        label=name,
        kind=kind,
        depends_on=on,
        state=state,
        started_at=ended - timedelta(minutes=5),
        finished_at=ended,
    )


def names(found: list[models.Backup] | set[str]) -> list[str]:
    return sorted(b if isinstance(b, str) else b.id for b in found)


WEEK = [backup(f"f{day}", day) for day in (6, 5, 4, 3, 2, 1, 0)]  # one full a day


@pytest.mark.parametrize(
    ("rule", "kept"),
    [
        (Rule(count=2, days=None, continuous=False), ["f0", "f1"]),
        (Rule(count=None, days=3, continuous=False), ["f0", "f1", "f2", "f3"]),
        # With the log archived, the points back to the cutoff start from the full backup
        # that ended before it.
        (Rule(count=None, days=3, continuous=True), ["f0", "f1", "f2", "f3", "f4"]),
        # Either rule keeps a backup.
        (Rule(count=5, days=1, continuous=False), ["f0", "f1", "f2", "f3", "f4"]),
        (Rule(count=1, days=2, continuous=False), ["f0", "f1", "f2"]),
    ],
)
def test_a_policy_keeps_the_newest_count_and_the_days(rule: Rule, kept: list[str]) -> None:
    assert names(retention.kept(WEEK, rule, NOW)) == kept
    assert names(retention.expired(WEEK, rule, NOW)) == sorted(set(names(WEEK)) - set(kept))


def test_the_newest_restorable_full_backup_is_kept_whatever_the_days_say() -> None:
    old = [backup("f30", 30), backup("f20", 20), backup("broken", 1, state=State.UNRESTORABLE)]
    assert names(retention.kept(old, Rule(None, 7, False), NOW)) == ["f20"]
    assert names(retention.expired(old, Rule(None, 7, False), NOW)) == ["f30"]


def test_a_kept_full_backup_keeps_its_chain_and_an_expired_one_takes_its_own() -> None:
    chain = [
        backup("a", 3),
        backup("a1", 2.5, "incremental", on="a"),
        backup("b", 2),
        backup("b1", 1.5, "incremental", on="b"),
        backup("b2", 1, "incremental", on="b1"),
    ]
    rule = Rule(count=1, days=None, continuous=False)
    assert names(retention.kept(chain, rule, NOW)) == ["b", "b1", "b2"]
    assert names(retention.expired(chain, rule, NOW)) == ["a", "a1"]


def test_an_incremental_backup_whose_chain_broke_expires() -> None:
    chain = [backup("a", 2), backup("a1", 1.5, "incremental", on="gone"), backup("b", 1)]
    assert names(retention.expired(chain, Rule(5, None, False), NOW)) == ["a1"]


def test_failed_backups_stay_listed_as_long_as_backups_of_their_age() -> None:
    catalogue = [
        backup("f3", 3),
        backup("x2", 2, state=State.FAILED),
        backup("f1", 1),
        backup("x0", 0, state=State.FAILED),
    ]
    assert names(retention.expired(catalogue, Rule(2, None, False), NOW)) == []
    assert names(retention.expired(catalogue, Rule(1, None, False), NOW)) == ["f3", "x2"]


def test_running_backups_never_expire() -> None:
    catalogue = [backup("run", 9, state=State.RUNNING), backup("f0", 0)]
    assert names(retention.expired(catalogue, Rule(1, None, False), NOW)) == []


@pytest.mark.parametrize(
    ("target", "rule", "why"),
    [
        ("b", Rule(3, None, False), "backup b1 builds on it"),
        ("c", Rule(3, None, False), "newest full backup"),
        ("a", Rule(3, None, True), "only it restores"),
        ("a", Rule(3, None, False), ""),
        ("a", Rule(1, None, True), ""),  # retention lets it go anyway
        ("b1", Rule(3, None, False), ""),
    ],
)
def test_a_user_may_delete_a_backup_no_later_point_needs(target: str, rule: Rule, why: str) -> None:
    catalogue = [
        backup("a", 3),
        backup("b", 2),
        backup("b1", 1.5, "incremental", on="b"),
        backup("c", 1),
    ]
    found = retention.needed(next(b for b in catalogue if b.id == target), catalogue, rule, NOW)
    assert (why in found) if why else found == "", found
