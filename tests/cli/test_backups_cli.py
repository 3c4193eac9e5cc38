"""``metapaas backups`` and ``metapaas restore`` against a real control plane: repositories,
a redis instance's policy, snapshots taken, deleted and restored into new instances, and
the server's refusals shown as their problem's one line.

Redis is the cheapest real type with backups (a snapshot, stored by the agent): the
CLI's part is under test here, each engine's steps are its plugin's (``plugins/*/tests``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from metapaas.testing import free_port
from tests.cli.conftest import Cli

DAILY = "0 3 * * *"
SECRET = "s3-secret-that-must-never-be-shown"


def test_repositories_are_added_listed_and_removed_and_a_secret_is_never_printed(
    served_cli: Cli, tmp_path: Path
) -> None:
    cli = served_cli
    added = cli.json("backups", "repositories", "add", "local", "--path", str(tmp_path / "repo"))
    assert (added["kind"], added["state"]) == ("filesystem", "OK")
    assert (tmp_path / "repo").is_dir(), "the server made it"

    cli.env["METAPAAS_S3_SECRET_ACCESS_KEY"] = SECRET
    s3 = ("--endpoint", f"127.0.0.1:{free_port()}", "--bucket", "backups")
    unreachable = cli.run("backups", "repositories", "add", "far", *s3, "--access-key-id", "AK1")
    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith("error: 422 endpoint: "), unreachable.stderr
    del cli.env["METAPAAS_S3_SECRET_ACCESS_KEY"]
    (tmp_path / "secret").write_text(SECRET + "\n")
    from_file = cli.run(
        *("backups", "repositories", "add", "far", *s3, "--access-key-id", "AK1"),
        *("--secret-access-key-file", str(tmp_path / "secret")),
    )
    assert from_file.stderr.startswith("error: 422 endpoint: "), "sent, and probed as before"

    listed = cli.run("backups", "repositories", "list", "--output", "json")
    assert [r["name"] for r in cli.json("backups", "repositories", "list")] == ["local"]
    shown = [unreachable, from_file, listed]
    assert not any(SECRET in done.stdout + done.stderr for done in shown)

    cli.ok("backups", "repositories", "remove", "local")
    assert cli.json("backups", "repositories", "list") == []
    missing = cli.run("backups", "repositories", "remove", "local")
    assert missing.stderr == "error: 404 Not found: backup repository 'local' not found\n"


@pytest.mark.e2e
def test_redis_snapshots_taken_listed_deleted_and_restored_into_new_instances(
    served_cli: Cli, tmp_path: Path
) -> None:
    cli = served_cli
    cli.ok("backups", "repositories", "add", "local", "--path", str(tmp_path / "repo"))
    source = cli.json("create", "redis", "cache", "--wait")
    policy = ("backups", "policy", "set", "redis", "cache", "--repository", "local")

    no_retention = cli.run(*policy, "--schedule", DAILY)
    assert no_retention.stderr == "error: 422 retention: give count, days or both\n"
    continuous = cli.run(*policy, "--schedule", DAILY, "--keep-count", "3", "--continuous")
    assert continuous.stderr == (
        "error: 422 continuous: the redis type has no point-in-time restore\n"
    )
    set_ = cli.json(*policy, "--schedule", DAILY, "--keep-count", "3", "--keep-days", "7")
    assert set_["retention"] == {"count": 3, "days": 7}
    shown = cli.json("backups", "policy", "show", "redis", "cache")
    assert (shown["repository"], shown["continuous"]) == ("local", False)
    assert shown["next_backup_at"].endswith("T03:00:00Z")

    backup = cli.json("backups", "create", "redis", "cache", "--wait")
    assert backup["kind"] == "snapshot"
    assert backup["state"] in ("COMPLETED", "VERIFIED")  # its drill follows
    assert [b["id"] for b in cli.json("backups", "list", "redis", "cache")] == [backup["id"]]
    shown_backup = cli.json("backups", "show", "redis", "cache", backup["id"])
    assert _before_its_drill(shown_backup) == _before_its_drill(backup)
    assert backup["id"] in cli.ok("backups", "list", "redis", "cache"), "the table lists it"
    window = cli.json("backups", "window", "redis", "cache")
    assert window["earliest"] == window["latest"] == backup["finished_at"]
    assert window["point_in_time"] is False

    newest = cli.run("backups", "delete", "redis", "cache", backup["id"], "--yes")
    assert newest.stderr.startswith(
        f"error: 409 Conflict with the current state: backup {backup['id']} cannot be deleted: "
    )
    later = cli.json("backups", "create", "redis", "cache", "--wait")
    cli.ok("backups", "delete", "redis", "cache", backup["id"], "--yes", "--wait")
    assert [b["id"] for b in cli.json("backups", "list", "redis", "cache")] == [later["id"]]

    at_a_time = cli.run(
        *("restore", "redis", "copy", "--from", "cache"), "--point-in-time", window["latest"]
    )
    assert at_a_time.returncode == 1
    assert at_a_time.stderr.startswith("error: 422 restore.point_in_time: the redis type ")
    restored = cli.json("restore", "redis", "copy", "--from", "cache", "--backup", later["id"])
    assert restored["status"] != "ACTIVE", "without --wait the accepted instance is shown"
    copy = cli.json(
        *("restore", "redis", "latest-copy", "--from", f"{source['project_id']}/cache"),
        *("--latest", "--set", "memory_mb=32", "--wait"),
    )
    assert (copy["status"], copy["memory_mb"]) == ("ACTIVE", 32), "create's options apply"

    in_use = cli.run("backups", "repositories", "remove", "local")
    assert in_use.stderr == (
        "error: 409 Conflict with the current state: "
        "backup repository 'local' holds the backups of 1 instance(s)\n"
    )


ADD = ("backups", "repositories", "add", "r")
RESTORE = ("restore", "redis", "copy", "--from", "cache")
USAGE = {
    "two restore targets are a usage error": (
        [*RESTORE, "--latest", "--backup", "b1"],
        2,
        "give exactly one of them",
    ),
    "a restore without a target is a usage error": (RESTORE, 2, "give exactly one of them"),
    "a directory takes no S3 option": (
        [*ADD, "--path", "/srv/b", "--bucket", "b"],
        2,
        "a directory takes no S3 option",
    ),
    "an S3 bucket's missing options are named": (
        [*ADD, "--endpoint", "s3.example:443"],
        2,
        "needs --bucket, --access-key-id too",
    ),
    "an instance brings its own endpoint and keys": (
        [*ADD, "--instance", "team/vault", "--bucket", "b", "--endpoint", "s3.example:443"],
        2,
        "--instance brings its own --endpoint",
    ),
    "an instance's bucket is named": ([*ADD, "--instance", "team/vault"], 2, "needs --bucket"),
    "no secret is asked for without a terminal": (
        [*ADD, "--endpoint", "s3.example:443", "--bucket", "b", "--access-key-id", "AK1"],
        1,
        "give --secret-access-key-file or set METAPAAS_S3_SECRET_ACCESS_KEY",
    ),
}


@pytest.mark.parametrize(("args", "code", "said"), USAGE.values(), ids=USAGE.keys())
def test_a_command_line_that_cannot_be_sent_is_refused_before_any_request(
    cli: Cli, args: Sequence[str], code: int, said: str
) -> None:
    cli.env["METAPAAS_URL"] = "http://127.0.0.1:9"  # nothing answers there: nothing is sent
    refused = cli.run(*args)
    assert refused.returncode == code
    assert said in " ".join(refused.stderr.split()), refused.stderr


DRILLED = ("state", "reason", "verified_at", "restore_seconds")
"""What a backup's drill, which follows it, changes of it."""


def _before_its_drill(backup: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in backup.items() if k not in DRILLED}
