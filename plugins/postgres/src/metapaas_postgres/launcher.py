"""Node side: the supervised service. Make the cluster if there is none, run the server.

``python -m metapaas_postgres.launcher --bindir B --node-dir D``

- The first start copies the machine's cluster template (made by ``initdb``
  once, :mod:`metapaas_postgres.template`) into a staging directory that is
  renamed into place only when complete, so a crash mid-copy never leaves a
  half-made cluster that a later start would refuse to touch. The bootstrap
  superuser gets a password made here, kept in a 0600 file of the node.
- The server runs as a child, in the launcher's process group, with a
  parent-death signal: it never outlives the launcher, so a restarted node
  finds its port and data directory free.
- SIGTERM (the agent stopping the service) becomes a fast shutdown: open
  sessions are ended instead of waited for.
- The server's Unix socket, which only pgBackRest uses, is in a short directory
  made before each start and removed after it (:mod:`metapaas_postgres.sockets`).

The desired state is applied by the agent's reloads and ``init``, not here: a
restarted agent runs every reload once the server passes its health check.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from metapaas import sdk
from metapaas_postgres import sockets, template
from metapaas_postgres.layout import NodeLayout
from metapaas_postgres.privileges import as_unprivileged

log = logging.getLogger(__name__)


def ensure_cluster(layout: NodeLayout, bindir: Path) -> None:
    """Make the node's cluster unless it has a complete one: a copy of the machine's
    template (see :mod:`metapaas_postgres.template`), or initdb's own when no template
    can be kept."""
    if layout.data_dir.exists():
        return
    shutil.rmtree(layout.staging_dir, ignore_errors=True)
    password = layout.superuser_password_file
    sdk.write_private(password, secrets.token_urlsafe(32) + "\n")
    try:
        source = template.template(bindir, template.templates_root())
    except OSError as exc:
        log.warning("no cluster template (%s); initialising the cluster", exc)
        template.initdb(bindir, layout.staging_dir, password)
    else:
        log.info("copying the cluster template %s", source)
        password_text = password.read_text(encoding="utf-8").strip()
        template.copy_cluster(source, layout.staging_dir, bindir, password_text)
    layout.staging_dir.rename(layout.data_dir)


def server_command(
    layout: NodeLayout, bindir: Path, data_dir: Path | None = None, settings: Sequence[str] = ()
) -> list[str]:
    """The postmaster, with its config from the node's rendered ``conf/postgresql.conf``,
    on the node's cluster or ``data_dir``, with ``settings`` (``name=value``) over it."""
    postgres = [
        str(bindir / "postgres"),
        "-D",
        str(data_dir or layout.data_dir),
        f"--config_file={layout.config_file}",
        *(item for setting in settings for item in ("-c", setting)),
    ]
    return as_unprivileged(["setpriv", "--pdeathsig", "KILL", "--", *postgres])


def run(layout: NodeLayout, bindir: Path) -> int:
    ensure_cluster(layout, bindir)
    sockets.ensure(layout)
    server = subprocess.Popen(server_command(layout, bindir), stdin=subprocess.DEVNULL)

    def fast_shutdown(signum: int, frame: FrameType | None) -> None:
        server.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, fast_shutdown)
    signal.signal(signal.SIGINT, fast_shutdown)
    try:
        return server.wait()
    finally:
        sockets.remove(layout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bindir", type=Path, required=True)
    parser.add_argument("--node-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="launcher: %(message)s", stream=sys.stderr)
    return run(NodeLayout(args.node_dir), args.bindir)


if __name__ == "__main__":
    sys.exit(main())
