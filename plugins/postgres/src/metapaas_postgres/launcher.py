"""Node side: the supervised service. Make the cluster if there is none, run the server.

``python -m metapaas_postgres.launcher --bindir B --node-dir D --host H --port P``

- The first start runs ``initdb`` into a staging directory that is renamed
  into place only when complete, so a crash mid-initdb never leaves a
  half-made cluster that a later start would refuse to touch. The bootstrap
  superuser gets a password made here, kept in a 0600 file of the node.
- The server runs as a child, in the launcher's process group, with a
  parent-death signal: it never outlives the launcher, so a restarted node
  finds its port and data directory free.
- SIGTERM (the agent stopping the service) becomes a fast shutdown: open
  sessions are ended instead of waited for.
- Once the server answers, the desired state is applied: a change written
  while the server was down is not missed.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

import psycopg

from metapaas_postgres import applier
from metapaas_postgres.layout import NodeLayout
from metapaas_postgres.models import SUPERUSER_ROLE
from metapaas_postgres.privileges import as_unprivileged

STARTUP_SECONDS = 60.0

log = logging.getLogger(__name__)


def ensure_cluster(layout: NodeLayout, bindir: Path) -> None:
    """Run initdb unless the node already has a complete cluster."""
    if layout.data_dir.exists():
        return
    shutil.rmtree(layout.staging_dir, ignore_errors=True)
    password = layout.superuser_password_file
    password.touch(mode=0o600)
    password.chmod(0o600)
    password.write_text(secrets.token_urlsafe(32) + "\n", encoding="utf-8")
    command = [
        str(bindir / "initdb"),
        f"--pgdata={layout.staging_dir}",
        f"--username={SUPERUSER_ROLE}",
        f"--pwfile={password}",
        "--auth=scram-sha-256",
        "--encoding=UTF8",
        "--locale=C.UTF-8",
    ]
    log.info("initialising the cluster")
    subprocess.run(as_unprivileged(command), check=True, stdout=sys.stderr)
    layout.staging_dir.rename(layout.data_dir)


def server_command(layout: NodeLayout, bindir: Path) -> list[str]:
    """The postmaster, with its config from the node's rendered ``conf/postgresql.conf``."""
    postgres = [
        str(bindir / "postgres"),
        "-D",
        str(layout.data_dir),
        f"--config_file={layout.config_file}",
    ]
    return as_unprivileged(["setpriv", "--pdeathsig", "KILL", "--", *postgres])


def run(layout: NodeLayout, bindir: Path, host: str, port: int) -> int:
    ensure_cluster(layout, bindir)
    server = subprocess.Popen(server_command(layout, bindir), stdin=subprocess.DEVNULL)

    def fast_shutdown(signum: int, frame: FrameType | None) -> None:
        server.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, fast_shutdown)
    signal.signal(signal.SIGINT, fast_shutdown)
    connect = applier.connector(layout, host, port)
    try:
        applier.wait_for_server(connect, STARTUP_SECONDS, alive=lambda: server.poll() is None)
        applier.converge(layout, connect)
    except (applier.ApplyFailed, psycopg.Error) as exc:
        log.error("applying the desired state after start failed: %s", exc)
    except Exception:  # a bug must not take the server down; the agent's reloads retry
        log.exception("applying the desired state after start failed")
    return server.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bindir", type=Path, required=True)
    parser.add_argument("--node-dir", type=Path, required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="launcher: %(message)s", stream=sys.stderr)
    return run(NodeLayout(args.node_dir), args.bindir, args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
