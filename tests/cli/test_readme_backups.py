"""The README's backup walkthrough, run as written against a live control plane: a real
PostgreSQL instance backed up by pgBackRest and restored to a point in time, whose data
is then read over TLS with the restored instance's credentials."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from metapaas.testing import ControlPlane
from tests.cli.conftest import Cli
from tests.cli.test_readme_quickstart import checkout, console_commands

SECTION = "Backups and point-in-time restore (CLI)"


@pytest.mark.e2e
def test_the_readme_backup_walkthrough_runs_as_written(
    served_cli: Cli, control_plane: ControlPlane, tmp_path: Path
) -> None:
    commands = console_commands(SECTION)
    assert any(c.startswith("metapaas restore ") and "--point-in-time" in c for c in commands)
    # The directory `make run` was started in, logged in as the quickstart left it.
    workdir, env = checkout(tmp_path, control_plane, served_cli)
    # One shell, as the README says: a line uses the variable an earlier one set.
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(commands)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    restored = served_cli.json("show", "postgres", "shop-db-before")
    assert restored["status"] == "ACTIVE"
    assert len(served_cli.json("backups", "list", "postgres", "shop-db")) == 1
    assert "orders" in databases(served_cli, "shop-db", tmp_path), "the change after POINT"
    assert "orders" not in databases(served_cli, "shop-db-before", tmp_path), "as at POINT"
    assert served_cli.json("postgres", "databases", "list", "shop-db-before") == []


def databases(cli: Cli, instance: str, directory: Path) -> set[str]:
    """The databases the instance's server holds, read with its credentials over TLS."""
    credentials = cli.json("credentials", "postgres", instance)
    authority = directory / f"{instance}-ca.pem"
    authority.write_text(credentials["ca_certificate"])
    with psycopg.connect(credentials["dsn"], sslrootcert=str(authority), connect_timeout=5) as conn:
        return {name for (name,) in conn.execute("SELECT datname FROM pg_database")}
