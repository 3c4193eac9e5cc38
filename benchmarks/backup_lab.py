"""The backup benchmark's laboratory: a real control plane with a filesystem backup
repository, and the postgres instance whose backups ``backups.py`` measures, filled by
``pgbench -i`` and given a continuous policy whose schedule and drills run once a year
(nothing scheduled runs meanwhile)."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import backup_kit
import httpx
import psycopg
from metapaas_postgres import catalog
from metapaas_postgres.layout import NodeLayout
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from metapaas.db import for_reading, make_engine, models
from metapaas.testing import ControlPlane, wait_for

TYPE = "/v1/types/postgres/instances"
POLL_SECONDS = 0.1
"""How often the client reads an operation or an instance: finer than the steps measured."""
ONCE_A_YEAR = "0 3 1 1 *"
SCALE_PER_GIB = 70
ROWS_PER_SCALE = 100_000


# -- the control plane and its source instance ---------------------------------------------


@dataclass
class Lab:
    tmp: Path
    plane: ControlPlane
    api: httpx.Client
    engine: Engine
    bindir: Path
    authority: Path  # the CA that signs the instances' certificates

    def read(self) -> Session:
        return Session(for_reading(self.engine))

    def node_dir(self, instance_id: str) -> Path:
        with self.read() as session:
            name = session.scalars(
                select(models.Node.name).where(models.Node.instance_id == instance_id)
            ).one()
        return self.plane.home / "nodes" / name


@dataclass(frozen=True)
class Source:
    path: str
    reference: str  # <project>/<instance>, as a restore names it
    layout: NodeLayout
    scale: int
    size_bytes: int
    load_seconds: float


def start_lab(tmp: Path) -> Lab:
    plane = ControlPlane(tmp / "home", f"sqlite:///{tmp / 'metapaas.db'}")
    plane.start()
    api = plane.client()
    made = api.post(
        "/v1/backup-repositories",
        json={"name": "bench", "kind": "filesystem", "path": str(tmp / "repository")},
    )
    assert made.status_code == 201, made.text
    bindir = Path(str(next(v for v in catalog.machine_versions() if v.default).engine["bindir"]))
    engine = make_engine(plane.database_url)
    return Lab(tmp, plane, api, engine, bindir, tmp / "ca.pem")


def stop_lab(lab: Lab) -> None:
    """Every instance deleted, the server stopped, any agent left killed."""
    try:
        lab.plane.delete_all_instances(600)
    finally:
        lab.api.close()
        lab.engine.dispose()
        lab.plane.stop()
        lab.plane.kill_leftover_agents()


def credentials(lab: Lab, path: str) -> dict[str, Any]:
    answer = lab.api.get(f"{path}/credentials")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    lab.authority.write_text(found["ca_certificate"])
    return found


def admin(lab: Lab, path: str, database: str) -> backup_kit.Connection:
    """The instance's admin over TLS, verified with the control plane's CA."""
    found = credentials(lab, path)
    return psycopg.connect(
        host=found["host"],
        port=found["port"],
        user=found["user"],
        password=found["password"],
        dbname=database,
        sslmode=found["sslmode"],
        sslrootcert=str(lab.authority),
        autocommit=True,
        connect_timeout=5,
    )


def make_source(lab: Lab, size_gib: float) -> Source:
    created = lab.plane.create_instance(lab.api, "postgres", {"name": "source"}, timeout=300)
    path = f"{TYPE}/{created['id']}"
    layout = NodeLayout(lab.node_dir(created["id"]))
    scale = max(1, round(size_gib * SCALE_PER_GIB))
    started = time.perf_counter()
    fill(lab, path, scale)
    load_seconds = time.perf_counter() - started
    with admin(lab, path, "bench") as connection:
        row = connection.execute("SELECT pg_database_size('bench')").fetchone()
    assert row is not None
    settle(layout, lab.tmp / "sockets")
    set_policy(lab, path, layout)
    reference = f"{created['project_id']}/{created['id']}"
    return Source(path, reference, layout, scale, int(row[0]), load_seconds)


def fill(lab: Lab, path: str, scale: int) -> None:
    """``bench`` made by the admin and filled by pgbench, server-side (``-I dtGvp``)."""
    with admin(lab, path, "postgres") as connection:
        connection.execute("CREATE DATABASE bench")
    found = credentials(lab, path)
    env = {
        **os.environ,
        "PGHOST": found["host"],
        "PGPORT": str(found["port"]),
        "PGUSER": found["user"],
        "PGPASSWORD": found["password"],
        "PGSSLMODE": found["sslmode"],
        "PGSSLROOTCERT": str(lab.authority),
    }
    argv = [str(lab.bindir / "pgbench"), "-i", "-s", str(scale), "-I", "dtGvp", "bench"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def settle(layout: NodeLayout, sockets: Path) -> None:
    """After the load: the archiver's backlog gone (no ``.ready`` WAL file) and a checkpoint,
    so the first measured backup does not pay for the load."""
    ready = layout.data_dir / "pg_wal" / "archive_status"
    wait_for(lambda: not any(ready.glob("*.ready")), 600, "the archiver's backlog", 1.0)
    port = int(backup_kit.setting(layout, "port"))
    with backup_kit.superuser(layout, layout.socket_dir, port, "postgres") as connection:
        connection.execute("CHECKPOINT")


def set_policy(lab: Lab, path: str, layout: NodeLayout) -> None:
    """A continuous policy on ``bench``, nothing scheduled; until the node has its store."""
    policy = {
        "repository": "bench",
        "schedule": ONCE_A_YEAR,
        "verify": ONCE_A_YEAR,
        "retention": {"count": 100},
        "continuous": True,
    }
    answer = lab.api.put(f"{path}/backup-policy", json=policy)
    assert answer.status_code == 200, answer.text
    store = layout.config("store")
    wait_for(lambda: "[global]" in store.read_text(encoding="utf-8"), 60, "the node's store")
    wait_for(lambda: backup_kit.setting(layout, "archive_timeout") == "60", 60, "archive_timeout")


# -- 1. backups ------------------------------------------------------------------------------
