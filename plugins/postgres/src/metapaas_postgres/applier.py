"""Node side: bring the running server to its config files and ``conf/desired.json``.

The agent runs ``python -m metapaas_postgres.applier --node-dir D --host H
--port P --wait S`` as the instance's ``init`` command and as the reload of
every template; the launcher runs it too after each start of the server, so a
change written while the server was down is not missed. Each run:

1. waits (at most ``--wait`` seconds) until the server accepts the superuser;
2. reloads the config files and refuses a setting the server rejects;
3. reconciles databases, roles and grants (:mod:`metapaas_postgres.reconcile`);
4. asks the postmaster for a fast shutdown when a changed setting needs a
   restart (``max_connections``, ``shared_buffers``): the agent's supervisor
   starts it again with the new config.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

import psycopg

from metapaas import sdk
from metapaas_postgres.desired import DesiredState
from metapaas_postgres.layout import NodeLayout
from metapaas_postgres.reconcile import Connect, Connection, reconcile
from metapaas_postgres.spec import SUPERUSER_ROLE

NEEDS_RESTART = "setting could not be applied"
"""What ``pg_file_settings.error`` says of a changed setting that only a restart applies."""
POLL_SECONDS = 0.05
"""The init of a new node waits for the server: a connection attempt is cheap, a late one is not."""

log = logging.getLogger(__name__)


class ApplyFailed(Exception):
    """The server refused the config or is not reachable: the agent retries the reload."""


def connector(layout: NodeLayout, host: str, port: int) -> Connect:
    """Superuser connections over TCP with the node's own password (see ``server_config``)."""

    def connect(database: str) -> Connection:
        return psycopg.connect(
            host=host,
            port=port,
            user=SUPERUSER_ROLE,
            password=layout.superuser_password_file.read_text(encoding="utf-8").strip(),
            dbname=database,
            autocommit=True,
            connect_timeout=5,
            application_name="metapaas-applier",
        )

    return connect


def wait_for_server(connect: Connect, seconds: float) -> None:
    """Return once the server accepts the superuser; raise after about ``seconds``."""
    try:
        sdk.wait_until_ready(
            lambda: connect("postgres").close(),
            what="the server accepting connections",
            attempts=max(1, round(seconds / POLL_SECONDS)),
            interval=POLL_SECONDS,
            retry_on=(psycopg.OperationalError, FileNotFoundError),
        )
    except sdk.NotReady as exc:
        raise ApplyFailed(str(exc)) from exc


def converge(layout: NodeLayout, connect: Connect) -> None:
    """Reload, reconcile, and restart the server when a setting needs it.

    One run at a time per node (the launcher's run after a start can meet the
    agent's ``init`` or a reload): two would race to create the same database.
    """
    with sdk.exclusive(layout.applier_lock_file):
        with connect("postgres") as conn:
            conn.execute("SELECT pg_reload_conf()")
            pending = _settings_needing_restart(conn)
        text = layout.desired_file.read_text(encoding="utf-8")
        reconcile(connect, DesiredState.model_validate_json(text))
        if pending:
            log.info("restarting the server to apply %s", ", ".join(pending))
            fast_shutdown(layout)


def _settings_needing_restart(conn: Connection) -> list[str]:
    """Read the config files as the server does now; any other error is a refusal."""
    rows = conn.execute(
        "SELECT name, error FROM pg_file_settings WHERE error IS NOT NULL"
        " UNION ALL SELECT 'pg_hba.conf line ' || line_number, error"
        " FROM pg_hba_file_rules WHERE error IS NOT NULL"
    ).fetchall()
    refused = [f"{name}: {error}" for name, error in rows if error != NEEDS_RESTART]
    if refused:
        raise ApplyFailed("the server refuses the config: " + "; ".join(refused))
    return sorted(str(name) for name, _ in rows)


def fast_shutdown(layout: NodeLayout) -> None:
    """SIGINT to the postmaster: end sessions, checkpoint, exit (the supervisor restarts it)."""
    pid = int(layout.postmaster_pid_file.read_text(encoding="ascii").splitlines()[0])
    os.kill(pid, signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--node-dir", type=Path, required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--wait", type=float, default=45.0, help="seconds to wait for the server")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    layout = NodeLayout(args.node_dir)
    connect = connector(layout, args.host, args.port)
    try:
        wait_for_server(connect, args.wait)
        converge(layout, connect)
    except (ApplyFailed, psycopg.Error) as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
